"""Progress in a log: training, the feature cache and evaluation print plain short lines
when stdout is not a terminal (issue 23 item 10), and a live bar only at a terminal.

Before the fix, Keras's bar (which takes any POSIX process for a terminal) wrote
backspaces, carriage returns and ANSI colours, one 12,000+ character line per epoch.
"""

import io
import types

import keras
import numpy as np
import pytest

from cxr.runtime import progress
from cxr.tracking.rundir import RunDir
from cxr.train import callbacks, feature_cache, loop
from cxr.train.phases import VAL_LOSS_MIN, Phase

LABELS = ("A", "B", "C")
LONGEST_LINE = 500


def assert_plain(text):
    """Every line short, with no escape sequence, carriage return or backspace."""
    assert text.strip(), "nothing was printed"
    assert "\x1b[" not in text and "\r" not in text and "\b" not in text
    assert max(len(line) for line in text.splitlines()) <= LONGEST_LINE


def test_training_prints_one_plain_line_per_epoch(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # the old code's only switch to plain lines
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)).astype("float32"), (rng.random((40, 3)) < 0.4) * 1.0
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(inputs))
    phase = Phase("p", epochs=3, learning_rate=0.1, lr_patience=5, stop_patience=5)
    loop.fit_phase(
        model,
        # 24 steps an epoch: a live bar would redraw itself many times per line
        feature_cache.ShuffledArrays(x[:24], np.float32(y[:24]), 1, seed=1),
        x[24:],
        np.float32(y[24:]),
        run=RunDir(tmp_path / "run").create({}),
        phase=phase,
        label_names=LABELS,
        val_batch_size=16,
    )
    out = capsys.readouterr().out
    assert_plain(out)
    # Keras's verbose=2: "Epoch k/3", then one line of the epoch's metrics.
    assert [line for line in out.splitlines() if line.startswith("Epoch ")] == [
        f"Epoch {k}/3" for k in (1, 2, 3)
    ]
    assert sum(line.startswith("24/24 - ") for line in out.splitlines()) == 3


def test_the_feature_cache_prints_one_plain_line(capsys):
    inputs = keras.Input((4,))
    extractor = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    batches = [(np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32))] * 30
    features, _ = feature_cache.split_features(extractor, batches, 30, None)
    assert features.shape == (90, 2)
    out = capsys.readouterr().out
    assert_plain(out)
    assert len(out.strip().splitlines()) == 1 and out.startswith("30/30 - ")


def plateau_output(monkeypatch, stdout):
    """What `Plateau` prints over 3 epochs without improvement (lr patience 1, stop 2)."""
    monkeypatch.setattr("sys.stdout", stdout)
    model = types.SimpleNamespace(
        optimizer=types.SimpleNamespace(learning_rate=keras.Variable(1.0)), stop_training=False
    )
    plateau = callbacks.Plateau(lr_patience=1, stop_patience=2, monitor=VAL_LOSS_MIN)
    plateau.set_model(model)
    for epoch, loss in enumerate([1.0, 1.0, 1.0]):
        plateau.on_epoch_end(epoch, {VAL_LOSS_MIN.key: loss, "learning_rate": 1.0})
    return stdout.getvalue()


def test_plateau_lines_break_off_a_live_bar_only(monkeypatch):
    log, terminal = (
        plateau_output(monkeypatch, io.StringIO()),
        plateau_output(monkeypatch, Terminal()),
    )
    lines = [
        "Epoch 2: no better val/loss; learning rate -> 1.00e-01",
        "Epoch 3: no better val/loss; learning rate -> 1.00e-02",
        "Epoch 3: no better val/loss for 2 epochs; stopping",
    ]
    assert log == "".join(f"{line}\n" for line in lines)  # no blank lines in a log
    assert terminal == "".join(f"\n{line}\n" for line in lines)  # ends the bar's line


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(
    "stream, live", [(Terminal(), True), (io.StringIO(), False), (object(), False)]
)
def test_live_bars_only_at_a_terminal(monkeypatch, stream, live):
    monkeypatch.setattr("sys.stdout", stream)
    assert progress.live() is live
    assert progress.fit_verbose() == (1 if live else 2)
    assert progress.bar(10, unit_name="image").verbose == (1 if live else 2)


def test_a_closed_stream_is_not_a_terminal():
    stream = io.StringIO()
    stream.close()
    assert progress.live(stream) is False
