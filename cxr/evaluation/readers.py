"""`cxr readers`: a model against individual radiologists, finding by finding.

    cxr readers EVAL --out DIR [--labels expert_all] [--nih-dir DIR] [--num-bootstrap 1000]

EVAL is an evaluation folder holding predictions.npz (a run's, or `cxr score`'s). The truth is
Google's adjudicated label (`cxr_tfds.cxr14_subset.expert_labels`, from --nih-dir); the readers
are those outside the panel that made it (all findings: 2 of 5; in the four-findings set every
reader sat on the panel of the images they read, so none is independent and nothing is
compared). For each finding and reader, on the images both the model and the reader saw:

- the reader's operating point: sensitivity and specificity, with 95% patient-bootstrap CIs;
- the model's sensitivity at the reader's specificity (its best threshold whose specificity
  is at least the reader's) and its specificity at the reader's sensitivity;
- a paired test: the same patient-bootstrap resamples for model and reader give a CI and a
  p-value for each difference (model minus reader). The model's thresholds are matched on
  these same images, which flatters the model a little; the text says so.

An operating point without a positive or a negative is undefined and said so. HEDGE counts as
no call. Writes DIR/readers.json, DIR/readers.csv and DIR/readers_<Finding>.png, whole or
not at all (DIR must be new or empty), and logs the table and plots to W&B under
`test/<label set>/` (offline unless logged in; WANDB_MODE=disabled turns it off), the W&B files
in DIR/wandb/. `cxr evaluate --labels expert_all` writes the same beside its scores.
"""

from __future__ import annotations  # `-> Figure` without importing matplotlib

import argparse
import csv
import io
import math
import os
import pathlib
import typing

import numpy as np

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import score
from cxr.stats import bootstrap
from cxr.stats.auroc import undefined_reason
from cxr.tracking import writer
from cxr.tracking.rundir import EvalDir
from cxr_tfds.cxr14_subset import expert_labels, sources

if typing.TYPE_CHECKING:
    from matplotlib.figure import Figure

JSON_FILE = "readers.json"
CSV_FILE = "readers.csv"
_RATES = ("reader_sensitivity", "reader_specificity", "model_sensitivity", "model_specificity")


# W&B keys, below the label set's prefix (`score.wandb_prefix`).
TABLE = "readers"


def plot_file(finding: str) -> str:
    return f"readers_{finding}.png"


def plot_key(finding: str) -> str:
    return f"readers/{finding}"


