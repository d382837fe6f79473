"""The machine a run uses: its identity (`machine`), devices and data parallelism
(`distribution`), mixed precision and XLA chosen by measurement (`speed`), the pinned uses
of Keras's private code (`keras_compat`) and the backends' quiet start with
`CXR_VIRTUAL_CPUS` (`startup`, called only by the `cxr` command).

May import: this package, cxr.errors and cxr.stats.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
