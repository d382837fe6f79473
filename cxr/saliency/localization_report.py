"""The terminal text of a localization table (`cxr.saliency.localization`'s numbers):
a row per label with boxes, one summary line, and Wang et al.'s published accuracies beside
ours when the boxes are NIH's whole official test list."""

from cxr.saliency import pointing
from cxr.saliency.localization import (
    ALL_BOXES,
    BOX_SETS,
    IOBB_THRESHOLDS,
    LABEL_MEAN,
    POINTING,
    SET_TITLES,
    WANG_SETS,
    nan_mean,
    rate_key,
)
from cxr.stats import published


def format_table(table, *, iobb=0.5, official=False):
    """A compact terminal table per label with boxes, then the summary line.

    Args:
        table: From `localization_table`.
        iobb: The T(IoBB) of the box columns (one of `IOBB_THRESHOLDS`).
        official: True only when the boxes are NIH's whole official test list;
            then Wang et al.'s published accuracies follow (`format_published`).
    """
    every = table[ALL_BOXES]
    if not every["n"]:
        return "No box: no localization measured."
    lines = [
        f"Accuracy/AFP at T(IoBB) > {iobb:g} (AFP: a label's wrong boxes per box scored, any "
        f"label; none for the label mean) of the boxes above 60 and above 180 of 255: "
        f"{SET_TITLES['wang']}, then {SET_TITLES['up']}; each level alone.",
        "Pointing: model (uniform random, centre); tolerant: within "
        f"{every['tolerance'] * pointing.NIH_IMAGE_SIDE:.0f} px of the box in a "
        f"{pointing.NIH_IMAGE_SIDE} px image. Empty (constant) Grad-CAM maps miss.",
        f"{'label':<19}{'n':>5}{'empty':>6}"
        + "".join(f"{title:>11}" for title in ("wang>60", "wang>180", "up>60", "up>180"))
        + f"{'pointing':>19}{'tolerant':>19}",
    ]
    for name, row in table.items():
        if row["n"]:
            boxes = [_acc_afp(row, s, iobb) for s in BOX_SETS]
            games = [
                f"{row[k]:.2f} ({row['random/' + k]:.2f}, {row['centre/' + k]:.2f})"
                for k in POINTING
            ]
            cells = "".join(f"{c:>11}" for c in boxes) + "".join(f"{c:>19}" for c in games)
            lines.append(f"{name:<19}{row['n']:>5}{row['empty']:>6}{cells}")
    lines.append(format_summary(table))
    return "\n".join(lines + ([format_published(table)] if official else []))


def format_summary(table):
    """One line: boxes, empty maps, accuracy and AFP at T(IoBB) > 0.5 per level, pointing."""
    every = table[ALL_BOXES]
    if not every["n"]:
        return "Localization: no boxes."
    sets = "; ".join(
        f"{SET_TITLES[kind]} >60 {_acc_afp(every, kind + '60', 0.5)}, "
        f">180 {_acc_afp(every, kind + '180', 0.5)}"
        for kind in SET_TITLES
    )
    return (
        f"{every['n']} boxes, {every['empty']} empty Grad-CAM maps. Accuracy/AFP at T(IoBB) > 0.5: "
        f"{sets}. Pointing per box {pointing.format_game(every, 'pointing')}, "
        f"per label {pointing.format_game(table[LABEL_MEAN], 'pointing')}. " + beats_centre(every)
    )


def beats_centre(row):
    """The pointing game's verdict against the centre baseline, in words.

    "More often" only when the rate is higher and the one-sided sign test's p < 0.05:
    a map must beat "findings are near the middle" to show it looks at the finding.
    """
    rate, centre, p = row["pointing"], row["centre/pointing"], row["p_centre/pointing"]
    verdict = "more often than" if rate > centre and p < 0.05 else "no more often than"
    return (
        f"Grad-CAM's peak lands in the box {verdict} the centre baseline's: "
        f"{rate:.2f} vs {centre:.2f}, p = {p:.1g}"
    )


def format_published(table):
    """Wang et al.'s T(IoBB) accuracies (`cxr.stats.published.WANG_LOCALIZATION`) beside ours.

    Per label of theirs and their mean: ours above 60 and above 180, then each
    published table. Only meaningful when the boxes are NIH's whole official test list.
    """
    sources, labels = published.WANG_LOCALIZATION, published.WANG_LOCALIZATION_LABELS
    lines = [
        "T(IoBB) accuracy: ours >60 / ours >180 / Wang et al. 2017 (arXiv:1705.02315 v5) "
        + " / ".join(sources),
        f"{'label':<19}{'n':>5}" + "".join(f"{'> ' + format(t, 'g'):>21}" for t in IOBB_THRESHOLDS),
    ]

    def cell(names, j):  # ours per level, then each published table, at the j-th T(IoBB)
        t = IOBB_THRESHOLDS[j]
        ours = [
            nan_mean([table[n][rate_key(s, "acc", "iobb", t)] for n in names]) for s in WANG_SETS
        ]
        theirs = [nan_mean([s["accuracy"][n][j] for n in names]) for s in sources.values()]
        return " ".join(f"{v:.2f}" for v in (*ours, *theirs))

    for title, names in [*((n, [n]) for n in labels), (f"mean of {len(labels)}", labels)]:
        cells = "".join(f"{cell(names, j):>21}" for j in range(len(IOBB_THRESHOLDS)))
        lines.append(f"{title:<19}{sum(table[n]['n'] for n in names):>5}{cells}")
    return "\n".join(lines)


def _acc_afp(row, name, iobb):
    """ "acc/afp" of a set at a T(IoBB); "-" for a missing AFP (the label mean has none)."""
    afp = row.get(rate_key(name, "afp", "iobb", iobb))
    return f"{row[rate_key(name, 'acc', 'iobb', iobb)]:.2f}/" + (
        "-" if afp is None else f"{afp:.2f}"
    )
