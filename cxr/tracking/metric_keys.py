"""Names of the metrics a training run logs: one owner for logs, metrics.jsonl, W&B and state."""

# The validation macro AUROC.
MONITOR = "val/macro_auroc"
# The validation loss: the training loss (weighted or not) over the whole validation split.
VAL_LOSS = "val/loss"


def val_auroc_key(label: str) -> str:
    """The key of one label's validation AUROC."""
    return f"val/auroc/{label}"
