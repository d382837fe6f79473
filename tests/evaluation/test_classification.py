"""The classification report: exact AUROCs, patient bootstrap CIs, validation thresholds,
comparability with published numbers, and its files, W&B items and text."""

import csv
import functools
import json
import math
import struct
import warnings

import numpy as np
import pytest
import sklearn.metrics
import wandb
from wandb.proto import wandb_internal_pb2

from cxr.evaluation import classification, classification_report
from cxr.stats import bootstrap
from cxr.stats.published import CHEXNET, OFFICIAL_TEST_IMAGES, PUBLISHED, PUBLISHED_MACRO, WANG_2017
from cxr.tracking import writer
from cxr.tracking.rundir import EvalDir
from cxr_tfds.labels import LABELS


def make_report(test, val, **kwargs):
    """`classification.report` of (probs, labels, patients) and (probs, labels[, _])."""
    return classification.report(
        test_probs=test[0],
        test_labels=test[1],
        test_patients=test[2],
        val_probs=val[0],
        val_labels=val[1],
        label_names=kwargs.pop("label_names", LABELS),
        **kwargs,
    )


def make_split(num_patients, images_per_patient=3, seed=0, num_labels=None):
    """Images of a patient share their labels and most of their score, as in real data."""
    rng = np.random.default_rng(seed)
    num_labels = num_labels or len(LABELS)
    patients = np.repeat(np.arange(num_patients), images_per_patient)
    labels = (rng.random((num_patients, num_labels)) < 0.3)[patients].astype(np.float32)
    patient_score = rng.normal(size=(num_patients, num_labels))[patients]
    noise = 0.3 * rng.normal(size=labels.shape)
    # Rounded so that ties occur, which AUROC counts half.
    probs = np.round(1 / (1 + np.exp(-(patient_score + noise + 1.2 * labels))), 2)
    return probs, labels, patients


def explicit_resample_auroc(scores, labels, patient_index, counts):
    """AUROC of the images of the drawn patients, each patient as often as drawn."""
    drawn = np.repeat(np.arange(counts.size), counts)
    images = np.concatenate([np.flatnonzero(patient_index == p) for p in drawn])
    return sklearn.metrics.roc_auc_score(labels[images], scores[images])


def test_aurocs_match_sklearn_on_the_split_and_on_every_patient_resample():
    probs, labels, patients = make_split(40, seed=1)
    patients = np.array([f"p{p:03d}" for p in patients])[::-1]  # any id type, any order
    report = make_report((probs, labels, patients), (probs, labels), num_bootstrap=20)
    for i, label in enumerate(LABELS):
        entry = report["per_label"][label]
        assert entry["auroc"] == pytest.approx(
            sklearn.metrics.roc_auc_score(labels[:, i], probs[:, i]), abs=1e-12
        )
        assert entry["auprc"] == pytest.approx(
            sklearn.metrics.average_precision_score(labels[:, i], probs[:, i])
        )
        assert entry["prevalence"] == pytest.approx(labels[:, i].mean())

    # The bootstrap's AUROCs are those of explicitly resampled patients.
    boot = bootstrap.bootstrap_aurocs(probs, labels, patients, num_bootstrap=20, seed=3)
    _, patient_index = np.unique(patients, return_inverse=True)
    # The bootstrap's draws: 20 resamples fit in one of its chunks, drawn from default_rng(seed).
    counts = bootstrap.resample_patients(40, 20, np.random.default_rng(3))
    assert (counts.sum(axis=1) == 40).all()
    for b in range(20):
        for i in (0, 7):
            expected = explicit_resample_auroc(probs[:, i], labels[:, i], patient_index, counts[b])
            assert boot[b, i] == pytest.approx(expected, abs=1e-12)


def test_ci_contains_the_estimate_and_narrows_with_more_patients():
    widths = []
    for num_patients in (60, 1500):
        probs, labels, patients = make_split(num_patients, seed=num_patients)
        report = make_report((probs, labels, patients), (probs, labels), num_bootstrap=200)
        entries = [*report["per_label"].values(), report["macro"]]
        for entry in entries:
            assert entry["ci_low"] <= entry["auroc"] <= entry["ci_high"]
            assert entry["n_valid_resamples"] == 200
        widths.append([entry["ci_high"] - entry["ci_low"] for entry in entries])
    # 25 times the patients: about 5 times narrower.
    assert all(big < 0.5 * small for small, big in zip(*widths, strict=True))


