"""The evaluator base class, and the dashboard panel that evaluators' sections are made of."""

import abc


class Evaluator(abc.ABC):
    """Turns a split's predictions into one `cxr.tracking.writer.Result`.

    `cxr.pipeline.evaluate.evaluate` calls, in this order:

        pairs(preds)        the (image index, label) pairs it needs Grad-CAM for
        add(index=, label=, gray=, heatmap=, cam=)   once per pair it asked for
        result(preds=, val=, eval_dir=)   its files, W&B items and text

    and `cxr.pipeline.dashboard` asks `sections(test, labels)` for the W&B view's
    sections that show what `result` logs. Only `result` is required: an evaluator that
    needs no Grad-CAM and brings no section inherits the no-ops below.
    """

    def pairs(self, preds) -> list:
        """The (image index, label) pairs to hand to `add`: none."""
        return []

    def add(self, *, index, label, gray, heatmap, cam=None) -> None:  # noqa: B027 (a no-op hook)
        """Takes one pair's image and maps; without pairs it is never called."""

    @abc.abstractmethod
    def result(self, *, preds, val, eval_dir):
        """The `Result` of `preds` (operating points chosen on `val`) in `eval_dir`."""

    def sections(self, test, labels) -> list:
        """The dashboard's sections of this evaluator: [{"name", "panels": [panel(...)]}].

        Args:
            test: the W&B key of a `result` item on the evaluated split (a function).
            labels: the label names.
        """
        return []


def panel(kind, title, keys, **options) -> dict:
    """One dashboard panel: `kind` line, bar, scalar, table, media or markdown, showing the
    W&B `keys`; options such as height=, log_y=, text= (a markdown panel's)."""
    return {"type": kind, "title": title, "keys": list(keys), **options}
