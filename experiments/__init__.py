"""Named experiments, installed as `cxr.configs`: `cxr experiment NAME` (or
`make experiment NAME=NAME`) runs `experiments/NAME.py`.

Each module defines `get_config(variant=None)` returning a locked ConfigDict,
built as a short difference from `common.get_config()`. `variant="smoke"` is the
tiny version the tests run end to end.

They sit below every layer of cxr (cxr/__init__.py): they import only `cxr.configs` and
ml_collections, so reading a config starts no framework.
"""
