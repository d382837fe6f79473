"""A model's labels and a dataset's labels, matched by name (external validation).

    match = label_match.match(model_labels, data_labels)
    probs[:, match.model_columns]      # the model's scores of the shared findings
    labels[:, match.data_columns]      # the dataset's labels of the same findings

A finding the dataset labels but the model does not predict is listed
(`not_predicted`), never guessed from another output; a finding the model predicts but
the dataset does not label is listed too (`not_labelled`). Names are the shared label
space's (NIH's 14 where the finding is the same, each dataset's own otherwise: docs/data.md).
"""

import dataclasses

from cxr.errors import UserError


@dataclasses.dataclass(frozen=True)
class Match:
    """The findings both name, in the model's order, and the columns of each in both."""

    shared: tuple
    model_columns: tuple
    data_columns: tuple
    not_predicted: tuple  # the dataset's findings the model has no output for
    not_labelled: tuple  # the model's outputs the dataset has no label for

    @property
    def identical(self) -> bool:
        """The same names in the same order: nothing to select."""
        return (
            not self.not_predicted
            and not self.not_labelled
            and self.data_columns == tuple(range(len(self.shared)))
        )

    def summary(self) -> dict:
        """What the evaluation scored and what it left out, for its files and its text."""
        return {
            "scored": list(self.shared),
            "not_predicted_by_the_model": list(self.not_predicted),
            "not_labelled_by_the_dataset": list(self.not_labelled),
        }

    def text(self, dataset: str) -> str:
        """One line per list that is not empty."""
        lines = [f"Scoring the {len(self.shared)} findings the model and {dataset} share"]
        if self.not_predicted:
            lines.append(f"  not predicted by the model: {', '.join(self.not_predicted)}")
        if self.not_labelled:
            lines.append(f"  not labelled in {dataset}: {', '.join(self.not_labelled)}")
        return "\n".join(lines)


def match(model_labels, data_labels, *, dataset: str = "the dataset") -> Match:
    """Matches two label lists by name.

    Raises:
        UserError: when they share no finding (nothing could be scored).
    """
    model_labels, data_labels = tuple(model_labels), tuple(data_labels)
    where = {name: k for k, name in enumerate(data_labels)}
    shared = tuple(name for name in model_labels if name in where)
    if not shared:
        raise UserError(
            f"the model predicts {', '.join(model_labels)}; {dataset} labels "
            f"{', '.join(data_labels)}: no finding in common to score (docs/data.md)"
        )
    return Match(
        shared=shared,
        model_columns=tuple(model_labels.index(name) for name in shared),
        data_columns=tuple(where[name] for name in shared),
        not_predicted=tuple(name for name in data_labels if name not in model_labels),
        not_labelled=tuple(name for name in model_labels if name not in where),
    )
