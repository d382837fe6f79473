"""auroc.png: a CI resting on few positive patients and an undefined label are marked."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from cxr.evaluation import classification, classification_report

NAMES = ("Atelectasis", "Hernia", "Mass")


def report_with_one_rare_and_one_absent_label():
    """40 patients of 2 images: Atelectasis common, Hernia on one patient's images, Mass never."""
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(40), 2)
    labels = np.zeros((80, 3), np.float32)
    labels[:, 0] = (rng.random(40) < 0.4)[patients]
    labels[patients == 7, 1] = 1
    probs = np.clip(0.3 * labels + rng.random((80, 3)) * 0.7, 0, 1)
    return classification.report(
        test_probs=probs,
        test_labels=labels,
        test_patients=patients,
        val_probs=probs,
        val_labels=labels,
        label_names=NAMES,
        num_bootstrap=50,
    )


def test_rows_say_which_ci_is_fragile_and_which_label_is_undefined():
    report = report_with_one_rare_and_one_absent_label()
    assert report["per_label"]["Hernia"]["n_pos_patients"] == 1  # the data are as meant
    rows = classification_report.auroc_rows(report)
    assert [row["label"] for row in rows] == list(NAMES)
    assert [row["kind"] for row in rows] == ["ci", "fragile", "undefined"]
    assert rows[0]["note"] is None
    # One patient: about 1 / e of the resamples lack him, so fewer than 95% are valid.
    valid = report["per_label"]["Hernia"]["n_valid_resamples"]
    assert valid < 0.95 * 50
    assert rows[1]["note"] == f"CI on 1 positive patient, {valid} valid resamples"
    assert rows[2]["note"] == "undefined: no positive in test"


def test_auroc_plot_marks_the_fragile_ci_and_writes_the_undefined_label_out():
    report = report_with_one_rare_and_one_absent_label()
    fig = classification_report._plot_aurocs(report)
    FigureCanvasAgg(fig).draw()
    ax, notes = fig.axes
    # Each kind its own errorbar: black points, then the fragile one hollow and orange.
    plain, fragile = ax.containers
    assert plain.lines[0].get_ydata().tolist() == [0]
    assert plain.lines[0].get_color() == "black"
    assert fragile.lines[0].get_ydata().tolist() == [1]
    assert fragile.lines[0].get_markerfacecolor() == "white"
    assert fragile.lines[0].get_color() == classification_report.FRAGILE_COLOR
    ((_, dashes),) = fragile.lines[2][0].get_linestyle()  # the CI's line: dashed
    assert dashes and not plain.lines[2][0].get_linestyle()[0][1]  # the others: solid
    # Mass has no point; the right column says why, level with its row.
    assert 2 not in [y for c in ax.containers for y in c.lines[0].get_ydata()]
    texts = [t.get_text() for t in notes.get_yticklabels()]
    assert texts[0] == "" and texts[1].startswith("CI on 1 positive patient")
    assert texts[2] == "undefined: no positive in test"
    assert notes.get_ylim() == ax.get_ylim()  # rows line up with the notes
    colours = [t.get_color() for t in ax.get_yticklabels()]
    assert colours[1:] == [
        classification_report.FRAGILE_COLOR,
        classification_report.UNDEFINED_COLOR,
    ]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[1].startswith(f"CI on < {classification_report.FEW_POSITIVE_PATIENTS} positive")
