"""Progress display: live bars at a terminal, one plain line per pass in logs.

    model.fit(..., verbose=progress.fit_verbose())
    bar = progress.bar(num_batches, unit_name="batch"); bar.add(1)
    tqdm(..., disable=not progress.live(sys.stderr))

Keras's live bar redraws itself with backspaces, carriage returns and ANSI colours,
and believes it is at a terminal whenever Python runs on POSIX. In a log file (stdout
redirected, nohup, a cluster job, CI) each redraw lands on one line: 12,000+
characters of control codes per epoch. So every cxr progress display asks `live`
once: a live bar only when its stream is a terminal, else Keras's verbose=2, which
prints one plain line when the pass ends ("12/12 - 3s - 250ms/batch - loss: ...").
"""

import sys


def live(stream=None) -> bool:
    """Whether `stream` (default: the current sys.stdout) is a terminal that can redraw."""
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def fit_verbose() -> int:
    """`verbose` for `keras.Model.fit`: 1 (live bar) at a terminal, 2 (a line per epoch) else."""
    return 1 if live() else 2


def bar(target, unit_name="step"):
    """A `keras.utils.Progbar` of `target` steps: live at a terminal, one line at the end else.

    Keras prints to sys.stdout, so that is the stream asked.
    """
    import keras  # here, not at import: this module is below the frameworks

    return keras.utils.Progbar(target, unit_name=unit_name, verbose=fit_verbose())
