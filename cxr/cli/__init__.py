"""The `cxr` command (`main`; also `python -m cxr` and the `cxr-predict` alias): one table of
subcommands, each the `main(argv)` of a module imported only when it runs (`experiment`:
`cxr experiment`'s, which checks its command line before the frameworks start).

May import: any layer; it is the top one, and nothing imports it.
(Layers in the order cxr/__init__.py declares; tests/test_layout.py checks imports.)
"""