def test_patient_bootstrap_treats_duplicate_images_as_one_patient():
    probs, labels, patients = make_split(150, images_per_patient=1, seed=2, num_labels=2)
    dup_probs, dup_labels = np.repeat(probs, 8, axis=0), np.repeat(labels, 8, axis=0)
    dup_patients = np.repeat(patients, 8)

    boot = functools.partial(bootstrap.bootstrap_aurocs, num_bootstrap=300, seed=5)
    by_patient = boot(dup_probs, dup_labels, dup_patients)
    by_image = boot(dup_probs, dup_labels, np.arange(len(dup_probs)))
    once = boot(probs, labels, patients)
    # Eight copies of each patient add no information: same resamples, same AUROCs.
    np.testing.assert_allclose(by_patient, once, atol=1e-12)
    # Resampling images would take the copies for independent data: too narrow a CI.
    width = lambda boot: np.percentile(boot, 97.5, axis=0) - np.percentile(boot, 2.5, axis=0)  # noqa: E731
    assert (width(by_image) < 0.6 * width(by_patient)).all()


def test_degenerate_labels_are_nan_with_a_reason_and_left_out_of_the_macro():
    probs, labels, patients = make_split(80, seed=4)
    val_probs, val_labels, _ = make_split(50, seed=5)
    hernia, edema, mass, fibrosis = (
        LABELS.index(x) for x in ("Hernia", "Edema", "Mass", "Fibrosis")
    )
    labels[:, hernia] = 0
    labels[:, edema] = 1
    labels[:, mass] = patients == 7  # one positive patient: many resamples miss it
    val_labels[:, fibrosis] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's NaN warnings would be bugs
        report = make_report((probs, labels, patients), (val_probs, val_labels), num_bootstrap=200)

    per_label = report["per_label"]
    for label, reason in [("Hernia", "no positive in test"), ("Edema", "no negative in test")]:
        entry = per_label[label]
        assert entry["reason"] == reason
        assert math.isnan(entry["auroc"]) and math.isnan(entry["auprc"])
        assert math.isnan(entry["ci_low"]) and entry["n_valid_resamples"] == 0
        assert label not in report["roc_curves"]
    defined = [i for i in range(len(LABELS)) if i not in (hernia, edema)]
    expected = np.mean([sklearn.metrics.roc_auc_score(labels[:, i], probs[:, i]) for i in defined])
    assert report["macro"]["auroc"] == pytest.approx(expected)
    assert report["macro"]["n_labels"] == len(LABELS) - 2

    # One positive patient is missing from about 1/e of the resamples; those are skipped.
    assert 0 < per_label["Mass"]["n_valid_resamples"] < 200
    assert per_label["Mass"]["ci_low"] <= per_label["Mass"]["ci_high"]
    assert report["macro"]["n_valid_resamples"] == per_label["Mass"]["n_valid_resamples"]

    fibrosis_entry = per_label["Fibrosis"]
    assert fibrosis_entry["val_reason"] == "no positive in validation"
    assert fibrosis_entry["reason"] is None and not math.isnan(fibrosis_entry["auroc"])
    for point in fibrosis_entry["operating_points"].values():
        assert math.isnan(point["threshold"]) and math.isnan(point["test"]["sensitivity"])
    assert "no positive in test" in classification_report.format_report(report)


def best_f1(labels, scores):
    """Brute force: the best F1 of the rule `score >= t` over the scores' values t."""
    predicted = scores[None, :] >= np.unique(scores)[:, None]  # one row per t
    tp = (predicted & (labels == 1)).sum(axis=1)
    return np.max(2 * tp / (predicted.sum(axis=1) + (labels == 1).sum()))


