"""Benchmarks: where time goes, stage by stage against its limits (`rows`, `cxr bench`), and
time and memory against dataset size (`scale`, `cxr bench-scale`, with `scale_data`,
`scale_report` and `scale_stages`, the child process each stage runs in).

May import: this package and cxr.errors to cxr.pipeline.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
