"""What a dataset build logs through absl (TFDS's logger), captured for a test to read."""

import contextlib
import logging


@contextlib.contextmanager
def captured(level=logging.INFO):
    """`with captured() as lines:` appends each absl record's message at `level` or above.

    The level is set with `setLevel`, never by assigning `logger.level`: only `setLevel`
    clears the logging module's cache of `isEnabledFor`, so after an earlier test ran at
    WARNING an assigned INFO level would still drop INFO lines (the build's "wrote" lines).
    """
    logger, lines = logging.getLogger("absl"), []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