def test_operating_points_are_chosen_on_validation_and_measured_on_test():
    rng = np.random.default_rng(6)
    val_labels = (rng.random((300, 1)) < 0.4).astype(float)
    val_probs = 0.5 + 0.2 * rng.random((300, 1)) + 0.2 * val_labels
    test_labels = (rng.random((300, 1)) < 0.4).astype(float)
    test_probs = 0.1 + 0.2 * rng.random((300, 1)) + 0.2 * test_labels
    report = make_report(
        (test_probs, test_labels, np.arange(300)),
        (val_probs, val_labels),
        label_names=("Mass",),
        num_bootstrap=10,
    )
    points = report["per_label"]["Mass"]["operating_points"]
    y_val, p_val = val_labels[:, 0], val_probs[:, 0]
    y_test, p_test = test_labels[:, 0], test_probs[:, 0]

    f1 = points["f1"]
    assert f1["val_score"] == pytest.approx(best_f1(y_val, p_val))
    assert sklearn.metrics.f1_score(y_val, p_val >= f1["threshold"]) == pytest.approx(
        f1["val_score"]
    )
    fpr, tpr, _ = sklearn.metrics.roc_curve(y_val, p_val, drop_intermediate=False)
    youden = points["youden"]
    assert youden["val_score"] == pytest.approx(np.max(tpr - fpr))
    # The validation thresholds lie above every test score, while the test's
    # own best threshold would not: test predictions are all negative.
    assert best_f1(y_test, p_test) > 0.8
    for point in (f1, youden):
        assert point["threshold"] > p_test.max()
        predicted = p_test >= point["threshold"]
        assert point["test"]["sensitivity"] == pytest.approx(
            sklearn.metrics.recall_score(y_test, predicted)
        )
        assert point["test"]["specificity"] == pytest.approx(np.mean(~predicted[y_test == 0]))
        assert math.isnan(point["test"]["precision"])  # nothing predicted positive


def test_thresholds_on_few_validation_positives_warn_instead_of_a_silent_zero():
    """The audit's silent zero: a threshold chosen on 3 validation positives gave test
    sensitivity 0.000 with no warning. Here one label's validation has 3 positives
    (scored above everything else, so max F1 sits above every test score) and the
    other's 40: only the first is warned about, in metrics.json and the printed text."""
    rng = np.random.default_rng(7)
    val_labels = np.zeros((200, 2))
    val_labels[:3, 0] = 1
    val_labels[:40, 1] = 1
    val_probs = 0.3 * rng.random((200, 2)) + 0.6 * val_labels
    test_labels = (rng.random((200, 2)) < 0.3).astype(float)
    test_probs = 0.5 * rng.random((200, 2))  # all below the first label's threshold
    report = make_report(
        (test_probs, test_labels, np.arange(200)),
        (val_probs, val_labels),
        label_names=("Mass", "Nodule"),
        num_bootstrap=10,
    )
    mass, nodule = report["per_label"]["Mass"], report["per_label"]["Nodule"]
    assert (mass["n_val_pos"], nodule["n_val_pos"]) == (3, 40)  # counted by hand above
    assert mass["operating_points"]["f1"]["test"]["sensitivity"] == 0.0
    assert "rest on 3 validation positives" in mass["threshold_warning"]
    assert nodule["threshold_warning"] is None
    text = classification_report.format_report(report)
    assert text.count("thresholds: its thresholds rest on") == 1
    assert "Warning: Mass thresholds:" in text


def test_sensitivity_and_specificity_cis_resample_patients_as_the_auroc_does():
    probs, labels, patients = make_split(50, seed=8, num_labels=2)
    names = ("Mass", "Nodule")
    report = make_report(
        (probs, labels, patients), (probs, labels), label_names=names, num_bootstrap=40, seed=9
    )
    _, patient_index = np.unique(patients, return_inverse=True)
    counts = np.concatenate(
        [c for _, c in bootstrap.resample_chunks(50, 40, seed=9)]
    )  # the AUROC bootstrap's own draws
    for i, name in enumerate(names):
        for point in report["per_label"][name]["operating_points"].values():
            predicted = probs[:, i] >= point["threshold"]
            sens, spec = [], []
            for b in range(40):  # explicit resamples: every image of a drawn patient, as often
                w = counts[b][patient_index]
                y = labels[:, i] > 0.5
                sens.append(np.sum(w * (predicted & y)) / np.sum(w * y))
                spec.append(np.sum(w * (~predicted & ~y)) / np.sum(w * ~y))
            for rate, values in (("sensitivity", sens), ("specificity", spec)):
                low, high = np.percentile(values, [2.5, 97.5])
                assert point["test"][f"{rate}_ci"] == pytest.approx([low, high], abs=1e-12)


