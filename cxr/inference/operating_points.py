"""Operating points for `cxr predict --operating-point`: per label, positive or negative.

    points = operating_points.choose(spec, val_probs, val_labels, label_names)
    points[k].decide(probability)      # "positive", "negative" or "unsupported"

Every threshold is chosen on the run's validation predictions, which its evaluation
saves beside the validation split's other evaluations (`validation_predictions`),
and an image is positive when its probability is at least the threshold:

    f1                 the threshold of maximal F1, as the run's report chose it
    youden             the threshold of maximal Youden's J (sensitivity + specificity - 1)
    sensitivity=X      the highest threshold whose validation sensitivity is at least X:
                       the most specific rule that finds that share of the positives
    specificity=X      the lowest threshold whose validation specificity is at least X:
                       the most sensitive rule that clears that share of the negatives

A label whose validation split has no positive (or no negative) cannot support any of
them: its point says why, and its decisions are "unsupported", never a guess. Each point
keeps the validation positives and negatives it rests on; one resting on fewer than
`MIN_POSITIVES` positives is warned about (`few_positives_warning`), and `to_json`
gives the points as `cxr predict` stores them in thresholds.json.

On calibrated probabilities (`cxr predict --calibrated --operating-point ...`), `calibrated`
maps each threshold t through the label's temperature scaling, sigmoid(logit(t) / T), the
same monotone function that calibrates the probabilities: a calibrated probability is at
least the mapped threshold exactly when the raw probability is at least t, so the
decisions and the validation rates are those of the raw point (docs/protocols.md).
"""

import dataclasses
import json
import math
from fractions import Fraction

import numpy as np

from cxr.errors import UserError
from cxr.evaluation import classification, thresholds
from cxr.stats import temperature as scaling
from cxr.tracking.rundir import RunDir

KINDS = ("f1", "youden", "sensitivity", "specificity")
HELP = "f1, youden, sensitivity=X or specificity=X with X in (0, 1], e.g. sensitivity=0.9"
UNSUPPORTED = "unsupported"
# The fewest validation positives a threshold may rest on without a warning (its one
# owner, with the reason, is cxr.evaluation.thresholds).
MIN_POSITIVES = thresholds.MIN_POSITIVES


@dataclasses.dataclass(frozen=True)
class Spec:
    """An operating point as asked for: its kind and, for a rate, the rate's target."""

    kind: str
    target: Fraction | None = None

    @property
    def name(self) -> str:
        return self.kind if self.target is None else f"{self.kind}={float(self.target):g}"


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """One label's rule: positive when the probability is at least `threshold`.

    Attributes:
        label: the label's name.
        name: the operating point, e.g. "youden" or "sensitivity=0.9".
        threshold: NaN when validation cannot support the point.
        sensitivity, specificity: of the rule on the validation predictions (NaN likewise).
        positives, negatives: the validation images with and without the label.
        reason: why validation cannot support it, e.g. "no positive in validation"; else None.
        temperature: None, or the label's temperature: `threshold` is then on the
            temperature-scaled probability (`calibrated`).
    """

    label: str
    name: str
    threshold: float
    sensitivity: float
    specificity: float
    positives: int
    negatives: int
    reason: str | None = None
    temperature: float | None = None

    def decide(self, probability) -> str:
        """ "positive", "negative", or `UNSUPPORTED` when validation cannot support the point."""
        if self.reason is not None:
            return UNSUPPORTED
        return "positive" if probability >= self.threshold else "negative"

    @property
    def few_positives(self) -> bool:
        """Whether a threshold rests on fewer than `MIN_POSITIVES` validation positives."""
        return self.reason is None and self.positives < MIN_POSITIVES

    def counts(self) -> str:
        """The validation images behind the point, e.g. "13 positives, 1187 negatives"."""
        return f"{_count(self.positives, 'positive')}, {_count(self.negatives, 'negative')}"

    def describe(self) -> str:
        """The point in words: threshold, validation rates and counts, or why there is none."""
        if self.reason is not None:
            return f"{self.name} unsupported: {self.reason} ({self.counts()})"
        scale = "" if self.temperature is None else f" (calibrated, T {self.temperature:.3f})"
        return (
            f"{self.name} threshold {self.threshold:.4f}{scale}; validation sensitivity "
            f"{self.sensitivity:.3f}, specificity {self.specificity:.3f} ({self.counts()})"
        )

    def to_json(self) -> dict:
        """The point as thresholds.json stores it; NaN (unsupported) as null."""
        rule = (
            f"{UNSUPPORTED}: {self.reason}"
            if self.reason is not None
            else f"positive when the {self._scale()}probability is at least {self.threshold!r}"
        )
        calibrated = {} if self.temperature is None else {"temperature": self.temperature}
        return {
            "operating_point": self.name,
            "rule": rule,
            "threshold": _finite(self.threshold),
            "sensitivity": _finite(self.sensitivity),
            "specificity": _finite(self.specificity),
            "positives": self.positives,
            "negatives": self.negatives,
            "few_positives": self.few_positives,
            "unsupported": self.reason,
            **calibrated,
        }

    def _scale(self) -> str:
        return "" if self.temperature is None else "temperature-scaled "


