"""The model card of an exported run, written from the run's own result files.

Sections are those of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019,
§4.1-4.9): model details, intended use, factors, metrics, evaluation data, training
data, quantitative analyses, ethical considerations, caveats and recommendations.
Every number is read from a result file of the run and cites it, as a path relative
to the run directory; a result that was not measured is said to be missing, with the
command that makes it, never guessed. No framework here: JSON files in, Markdown out.
"""

import json
import pathlib

from cxr.evaluation import subgroup_report
from cxr.tracking.rundir import EvalDir, RunDir, SaliencyDir

DISCLAIMER = "**Research use only, not for clinical decisions.**"


def card(run: RunDir, eval_dir: EvalDir, *, bundle: pathlib.Path) -> str:
    """The card of `run` evaluated in `eval_dir`, as Markdown (see the module's docstring)."""
    config = run.config()
    metrics_path = eval_dir.file(EvalDir.METRICS)
    metrics = json.loads(metrics_path.read_text())
    source = _relative(run, metrics_path)
    parts = [
        f"# Model card: {config['name']}/{run.name}\n\n{DISCLAIMER}\n",
        _details(config, run, bundle),
        _intended_use(),
        _factors(eval_dir, run),
        _metrics(metrics, source),
        _evaluation_data(metrics, source),
        _training_data(config, run),
        _quantitative(metrics, source) + _extra_evaluations(run),
        _subgroups(eval_dir, run) + _calibration(eval_dir, run),
        _saliency(run),
        _ethics(),
        _caveats(metrics, source),
    ]
    return "\n".join(parts)


def _relative(run: RunDir, path: pathlib.Path) -> str:
    """`path` relative to the run directory where it is inside it."""
    try:
        return str(pathlib.Path(path).relative_to(run.path))
    except ValueError:
        return str(path)


def _fmt(entry: dict) -> str:
    """ "0.812 [0.790, 0.833]" from an entry with auroc, ci_low and ci_high; "n/a" else."""
    value = entry.get("auroc")
    if value is None or value != value:  # None or NaN
        return f"n/a ({entry.get('reason') or 'undefined'})"
    return f"{value:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _details(config, run, bundle) -> str:
    model, data = config.get("model", {}), config.get("data", {})
    backbone = model.get("backbone", "densenet121")
    return (
        "## Model details\n\n"
        f"- A `{backbone}` backbone with one logit per label (`config.json`: `model`), "
        f"trained by cxr's experiment `{config['name']}`, run `{run.name}`.\n"
        f"- Initial weights: {model.get('weights') or 'random'}; "
        f"dataset `{data.get('dataset', data.get('name'))}` (`config.json`: `data`).\n"
        f"- Input: raw gray pixels in [0, 255] as 3 channels; the preprocessing is inside "
        f"the model. Output: logits (`{bundle.name}/labels.json`).\n"
    )


def _intended_use() -> str:
    return (
        "## Intended use\n\n"
        f"- {DISCLAIMER} A research artefact for studying chest X-ray classifiers: "
        "comparing models, methods and datasets, and auditing them.\n"
        "- Out of scope: any diagnosis, triage or treatment decision; patients or "
        "scanners unlike the training data's; findings other than the labels listed.\n"
    )


def _factors(eval_dir, run) -> str:
    has = eval_dir.file(subgroup_report.JSON_FILE).is_file()
    said = "measured below" if has else "not measured for this evaluation"
    return (
        "## Factors\n\n"
        f"- Patient sex, age band and view (PA/AP), where the dataset records them: {said}.\n"
        "- Hospital and scanner: one dataset's images unless an external evaluation is "
        "listed under quantitative analyses.\n"
    )


def _metrics(metrics, source) -> str:
    boot = metrics.get("bootstrap", {})
    return (
        "## Metrics\n\n"
        "- Per-label AUROC with a "
        f"{boot.get('ci_level', 0.95):.0%} confidence interval from "
        f"{boot.get('num_resamples', '?')} {boot.get('unit', 'patient')} bootstrap resamples "
        f"(`{source}`: `bootstrap`).\n"
        "- Operating points (max F1, max Youden's J) chosen on the validation split "
        "(`operating_points.json`); their test sensitivity and specificity are in "
        f"`{source}`.\n"
    )


def _evaluation_data(metrics, source) -> str:
    return (
        "## Evaluation data\n\n"
        f"- `{metrics['dataset']}`, split `{metrics['split']}`: {metrics['n_test_images']} "
        f"images of {metrics['n_test_patients']} patients (`{source}`).\n"
        f"- {metrics.get('comparability', '')}\n"
    )


def _training_data(config, run) -> str:
    data, train = config.get("data", {}), config.get("train", {})
    keys = ("train_split", "val_split", "batch_size")
    fields = ", ".join(f"`{k}` {data[k]}" for k in keys if k in data)
    phases = ", ".join(
        f"`{k}` {train[k]}" for k in ("head_epochs", "finetune_epochs", "unfreeze") if k in train
    )
    return (
        "## Training data\n\n"
        f"- {fields} (`config.json`: `data`); training: {phases} (`config.json`: `train`).\n"
        f"- Epoch by epoch: `{_relative(run, run.metrics_file)}`.\n"
    )