def test_macro_ci_of_few_valid_resamples_is_marked_conditional_and_warns():
    probs, labels, patients = make_split(40, seed=10)
    labels[:, LABELS.index("Hernia")] = patients == 3  # one positive patient
    report = make_report((probs, labels, patients), (probs, labels), num_bootstrap=100)
    macro = report["macro"]
    assert macro["warning"].startswith(f"only {macro['n_valid_resamples']} of 100 bootstrap")
    # A resample misses patient 3 with probability (39/40)**40 = 0.36.
    assert macro["conditional"] and 40 < macro["n_valid_resamples"] < 90
    text = classification_report.format_report(report)
    assert f"Warning: only {macro['n_valid_resamples']} of 100 bootstrap resamples" in text


def test_every_row_counts_positive_patients_and_warns_on_few_valid_resamples():
    probs, labels, patients = make_split(40, seed=11, num_labels=2)
    names = ("Mass", "Nodule")
    labels[:, 0] = np.isin(patients, [3, 17])  # two positive patients, three images each
    report = make_report(
        (probs, labels, patients), (probs, labels), label_names=names, num_bootstrap=100
    )
    mass = report["per_label"]["Mass"]
    assert (mass["n_pos"], mass["n_pos_patients"], mass["n_neg_patients"]) == (6, 2, 38)
    nodule_pos = labels[:, 1] == 1
    assert report["per_label"]["Nodule"]["n_pos_patients"] == len(set(patients[nodule_pos]))
    # A resample misses both patients with probability (38/40)**40 = 0.13: about 87 valid.
    assert 70 < mass["n_valid_resamples"] < 95
    assert mass["warning"].startswith(f"only {mass['n_valid_resamples']} of 100")
    # Sensitivity needs a positive too: its CI rests on the same resamples, and warns.
    for point in mass["operating_points"].values():
        assert point["test"]["sensitivity_n_valid"] == mass["n_valid_resamples"]
        assert point["test"]["sensitivity_warning"].startswith("only")
        assert point["test"]["specificity_n_valid"] == 100
        assert point["test"]["specificity_warning"] is None
    text = classification_report.format_report(report)
    assert f"Warning: Mass AUROC: only {mass['n_valid_resamples']} of 100" in text
    assert "Warning: Mass f1 sensitivity: only" in text
    assert "   6/2   " in text  # positive images/patients
    assert "do not include the uncertainty of choosing the threshold" in text


def test_published_numbers_stand_beside_ours_only_on_the_whole_official_test_list():
    for table in PUBLISHED.values():
        assert list(table) == list(LABELS)
        assert all(0.5 < value < 1 for value in table.values())
    # Spot checks against CheXNet's Table 2, incl. the renamed "Pleural Thickening".
    assert CHEXNET["Pneumonia"] == 0.7680 and CHEXNET["Pleural_Thickening"] == 0.8062
    assert WANG_2017["Pleural_Thickening"] == 0.708 and WANG_2017["Hernia"] == 0.767
    assert PUBLISHED_MACRO["CheXNet"] == pytest.approx(np.mean(list(CHEXNET.values())))

    split = make_split(30)
    part = make_report(split, split[:2], num_bootstrap=10, official_images=90)
    whole = make_report(split, split[:2], num_bootstrap=10, official_images=OFFICIAL_TEST_IMAGES)
    assert part["per_label"]["Mass"]["published"] is None and not part["comparable"]
    assert whole["per_label"]["Mass"]["published"] == {k: v["Mass"] for k, v in PUBLISHED.items()}
    assert whole["macro"]["published"] == PUBLISHED_MACRO
    assert "CheXNet" not in classification_report.format_report(part).split("\n")[1]
    assert (
        "not comparable: 90 of 25,596 official test images"
        in classification_report.format_report(part)
    )
    text = classification_report.format_report(whole)
    assert "CheXNet" in text.split("\n")[1]
    assert "CheXNet tested on its own random patient split" in text