def parse(text: str) -> Spec:
    """The `Spec` of `--operating-point` text.

    Raises:
        UserError: naming the text and the accepted forms.
    """
    kind, _, value = text.strip().lower().partition("=")
    if kind in ("f1", "youden") and not value:
        return Spec(kind)
    if kind in ("sensitivity", "specificity"):
        try:
            target = Fraction(value)  # exact: 0.56 of 25 positives is 14, not 14.000000000000002
        except (ValueError, ZeroDivisionError):
            target = None
        if target is not None and 0 < target <= 1:
            return Spec(kind, target)
    raise UserError(f"--operating-point {text!r}: use {HELP}")


def choose(spec: Spec, val_probs, val_labels, label_names) -> list[OperatingPoint]:
    """Each label's `OperatingPoint` of `spec`, chosen on validation predictions.

    Args:
        spec: from `parse`.
        val_probs: validation probabilities (M, L).
        val_labels: validation multi-hot truth (M, L).
        label_names: the L labels, in column order.
    """
    # Probabilities are float32 (`cxr.inference.scoring`): thresholds are float32 values too.
    val_probs = np.asarray(val_probs, np.float32).astype(np.float64)
    val_labels = np.asarray(val_labels) > 0.5
    if spec.kind in ("f1", "youden"):  # the run's report's rule, owned by classification
        thresholds = classification.operating_thresholds(val_probs, val_labels, spec.kind)
    points = []
    for i, label in enumerate(label_names):
        y, p = val_labels[:, i], val_probs[:, i]
        counts = {"positives": int(y.sum()), "negatives": int((~y).sum())}
        reason = _unsupported(y)
        if reason is not None:
            nan = math.nan
            points.append(OperatingPoint(label, spec.name, nan, nan, nan, **counts, reason=reason))
            continue
        if spec.kind in ("f1", "youden"):
            threshold = float(thresholds[i])
        else:
            threshold = threshold_for_rate(spec, y, p)
        predicted = p >= threshold
        points.append(
            OperatingPoint(
                label,
                spec.name,
                threshold,
                sensitivity=float(predicted[y].mean()),
                specificity=float((~predicted[~y]).mean()),
                **counts,
            )
        )
    return points


def calibrated(points, temperatures) -> list[OperatingPoint]:
    """The points on temperature-scaled probabilities: each threshold t becomes
    sigmoid(logit(t) / T) (`cxr.stats.temperature.scale`, the function that scales the
    probabilities), so every decision, and so each validation rate, stays the same.

    Args:
        points: `choose`'s list.
        temperatures: (L,) per label, in the points' order; NaN where a label has none
            (its point and its probabilities stay unscaled).
    """
    out = []
    for point, t in zip(points, np.asarray(temperatures, np.float64), strict=True):
        if point.reason is not None or not math.isfinite(t):
            out.append(point)
            continue
        mapped = float(scaling.scale(np.array([[point.threshold]]), [t])[0, 0])
        out.append(dataclasses.replace(point, threshold=mapped, temperature=float(t)))
    return out


