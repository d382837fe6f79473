"""Named experiments: `make experiment NAME=<module>` runs `experiments/<module>.py`.

Each module defines `get_config(variant=None)` returning a locked ConfigDict,
built as a short difference from `common.get_config()`. `variant="smoke"` is the
tiny version the tests run end to end.
"""
