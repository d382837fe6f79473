"""Names of the metrics a training run logs: one owner for logs, metrics.jsonl, W&B and state."""

# The validation macro AUROC.
MONITOR = "val/macro_auroc"


def val_auroc_key(label: str) -> str:
    """The key of one label's validation AUROC."""
    return f"val/auroc/{label}"