def threshold_for_rate(spec: Spec, y, p) -> float:
    """The threshold meeting a sensitivity or specificity target on (y, p), as `spec` asks.

    Args:
        spec: a "sensitivity" or "specificity" `Spec`.
        y: (M,) booleans, with positives and negatives.
        p: (M,) probabilities.
    """
    if spec.kind == "sensitivity":
        # The k-th highest positive is the highest threshold keeping k positives above it.
        positives = np.sort(p[y])[::-1]
        return float(positives[math.ceil(spec.target * len(positives)) - 1])
    # Just above the m-th lowest negative: the lowest threshold with m negatives below it.
    negatives = np.sort(p[~y])
    highest_cleared = np.float32(negatives[math.ceil(spec.target * len(negatives)) - 1])
    return float(np.nextafter(highest_cleared, np.float32(np.inf)))  # probabilities are float32


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _finite(value: float) -> float | None:
    """`value`, or None for NaN: JSON has no NaN."""
    return None if math.isnan(value) else value


def _unsupported(y) -> str | None:
    """Why labels `y` cannot support an operating point, or None."""
    if not y.any():
        return "no positive in validation"
    if y.all():
        return "no negative in validation"
    return None


def validation_predictions(run: RunDir) -> dict:
    """The run's validation predictions, saved by its evaluation (`cxr.pipeline.evaluate`).

    Returns:
        `EvalDir.read_predictions` of the run's validation split on its own dataset.

    Raises:
        UserError: when the run has none, saying how to make them.
    """
    data = run.config()["data"]
    folder = run.evaluation(data["name"], data["val_split"])
    if not folder.file(folder.PREDICTIONS).is_file():
        raise UserError(
            f"{run}: no validation predictions ({folder.file(folder.PREDICTIONS)}) to choose "
            f"operating points on; make them with: cxr evaluate --run {run} "
            f"--split '{data['val_split']}'"
        )
    return folder.read_predictions()


def few_positives(counts, minimum=MIN_POSITIVES) -> list[str]:
    """The names of `counts` (name -> validation positives) with fewer than `minimum`."""
    return [name for name, n in counts.items() if n < minimum]


def few_positives_warning(counts, what="thresholds", minimum=MIN_POSITIVES) -> str | None:
    """One warning line naming each of `counts` (name -> positives) below `minimum`, or None.

    Args:
        counts: name -> the validation positives its `what` rests on.
        what: the things warned about, plural, e.g. "thresholds".
    """
    few = few_positives(counts, minimum)
    if not few:
        return None
    named = ", ".join(f"{name} ({counts[name]})" for name in few)
    return (
        f"warning: {len(few)} {what} rest on fewer than {minimum} validation positives, "
        f"so their validation rates are rough: {named}"
    )


def thresholds_json(points, *, chosen_on: dict, calibrated_with=None) -> str:
    """thresholds.json's text: the points of every label, and what they were chosen on.

    Args:
        points: `choose`'s list, one per label (or `calibrated`'s).
        chosen_on: {"dataset": ..., "split": ...} of the validation predictions.
        calibrated_with: the temperatures.json the thresholds were mapped with, or None.
    """
    scaled = "temperature-scaled " if calibrated_with else ""
    document = {
        "operating_point": points[0].name if points else None,
        "chosen_on": chosen_on,
        "calibrated_with": None if calibrated_with is None else str(calibrated_with),
        "decision": f"positive when the {scaled}probability is at least the threshold",
        "min_positives": MIN_POSITIVES,
        "labels": {p.label: p.to_json() for p in points},
    }
    return json.dumps(document, indent=2) + "\n"