def operating_point(*, probs, truth, patients, calls, num_bootstrap=1000, seed=0) -> dict:
    """One reader against the model on one finding, on the images the reader read.

    Args:
        probs: model scores (N,).
        truth: adjudicated 0/1 labels (N,).
        patients: patient id per image (N,), the bootstrap's unit.
        calls: the reader's 0/1 calls (N,).
        num_bootstrap: patient bootstrap resamples.
        seed: their seed.

    Returns:
        {"n", "n_pos", "reason" (why undefined, else None), "auroc", "reader_sensitivity",
        "reader_specificity", "model_sensitivity" (at the reader's specificity), its
        "model_specificity_achieved", "model_specificity" (at the reader's sensitivity), its
        "model_sensitivity_achieved", each rate's "<rate>_ci" [low, high], and for
        "sensitivity" and "specificity": "<which>_diff" (model minus reader), "_diff_ci",
        "_p" (paired bootstrap)}; NaN where undefined.
    """
    probs, y, calls = np.asarray(probs, float), np.asarray(truth) > 0.5, np.asarray(calls) > 0.5
    n_pos = int(y.sum())
    reason = undefined_reason(y, "among the images this reader read")
    out = {"n": len(y), "n_pos": n_pos, "reason": reason}
    if out["reason"]:
        return out | {k: math.nan for k in ("auroc", *_RATES)}
    import sklearn.metrics  # here: seconds that `cxr readers --help` need not pay

    out["auroc"] = float(sklearn.metrics.roc_auc_score(y, probs))
    reader_sens, reader_spec = np.mean(calls[y]), np.mean(~calls[~y])
    fpr, tpr, thresholds = sklearn.metrics.roc_curve(y, probs, drop_intermediate=False)
    at_spec, at_sens = _matched_points(fpr, tpr, reader_sens, reader_spec)
    model_sens = probs >= thresholds[at_spec]
    model_spec = probs < thresholds[at_sens]
    out.update(
        reader_sensitivity=float(reader_sens),
        reader_specificity=float(reader_spec),
        model_sensitivity=float(tpr[at_spec]),
        model_specificity_achieved=float(1 - fpr[at_spec]),
        model_specificity=float(1 - fpr[at_sens]),
        model_sensitivity_achieved=float(tpr[at_sens]),
    )
    hits = np.stack([calls & y, ~calls & ~y, model_sens & y, model_spec & ~y, y, ~y], axis=1)
    sums = _resampled_sums(hits, patients, num_bootstrap, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {
            "reader_sensitivity": sums[:, 0] / sums[:, 4],
            "reader_specificity": sums[:, 1] / sums[:, 5],
            "model_sensitivity": sums[:, 2] / sums[:, 4],
            "model_specificity": sums[:, 3] / sums[:, 5],
        }
    for key, values in rates.items():
        out[f"{key}_ci"] = _ci(values)
    for which in ("sensitivity", "specificity"):
        diffs = rates[f"model_{which}"] - rates[f"reader_{which}"]
        out[f"{which}_diff"] = out[f"model_{which}"] - out[f"reader_{which}"]
        out[f"{which}_diff_ci"] = _ci(diffs)
        out[f"{which}_p"] = bootstrap.bootstrap_p_value(diffs)
    return out


def _matched_points(fpr, tpr, reader_sens, reader_spec) -> tuple[int, int]:
    """Indices into the ROC curve (thresholds falling) of the model's points at the reader's
    specificity and at the reader's sensitivity.

    At the reader's specificity: the most sensitive point, and of the points with that
    sensitivity the most specific, the first (highest threshold) with that tpr. Taking the
    last such point reported the lowest specificity reachable (the 2026-12-06 audit).
    Likewise at the reader's sensitivity: the most specific point, then the most
    sensitive of those, the last (lowest threshold) with that fpr.
    """
    best_tpr = tpr[np.flatnonzero(1 - fpr >= reader_spec - 1e-12)[-1]]
    best_fpr = fpr[np.flatnonzero(tpr >= reader_sens - 1e-12)[0]]
    return int(np.flatnonzero(tpr >= best_tpr)[0]), int(np.flatnonzero(fpr <= best_fpr)[-1])


def _resampled_sums(columns, patients, num_bootstrap, seed) -> np.ndarray:
    """Per resample, the sum of each 0/1 column over the resampled patients' images."""
    groups, num_patients = bootstrap.patient_index(patients)
    per_patient = np.stack(
        [np.bincount(groups, weights=c, minlength=num_patients) for c in columns.T], axis=1
    )
    sums = np.empty((num_bootstrap, columns.shape[1]))
    for start, counts in bootstrap.resample_chunks(num_patients, num_bootstrap, seed):
        sums[start : start + len(counts)] = counts @ per_patient
    return sums


def _ci(values) -> list:
    ci = bootstrap.percentile_ci(values)
    return [ci["ci_low"], ci["ci_high"]]


def compare_with_readers(
    *, predictions: dict, experts, readers, num_bootstrap=1000, seed=0
) -> dict:
    """Every finding the model predicts and the set labels, against every given reader.

    Args:
        predictions: `EvalDir.read_predictions()`: image_id, patient_id, probs, label_names.
        experts: `expert_labels.ExpertLabels` (truth and calls per image).
        readers: the reader ids to compare with (those outside the truth's panel).
        num_bootstrap: patient bootstrap resamples.
        seed: their seed.

    Returns:
        {"label_set", "readers", "n_images" (model's images with the set's truth),
        "bootstrap", "findings": finding -> reader id -> `operating_point`'s dict,
        "curves": finding -> auroc, fpr, tpr of the model on all those images}.
    """
    import sklearn.metrics  # here: seconds that `cxr readers --help` need not pay

    spec = experts.spec
    ids = [str(i) for i in predictions["image_id"]]
    rows = [k for k, i in enumerate(ids) if i in experts.truth]
    findings, curves = {}, {}
    for finding, nih_label in spec.nih_labels.items():
        if nih_label not in predictions["label_names"]:
            continue
        column, f = predictions["label_names"].index(nih_label), spec.findings.index(finding)
        probs, patients = predictions["probs"][:, column], predictions["patient_id"]
        truth = np.array([experts.truth[ids[k]].findings[f] for k in rows])
        if 0 < truth.sum() < len(truth):
            fpr, tpr, _ = sklearn.metrics.roc_curve(truth, probs[rows])
            curves[nih_label] = {
                "auroc": float(sklearn.metrics.roc_auc_score(truth, probs[rows])),
                "fpr": fpr.round(4).tolist(),
                "tpr": tpr.round(4).tolist(),
            }
        findings[nih_label] = {}
        for reader in readers:
            calls = {ids[k]: c.findings[f] for k in rows for c in experts.readers.get(ids[k], []) if c.reader_id == reader}  # fmt: skip
            mine = [k for k in rows if ids[k] in calls]
            findings[nih_label][reader] = operating_point(
                probs=probs[mine],
                truth=np.array([experts.truth[ids[k]].findings[f] for k in mine]),
                patients=patients[mine],
                calls=np.array([calls[ids[k]] == 1 for k in mine]),
                num_bootstrap=num_bootstrap,
                seed=seed,
            )
    return {
        "label_set": spec.name,
        "readers": list(readers),
        "n_images": len(rows),
        "bootstrap": {"unit": "patient", "num_resamples": num_bootstrap, "seed": seed},
        "thresholds": "matched to each reader on the same images (flatters the model a little)",
        "findings": findings,
        "curves": curves,
    }


def independent_readers(experts) -> list[str]:
    """Readers outside the panel that made the truth; none for the four-findings set."""
    if experts.spec.name != expert_labels.ALL_FINDINGS:
        return []  # each reader sat on the panel of every image they read
    ids = {c.reader_id for calls in experts.readers.values() for c in calls}
    return sorted(ids - set(expert_labels.ALL_GROUND_TRUTH_READERS))


def table(report) -> tuple[list, list]:
    """Columns and one row per finding and reader."""
    keys = ("n", "n_pos", "auroc", *_RATES, "sensitivity_diff", "sensitivity_p")
    keys += ("specificity_diff", "specificity_p", "reason")
    rows = [
        [finding, reader, *(e.get(k) for k in keys)]
        for finding, by_reader in report["findings"].items()
        for reader, e in by_reader.items()
    ]
    return ["finding", "reader", *keys], rows


def format_table(report) -> str:
    lines = [
        f"Model vs {len(report['readers'])} independent readers on {report['n_images']} images "
        f"({report['label_set']}); model minus reader, paired patient bootstrap; "
        f"{report['thresholds']}",
        f"{'finding':<19}{'reader':<12}{'reader sens/spec':<18}{'model sens@spec':<17}"
        f"{'p':<8}{'model spec@sens':<17}p",
    ]
    for finding, by_reader in report["findings"].items():
        for reader, e in by_reader.items():
            if e["reason"]:
                lines.append(f"{finding:<19}{reader:<12}n/a ({e['reason']})")
                continue
            pair = f"{e['reader_sensitivity']:.3f}/{e['reader_specificity']:.3f}"
            lines.append(
                f"{finding:<19}{reader:<12}{pair:<18}{e['model_sensitivity']:<17.3f}"
                f"{_p(e['sensitivity_p']):<8}{e['model_specificity']:<17.3f}{_p(e['specificity_p'])}"
            )
    if any(math.isnan(e.get(f"{w}_p", 0.0)) for r in report["findings"].values() for e in r.values() for w in ("sensitivity", "specificity")):  # fmt: skip
        lines.append("p n/a: every resample gave the same nonzero difference (no spread to test)")
    return "\n".join(lines)


def _p(value) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def plot(report, finding: str) -> Figure:
    """The model's ROC curve and each reader's operating point with its CIs."""
    import matplotlib  # here: seconds that `cxr readers --help` need not pay
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=120, layout="tight")
    ax = fig.subplots()
    curve = report["curves"].get(finding)
    if curve:
        ax.plot(
            curve["fpr"], curve["tpr"], color="black", label=f"model (AUROC {curve['auroc']:.3f})"
        )
    colors = matplotlib.colormaps["tab10"].colors
    for i, (reader, e) in enumerate(report["findings"][finding].items()):
        if e["reason"]:
            continue
        x, y = 1 - e["reader_specificity"], e["reader_sensitivity"]
        xerr = np.abs(np.array([[1 - e["reader_specificity_ci"][1]], [1 - e["reader_specificity_ci"][0]]]) - x)  # fmt: skip
        yerr = np.abs(np.array([[e["reader_sensitivity_ci"][0]], [e["reader_sensitivity_ci"][1]]]) - y)  # fmt: skip
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=colors[i % 10], label=reader)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title=f"{finding}: model vs readers")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def render(report, out_dir) -> writer.Result:
    """readers.json, readers.csv and a plot per finding with a defined curve; in W&B the
    table (`TABLE`) and the plots (`plot_key`)."""
    out_dir = pathlib.Path(out_dir)
    columns, rows = table(report)
    rows = writer.json_safe(rows)
    text = io.StringIO()
    csv.writer(text).writerows([columns, *rows])
    files = {out_dir / JSON_FILE: report, out_dir / CSV_FILE: text.getvalue()}
    log = {TABLE: writer.Table(columns, rows)}
    for finding in report["curves"]:
        files[out_dir / plot_file(finding)] = plot(report, finding)
        log[plot_key(finding)] = writer.Image(out_dir / plot_file(finding), caption=finding)
    return writer.Result(files=files, log=log, text=format_table(report))


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("evaluation", metavar="EVAL", help="folder holding predictions.npz")
    parser.add_argument("--out", required=True)
    parser.add_argument("--labels", choices=list(expert_labels.SETS), default="expert_all")
    parser.add_argument("--nih-dir", default=os.environ.get(sources.ENV_VAR))
    parser.add_argument("--num-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    writer.check_out(out)
    spec = expert_labels.SETS[args.labels]
    folder = pathlib.Path(args.nih_dir or ".") / spec.folder
    if not args.nih_dir or not folder.is_dir():
        raise UserError(f"--labels {args.labels} needs Google's {spec.folder}/ folder in --nih-dir (${sources.ENV_VAR}); put it there as Google ships it")  # fmt: skip
    predictions = EvalDir(args.evaluation).read_predictions()
    try:
        experts = expert_labels.read_set(folder, spec)
    except ValueError as e:
        raise UserError(str(e)) from None
    readers = independent_readers(experts)
    if not readers:
        raise UserError(f"{args.labels}: every reader sat on the panel that made the truth; compare with --labels expert_all")  # fmt: skip
    report = compare_with_readers(
        predictions=predictions,
        experts=experts,
        readers=readers,
        num_bootstrap=args.num_bootstrap,
        seed=args.seed,
    )
    if not report["n_images"]:
        raise UserError(f"{args.evaluation}: none of its images has {args.labels} labels")
    staging = writer.staging_dir(out)
    wandb_args = dict(
        config={"command": "readers", **{k: str(v) for k, v in vars(args).items()}},
        name=f"readers {out.name} ({args.labels} labels)",
        tags=("readers", args.labels),
        job_type="readers",
    )
    prefix = score.wandb_prefix("test", args.labels)
    writer.write_whole(render(report, staging), staging, out, wandb_args=wandb_args, prefix=prefix)