def _quantitative(metrics, source) -> str:
    rows = [
        f"| {label} | {_fmt(e)} | {e.get('n_pos', '')} | `{source}` |"
        for label, e in metrics["per_label"].items()
    ]
    macro = metrics.get("macro", {})
    rows.append(f"| **macro** | {_fmt(macro)} | | `{source}` |")
    return (
        "## Quantitative analyses\n\n"
        f"Test AUROC against `{metrics['dataset']}`'s labels:\n\n"
        "| label | AUROC [95% CI] | positives | source |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def _extra_evaluations(run) -> str:
    """Every later evaluation of the run (other labels, other datasets), macro AUROC each."""
    found = sorted(run.path.glob(f"{RunDir.EVALUATIONS}/**/{EvalDir.METRICS}"))
    if not found:
        return "\nNo other evaluation of this run (expert labels, other datasets) was made.\n"
    lines = ["\nOther evaluations of this run:\n"]
    for path in found:
        m = json.loads(path.read_text())
        lines.append(
            f"- `{m.get('dataset')}` `{m.get('split')}`: macro AUROC "
            f"{_fmt(m.get('macro', {}))} (`{_relative(run, path)}`)"
        )
    return "\n".join(lines) + "\n"


def _subgroups(eval_dir, run) -> str:
    """Under- and overdiagnosis per subgroup (Seyyed-Kalantari et al.), with their gaps."""
    path = eval_dir.file(subgroup_report.JSON_FILE)
    if not path.is_file():
        return "\nSubgroups: not measured for this evaluation (the `subgroups` evaluator).\n"
    data, source = json.loads(path.read_text()), _relative(run, path)
    under = data.get("underdiagnosis", {})
    if under.get("reason") or "groups" not in under:
        return f"\nSubgroups: {under.get('reason', 'no underdiagnosis table')} (`{source}`).\n"
    rows = []
    for group, entry in under["groups"].items():
        cells = [_rate(entry[kind]) for kind in ("underdiagnosis", "overdiagnosis")]
        rows.append(f"| {group} | {cells[0]} | {cells[1]} | `{source}` |")
    return (
        f"\nUnderdiagnosis (false-positive rate of No Finding, score {under['score']}) and "
        f"overdiagnosis (its false-negative rate) per subgroup, at the validation max-F1 "
        f"threshold {under['threshold']:.4f}; gap to the rest of the split in brackets after:\n\n"
        "| subgroup | underdiagnosis [95% CI] (gap) | overdiagnosis [95% CI] (gap) | source |\n"
        "|---|---|---|---|\n" + "\n".join(rows) + f"\n\nPer-label AUROC by subgroup: `{source}`.\n"
    )


def _rate(entry: dict) -> str:
    """ "0.120 [0.080, 0.170] (+0.030)", or "n/a (reason)" where withheld."""
    if entry.get("reason") or entry.get("rate") is None:
        return f"n/a ({entry.get('reason') or 'withheld'})"
    text = f"{entry['rate']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
    gap = entry.get("gap") or {}
    if gap.get("diff") is not None and not gap.get("reason"):
        text += f" ({gap['diff']:+.3f})"
    return text


def _calibration(eval_dir, run) -> str:
    """Macro calibration before and after temperature scaling (`calibration.json`)."""
    path = eval_dir.file(EvalDir.CALIBRATION)
    if not path.is_file():
        return "\nCalibration: not measured for this evaluation (the `calibration` evaluator).\n"
    data, source = json.loads(path.read_text()), _relative(run, path)
    rows = []
    for stage in ("before", "after"):
        macro = data[stage]["macro"]
        cells = [_value(macro[k]) for k in ("ece", "adaptive_ece", "mce", "brier")]
        rows.append(f"| {stage} temperature scaling | {' | '.join(cells)} | `{source}` |")
    return (
        f"\nCalibration, macro over labels ({data['bins']} bins; temperatures fitted on "
        f"`{data['val_split']}`):\n\n"
        "| | ECE | equal-mass ECE | MCE | Brier | source |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def _value(entry: dict) -> str:
    value = entry.get("value")
    if value is None or value != value:
        return "n/a"
    return f"{value:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _saliency(run) -> str:
    studies = sorted(run.path.glob(f"saliency/*/{SaliencyDir.SCORES}"))
    if not studies:
        return "\nSaliency sanity checks: no saliency study of this run (`make saliency`).\n"
    lines = ["\nSaliency sanity checks (Adebayo et al.'s cascade, `passes`):\n"]
    for path in studies:
        sanity = json.loads(path.read_text()).get("sanity", {})
        for method, entry in sanity.items():
            verdict = entry.get("verdict", {}).get("passes")
            lines.append(f"- {method}: {verdict} (`{_relative(run, path)}`)")
    return "\n".join(lines) + "\n"


def _ethics() -> str:
    return (
        "## Ethical considerations\n\n"
        "- Trained on labels text-mined from reports, not on radiologists' reads: the "
        "labels are noisy, and the model learns their errors.\n"
        "- Performance can differ by sex, age and view, and at other hospitals; check "
        "the subgroup table and an external evaluation before any study relies on it.\n"
    )


def _caveats(metrics, source) -> str:
    assumptions = "".join(f"- {a} (`{source}`)\n" for a in metrics.get("assumptions", []))
    return f"## Caveats and recommendations\n\n{assumptions}"