@pytest.fixture(scope="module")
def official_report():
    probs, labels, patients = make_split(60, seed=7)
    labels[:, LABELS.index("Hernia")] = 0  # a NaN row must survive every writer
    return make_report(
        (probs, labels, patients),
        (probs, labels),
        num_bootstrap=50,
        official_images=OFFICIAL_TEST_IMAGES,
    )


def test_rendered_report_is_strict_json_a_14_row_csv_and_two_plots(official_report, tmp_path):
    eval_dir = EvalDir(tmp_path / "eval")
    result = classification_report.render(report=official_report, eval_dir=eval_dir)
    paths = writer.write([result])
    names = [EvalDir.METRICS, EvalDir.PER_LABEL, EvalDir.ROC, EvalDir.AUROC]
    assert [p.name for p in paths] == names

    def no_nan(constant):
        raise ValueError(f"not strict JSON: {constant}")

    saved = json.loads(paths[0].read_text(), parse_constant=no_nan)
    assert saved["macro"]["auroc"] == official_report["macro"]["auroc"]
    assert saved["per_label"]["Hernia"]["auroc"] is None

    with open(paths[1], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["label"] for row in rows] == list(LABELS)
    mass = official_report["per_label"]["Mass"]
    assert float(rows[LABELS.index("Mass")]["ci_low"]) == pytest.approx(mass["ci_low"])
    assert float(rows[LABELS.index("Mass")]["published_CheXNet"]) == CHEXNET["Mass"]
    assert float(rows[LABELS.index("Mass")]["f1_test_sensitivity_ci_low"]) == pytest.approx(
        mass["operating_points"]["f1"]["test"]["sensitivity_ci"][0]
    )
    assert rows[LABELS.index("Hernia")]["auroc"] == ""
    for png in paths[2:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def read_wandb_summary(path):
    """The summary of an offline `.wandb` file: a log of `Record` protos in 32 KiB
    blocks of chunks (crc 4 bytes, length 2, type 1 full/2 first/3 middle/4 last)."""
    block, data = 32 * 1024, path.read_bytes()
    summary, pending, pos = {}, b"", 7  # after the ":W&B" header
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block tail padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        pending, pos = pending + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record.FromString(pending)
            for item in record.summary.update:
                summary[item.key or ".".join(item.nested_key)] = json.loads(item.value_json)
            pending = b""
    return summary


def test_rendered_report_puts_table_plots_and_macro_in_an_offline_run(
    official_report, tmp_path, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    run = wandb.init(project="cxr-test", dir=str(tmp_path), mode="offline")
    result = classification_report.render(
        report=official_report, eval_dir=EvalDir(tmp_path / "eval")
    )
    writer.write([result], wandb_run=run, prefix="test")
    run.finish()
    wandb.teardown()  # waits for wandb-core to flush the .wandb file

    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    summary = read_wandb_summary(next(run_dir.glob("run-*.wandb")))
    macro = official_report["macro"]
    assert summary["test/macro_auroc"] == pytest.approx(macro["auroc"])
    assert summary["test/macro_auroc_ci_low"] == pytest.approx(macro["ci_low"])
    assert summary["test/macro_auroc_ci_high"] == pytest.approx(macro["ci_high"])
    assert summary["test/auroc/Mass"] == pytest.approx(
        official_report["per_label"]["Mass"]["auroc"]
    )
    for key in ("test/roc", "test/auroc_ci"):
        assert (run_dir / "files" / summary[f"{key}.path"]).exists()
    table = json.loads((run_dir / "files" / summary["test/per_label.path"]).read_text())
    assert [row[0] for row in table["data"]] == list(LABELS)
    assert "auroc" in table["columns"] and "published_CheXNet" in table["columns"]
