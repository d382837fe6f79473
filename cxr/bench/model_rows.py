"""Rows 1 and 4 of `make bench` from the model rates of `cxr.bench.measure`: the forward
rate per batch size, with XLA and mixed precision (row 1), and training against the
forward rate, with XLA and mixed precision (row 4)."""

from cxr.bench import backbone_rows, measure
from cxr.bench.measure import row
from cxr.model import backbones

TRAIN_BATCH = 16


def model_rows(limit, batch, mixed, backbone=backbones.DEFAULT, repeats=measure.REPEATS):
    """Row 1 from the forward rates `limit` ({batch: rate}): small batches, XLA, `mixed`."""
    on = {"backbone": backbone, "repeats": repeats}
    return [
        *(row(f"1. forward, batch {b} vs batch {batch}", limit[b], limit[batch]) for b in (1, 8)),
        row(
            "1. forward with XLA vs without",
            measure.forward_rate(batch, jit=True, **on),
            limit[batch],
        ),
        row(
            f"1. forward {mixed} vs float32",
            measure.forward_rate(batch, policy=mixed, **on),
            limit[batch],
        ),
    ]


def training_rows(forward, mixed, backbone, repeats):
    """Row 4: training images/s against row 1's forward rate (goal 0.30), then XLA and `mixed`."""
    b = TRAIN_BATCH
    on = {"backbone": backbone, "repeats": repeats}
    plain = measure.train_rate(b, **on)
    return [
        row(
            f"4. training (batch {b}) vs forward (a step costs ~3 forward passes: ~0.33)",
            plain,
            forward,
            goal=backbone_rows.TRAIN_GOAL,
        ),
        row("4. training with XLA vs without", measure.train_rate(b, jit=True, **on), plain),
        row(f"4. training {mixed} vs float32", measure.train_rate(b, policy=mixed, **on), plain),
    ]
