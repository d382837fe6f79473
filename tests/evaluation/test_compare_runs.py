"""`make compare`: the paired patient bootstrap, the report, the CLI's files and refusals."""

import json
import math

import numpy as np
import pytest
import sklearn.metrics
import wandb

from cxr.errors import EXIT_CODE
from cxr.evaluation import compare_report, compare_runs
from cxr.stats import bootstrap, obuchowski, type1
from cxr.tracking.rundir import EvalDir, RunDir

LABELS = ("Atelectasis", "Effusion", "Hernia")


def made_up_split(num_patients, seed=0):
    """Patients with 1-3 images sharing labels; two models, the second a little better.

    Hernia has no positive, so its AUROC and differences are undefined.
    """
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(num_patients), rng.integers(1, 4, num_patients))
    labels = (rng.random((num_patients, 3)) < 0.3)[patients].astype(np.float32)
    labels[:, 2] = 0
    patient_score = rng.normal(size=(num_patients, 3))[patients]
    # Rounded so that ties occur, which AUROC counts half.
    ref = np.round(patient_score + 0.8 * labels + 0.5 * rng.normal(size=labels.shape), 1)
    other = np.round(patient_score + 1.1 * labels + 0.5 * rng.normal(size=labels.shape), 1)
    return ref, other, labels, np.array([f"p{p:04d}" for p in patients])


def explicit_resample_auroc(scores, labels, patient_index, counts):
    """AUROC of the images of the drawn patients, each patient as often as drawn."""
    drawn = np.repeat(np.arange(counts.size), counts)
    images = np.concatenate([np.flatnonzero(patient_index == p) for p in drawn])
    return sklearn.metrics.roc_auc_score(labels[images], scores[images])


def as_run(path, probs, labels, patients, *, ids=None, dataset="cxr14_subset/224", split="test"):
    ids = np.array([f"img{i:05d}.png" for i in range(len(probs))]) if ids is None else ids
    return {
        "image_id": ids, "patient_id": patients, "labels": labels, "probs": probs,
        "label_names": LABELS, "dataset": dataset, "split": split, "path": str(path),
    }  # fmt: skip


def write_eval(folder, run):
    folder.mkdir(parents=True, exist_ok=True)
    predictions = EvalDir.encode_predictions(**{k: v for k, v in run.items() if k != "path"})
    EvalDir(folder).file(EvalDir.PREDICTIONS).write_bytes(predictions)


