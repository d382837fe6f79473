"""The machine a run uses: devices and data parallelism (`distribution`), the machine's
identity (`machine`), mixed precision and XLA chosen by measurement (`speed`) and the
backends' quiet start with `CXR_VIRTUAL_CPUS` (`startup`, called only by the `cxr` command).

May import: this package, cxr.errors and cxr.stats.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