def test_paired_bootstrap_equals_explicit_resampling_of_both_models():
    ref, other, labels, patients = made_up_split(60, seed=1)
    runs = [as_run("a", ref, labels, patients), as_run("b", other, labels, patients)]
    report = compare_runs.compare(runs, num_bootstrap=20, seed=3)
    # The bootstrap's draws: 20 resamples fit in one chunk, drawn from default_rng(seed).
    counts = bootstrap.resample_patients(60, 20, np.random.default_rng(3))
    _, index = np.unique(patients, return_inverse=True)
    diffs = np.array(
        [
            [
                explicit_resample_auroc(other[:, i], labels[:, i], index, counts[b])
                - explicit_resample_auroc(ref[:, i], labels[:, i], index, counts[b])
                for i in (0, 1)
            ]
            for b in range(20)
        ]
    )
    comparison = report["comparisons"][0]
    for i, label in enumerate(LABELS[:2]):
        entry = comparison["per_label"][label]
        low, high = np.percentile(diffs[:, i], [2.5, 97.5])
        assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((low, high), abs=1e-12)
        assert entry["diff"] == pytest.approx(
            sklearn.metrics.roc_auc_score(labels[:, i], other[:, i])
            - sklearn.metrics.roc_auc_score(labels[:, i], ref[:, i]),
            abs=1e-12,
        )
    # The macro averages the two defined labels, in every resample.
    macro = comparison["macro"]
    low, high = np.percentile(diffs.mean(axis=1), [2.5, 97.5])
    assert (macro["ci_low"], macro["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert macro["n_labels"] == 2 and macro["n_valid_resamples"] == 20
    hernia = comparison["per_label"]["Hernia"]
    assert hernia["reason"] == "no positive on the split" and math.isnan(hernia["diff"])


def test_identical_runs_differ_by_zero_with_p_one():
    ref, _, labels, patients = made_up_split(80, seed=2)
    runs = [as_run("a", ref, labels, patients), as_run("b", ref.copy(), labels, patients)]
    comparison = compare_runs.compare(runs, num_bootstrap=50, type1_table=None)["comparisons"][0]
    for entry in [comparison["per_label"]["Effusion"], comparison["macro"]]:
        assert entry["diff"] == 0 and entry["ci_low"] == entry["ci_high"] == 0
        assert entry["p_bootstrap"] == 1 and entry["p_delong"] == 1
        assert entry["p"] == entry["p_obuchowski"] == 1 and entry["p_withheld"] == {}


def test_bootstrap_p_value():
    assert bootstrap.bootstrap_p_value(np.zeros(10)) == 1
    assert bootstrap.bootstrap_p_value(np.linspace(0.01, 0.02, 99)) == 2 / 100  # floored, never 0
    # Every resample the same nonzero difference: no variance to test against.
    assert math.isnan(bootstrap.bootstrap_p_value(np.full(99, 0.01)))
    # 5 of 99 finite resamples at or below 0: p = 2 * 6 / 100.
    values = np.r_[np.full(5, -0.01), np.full(94, 0.02), [np.nan] * 7]
    assert bootstrap.bootstrap_p_value(values) == pytest.approx(0.12)
    assert math.isnan(bootstrap.bootstrap_p_value([np.nan]))


def test_headline_p_is_obuchowskis_with_counts_per_row():
    ref, other, labels, patients = made_up_split(90, seed=5)
    runs = [as_run("a", ref, labels, patients), as_run("b", other, labels, patients)]
    report = compare_runs.compare(runs, num_bootstrap=30, type1_table=None)
    comparison = report["comparisons"][0]
    for i, label in enumerate(LABELS[:2]):
        entry = comparison["per_label"][label]
        expected = obuchowski.obuchowski_test(ref[:, i], other[:, i], labels[:, i], patients)
        assert entry["p"] == entry["p_obuchowski"] == pytest.approx(expected["p"], rel=1e-12)
        # Counted by hand: images with the label, and the distinct patients among them.
        positive = labels[:, i] == 1
        assert entry["n_pos_images"] == positive.sum()
        assert entry["n_pos_patients"] == len(set(patients[positive]))
        assert entry["n_neg_patients"] == len(set(patients[~positive]))
    macro = obuchowski.obuchowski_macro_test(ref[:, :2], other[:, :2], labels[:, :2], patients)
    assert comparison["macro"]["p"] == pytest.approx(macro["p"], rel=1e-12)
    assert report["type1"]["file"] is None


def test_p_values_of_rare_labels_are_withheld_by_the_type1_table(capsys):
    ref, other, labels, patients = made_up_split(90, seed=6)
    # Atelectasis positive on every image of exactly two patients.
    two = np.unique(patients)[[3, 40]]
    labels[:, 0] = np.isin(patients, two)
    runs = [as_run("a", ref, labels, patients), as_run("b", other, labels, patients)]
    rates = {2: (0.28, 0.34, 0.23), 3: (0.2, 0.2, 0.13), 10: (0.05, 0.055, 0.12)}
    tests = ("obuchowski", "bootstrap", "delong")
    rows = [{t: {"rate": r} for t, r in zip(tests, v, strict=True)} for v in rates.values()]
    table = {
        "max_rate": 0.06,
        "rows": [{"positive_patients": k, **row} for k, row in zip(rates, rows, strict=True)],
    }
    report = compare_runs.compare(runs, num_bootstrap=40, type1_table=table)
    atelectasis = report["comparisons"][0]["per_label"]["Atelectasis"]
    assert atelectasis["n_pos_patients"] == 2
    assert set(atelectasis["p_withheld"]) == set(type1.TESTS)
    assert math.isnan(atelectasis["p_bootstrap"]) and math.isnan(atelectasis["p"])
    assert "bootstrap rejects 34% of true nulls" in atelectasis["p_withheld"]["bootstrap"]
    # Effusion has more than 10 positive patients: only DeLong (0.12 there) is withheld.
    effusion = report["comparisons"][0]["per_label"]["Effusion"]
    assert effusion["n_pos_patients"] > 10 and list(effusion["p_withheld"]) == ["delong"]
    assert not math.isnan(effusion["p"]) and not math.isnan(effusion["p_bootstrap"])
    # The macro is judged by its rarest label.
    assert report["comparisons"][0]["macro"]["fewest_positive_label"] == "Atelectasis"
    # Fewer than 95% valid resamples: a resample misses both patients with p (88/90)^90 = 0.13.
    assert atelectasis["warning"].startswith(f"only {atelectasis['n_valid_resamples']} of 40")
    # Each row's own count and the simulated count and rates that judged it.
    assert atelectasis["type1_measured_at"] == 2
    assert atelectasis["type1_rates"] == dict(zip(tests, rates[2], strict=True))
    assert effusion["type1_measured_at"] == 10
    text = compare_report.format_table(report)
    notes = [line for line in text.splitlines() if line.startswith("  ")]
    # Issue 23 item 7: one note per label (three per label before), the label's own count.
    assert [n.split(" (")[0].strip() for n in notes] == ["Atelectasis", "Effusion", "macro"]
    assert notes[0] == (
        "  Atelectasis (2 positive patients): p, p boot, p DeLong not shown: measured type-I "
        "error p 28%, p boot 34%, p DeLong 23% at 2 positive patients, above 6%; warning: "
        + atelectasis["warning"]
    )
    k = effusion["n_pos_patients"]
    assert notes[1] == (
        f"  Effusion ({k} positive patients): p DeLong not shown: measured type-I error "
        f"p DeLong 12% at 10 positive patients (the largest simulated count up to {k}), above 6%"
    )
    assert notes[2].startswith("  macro (judged by its rarest label, Atelectasis: 2 positive")


def test_macro_reasons_name_the_label_and_rare_labels_can_be_left_out():
    ref, other, labels, patients = made_up_split(90, seed=6)
    labels[:, 0] = patients == patients[0]  # Atelectasis: one positive patient
    runs = [as_run("a", ref, labels, patients), as_run("b", other, labels, patients)]
    macro = compare_runs.compare(runs, num_bootstrap=30, type1_table=None)["comparisons"][0][
        "macro"
    ]
    # The clustered macro needs 2 positive patients in every label: the label is named.
    assert macro["obuchowski_reason"].startswith("Atelectasis: the clustered test needs 2")
    assert math.isnan(macro["p"]) and macro["left_out"] == [] and macro["n_labels"] == 2
    text = compare_report.format_table(
        compare_runs.compare(runs, num_bootstrap=30, type1_table=None)
    )
    assert "label column" not in text and "p undefined: Atelectasis: the clustered" in text

    report = compare_runs.compare(runs, num_bootstrap=30, type1_table=None, min_positive_patients=2)
    assert report["min_positive_patients"] == 2
    comparison = report["comparisons"][0]
    macro, effusion = comparison["macro"], comparison["per_label"]["Effusion"]
    assert macro["left_out"] == ["Atelectasis"] and macro["n_labels"] == 1
    # The macro of Effusion alone: its own difference, CI and clustered test.
    assert macro["diff"] == pytest.approx(effusion["diff"], abs=1e-12)
    assert (macro["ci_low"], macro["ci_high"]) == (effusion["ci_low"], effusion["ci_high"])
    alone = obuchowski.obuchowski_macro_test(ref[:, [1]], other[:, [1]], labels[:, [1]], patients)
    assert macro["p"] == pytest.approx(alone["p"], rel=1e-12) and macro["obuchowski_reason"] is None
    assert not math.isnan(comparison["per_label"]["Atelectasis"]["diff"])  # still its own row
    text = compare_report.format_table(report)
    assert (
        "macro: labels with fewer than 2 positive patients left out (--min-positive-patients)"
        in text
    )
    assert "(1 of 3 labels); left out: Atelectasis" in text


@pytest.fixture
def three_runs(tmp_path):
    """A run directory, another's evaluation folder (rows shuffled) and a third run."""
    ref, other, labels, patients = made_up_split(150, seed=4)
    paths = [tmp_path / "runs/a/1", tmp_path / "runs/b/2/evaluations/cxr14_subset_224/test"]
    paths.append(tmp_path / "runs/c/3")
    RunDir(paths[0]).create({"name": "a"})
    RunDir(paths[2]).create({"name": "c"})
    write_eval(RunDir(paths[0]).evaluation().path, as_run(paths[0], ref, labels, patients))
    shuffle = np.random.default_rng(0).permutation(len(ref))
    ids = np.array([f"img{i:05d}.png" for i in range(len(ref))])
    write_eval(paths[1], as_run(paths[1], other[shuffle], labels[shuffle], patients[shuffle], ids=ids[shuffle]))  # fmt: skip
    write_eval(RunDir(paths[2]).evaluation().path, as_run(paths[2], 0.5 * ref, labels, patients))
    return dict(paths=[str(p) for p in paths], ref=ref, other=other, labels=labels)


def test_cli_writes_json_plot_table_and_an_offline_wandb_run(
    three_runs, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    out = tmp_path / "out"
    try:
        argv = [*three_runs["paths"], "--out", str(out), "--num-bootstrap", "50"]
        compare_runs.main([*argv, "--min-positive-patients", "3"])
    finally:
        wandb.teardown()  # waits for wandb-core to flush the offline run
    report = json.loads((out / compare_runs.JSON_FILE).read_text(), parse_constant=pytest.fail)
    assert report["reference"] == three_runs["paths"][0]
    assert report["min_positive_patients"] == 3  # every defined label has more: none left out
    assert report["comparisons"][0]["macro"]["left_out"] == []
    assert [c["run"] for c in report["comparisons"]] == three_runs["paths"][1:]
    # The shuffled evaluation was aligned by image id: its AUROCs are those of the unshuffled rows.
    labels, ref, other = three_runs["labels"], three_runs["ref"], three_runs["other"]
    effusion = report["comparisons"][0]["per_label"]["Effusion"]
    assert effusion["auroc_other"] == pytest.approx(sklearn.metrics.roc_auc_score(labels[:, 1], other[:, 1]))  # fmt: skip
    assert effusion["auroc_ref"] == pytest.approx(sklearn.metrics.roc_auc_score(labels[:, 1], ref[:, 1]))  # fmt: skip
    # Halving every score changes no ranking.
    assert report["comparisons"][1]["macro"]["diff"] == 0
    assert report["comparisons"][1]["per_label"]["Hernia"]["diff"] is None  # NaN as null
    assert (out / compare_runs.PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for text in (*LABELS, "macro", "p DeLong", three_runs["paths"][1], "(2 of 3 labels)"):
        assert text in printed
    (wandb_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    assert wandb_file.stat().st_size > 0


def refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare_runs.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == EXIT_CODE
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_runs_on_different_images_are_refused_before_any_output(tmp_path, three_runs, capsys):
    ref, _, labels, patients = made_up_split(150, seed=4)
    val = tmp_path / "runs/d/4/evaluations/cxr14_subset_224/val"
    write_eval(val, as_run(val, ref[:100], labels[:100], patients[:100], split="val"))
    out = tmp_path / "out"
    err = refused([three_runs["paths"][0], str(val), "--out", str(out)], capsys)
    assert f"{val} was evaluated on 100 images" in err and "make evaluate" in err
    assert not out.exists()
    # Same images, other labels (another dataset version).
    flipped = tmp_path / "flipped"
    write_eval(flipped, as_run(flipped, ref, 1 - labels, patients))
    err = refused([three_runs["paths"][0], str(flipped), "--out", str(out)], capsys)
    assert "different labels" in err and not out.exists()


def test_bad_paths_are_one_line_errors(tmp_path, three_runs, capsys):
    out = str(tmp_path / "out")
    err = refused([three_runs["paths"][0], str(tmp_path), "--out", out], capsys)
    assert f"{tmp_path} is neither a run directory" in err and "pass runs/<name>/<run id>" in err
    unevaluated = tmp_path / "runs/e/5"
    RunDir(unevaluated).create({})
    err = refused([three_runs["paths"][0], str(unevaluated), "--out", out], capsys)
    assert "holds no predictions.npz" in err and "make evaluate" in err
    assert "two runs or more" in refused([three_runs["paths"][0], "--out", out], capsys)
    argv = [*three_runs["paths"][:2], "--out", out, "--min-positive-patients", "-1"]
    assert "--min-positive-patients must be 0 or more, got -1" in refused(argv, capsys)
    ref, _, labels, patients = made_up_split(150, seed=4)
    broken = tmp_path / "broken"
    write_eval(broken, as_run(broken, np.where(ref > 1, np.nan, ref), labels, patients))
    assert "non-finite probabilities" in refused([three_runs["paths"][0], str(broken), "--out", out], capsys)  # fmt: skip
    assert not (tmp_path / "out").exists()
