"""Measured type-I error of the paired AUROC tests, and the rule that withholds p-values.

A null comparison: two models with the same expected AUROC (their scores are
drawn alike, so they are exchangeable) on patients with several images, the
images of a patient correlated and each model's errors correlated within a
patient too. `null_p_values` gives each test's p-values when a label's
positives come from k patients; `main` (the command `cxr type1`) writes the table:

    cxr type1 --out docs/results/type1.json

The committed table was made by `python -m cxr.stats.type1`, as it records, before
this module's command moved to the cxr CLI.

`withheld` reads the committed table: a test whose measured rate exceeds
`MAX_RATE` at a label's positive-patient count gets no p-value for that label.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np

from cxr.stats import bootstrap
from cxr.stats.delong import delong_test
from cxr.stats.obuchowski import obuchowski_test

ALPHA = 0.05
MAX_RATE = 0.06  # a p-value whose measured type-I error exceeds this is not shown
TESTS = ("obuchowski", "delong", "bootstrap")
COUNTS = (2, 3, 5, 10, 30)  # positive patients per label, as measured
TABLE_FILE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "results" / "type1.json"
TABLE_NAME = "docs/results/type1.json"
# The simulated split: as many patients as the audit's, images per patient 1 + Poisson,
# a positive patient's images each positive with this probability (its first always).
SETTING = {
    "num_patients": 110,
    "mean_extra_images": 2.5,
    "image_positive_probability": 0.7,
    "signal": 1.0,  # mean score shift of a positive image, both models
    "patient_sd": 1.0,  # patient effect shared by both models
    "model_patient_sd": 0.5,  # each model's own error, shared by a patient's images
    "image_sd": 0.5,  # image effect shared by both models
    "model_image_sd": 0.7,  # each model's own error per image
}


def simulate_split(num_positive_patients, rng, setting=SETTING):
    """One null split: (scores_a, scores_b, labels, patients), both models drawn alike.

    Args:
        num_positive_patients: k, the patients holding the label's positives.
        rng: A `numpy.random.Generator`.
        setting: The simulation's parameters (`SETTING`).
    """
    num_patients = setting["num_patients"]
    per_patient = 1 + rng.poisson(setting["mean_extra_images"], num_patients)
    patients = np.repeat(np.arange(num_patients), per_patient)
    first = np.r_[True, patients[1:] != patients[:-1]]
    sick = patients < num_positive_patients
    labels = sick & (first | (rng.random(len(patients)) < setting["image_positive_probability"]))
    shared = setting["signal"] * labels + setting["patient_sd"] * rng.normal(size=num_patients)[patients]  # fmt: skip
    shared = shared + setting["image_sd"] * rng.normal(size=len(patients))

    def model():
        own = setting["model_patient_sd"] * rng.normal(size=num_patients)[patients]
        return shared + own + setting["model_image_sd"] * rng.normal(size=len(patients))

    return model(), model(), labels.astype(float), patients


def null_p_values(num_positive_patients, *, num_simulations, num_bootstrap, seed, tests=TESTS):
    """Each test's p-values on `num_simulations` null splits.

    Args:
        num_positive_patients: k, the patients holding the label's positives.
        num_simulations: Null splits to draw.
        num_bootstrap: Resamples of the patient bootstrap's p-value.
        seed: Seed of the splits and resamples.
        tests: The tests to run, of `TESTS`.

    Returns:
        {test: p-values (num_simulations,)}; NaN where a test is undefined.
    """
    rng = np.random.default_rng(seed)
    p = {test: np.full(num_simulations, math.nan) for test in tests}
    for s in range(num_simulations):
        a, b, labels, patients = simulate_split(num_positive_patients, rng)
        if "obuchowski" in p:
            p["obuchowski"][s] = obuchowski_test(a, b, labels, patients)["p"]
        if "delong" in p:
            p["delong"][s] = delong_test(a, b, labels)["p"]
        if "bootstrap" not in p:
            continue
        counts = bootstrap.resample_patients(patients[-1] + 1, num_bootstrap, rng)
        counts = counts.astype(np.int32)
        diffs = bootstrap.weighted_auroc(b, labels, counts, patients)
        diffs -= bootstrap.weighted_auroc(a, labels, counts, patients)
        p["bootstrap"][s] = bootstrap.bootstrap_p_value(diffs)
    return p


def rejection_rates(p_values):
    """{test: {rate, rejections, defined}}: the share of defined p-values below `ALPHA`."""
    rates = {}
    for test, p in p_values.items():
        defined = np.isfinite(p)
        rejections = int((p[defined] < ALPHA).sum())
        n = int(defined.sum())
        rates[test] = {
            "rate": rejections / n if n else math.nan,
            "rejections": rejections,
            "defined": n,
        }
    return rates


def study(*, counts=COUNTS, num_simulations=2000, num_bootstrap=1000, seed=0):
    """The type-I table: one row per positive-patient count (seeds seed, seed + 1, ...)."""
    rows = []
    for i, k in enumerate(counts):
        p = null_p_values(
            k, num_simulations=num_simulations, num_bootstrap=num_bootstrap, seed=seed + i
        )
        rows.append({"positive_patients": k, **rejection_rates(p)})
    return {
        "alpha": ALPHA,
        "max_rate": MAX_RATE,
        "num_simulations": num_simulations,
        "num_bootstrap": num_bootstrap,
        "seed": seed,
        "setting": SETTING,
        "rows": rows,
    }


def load_table(path=TABLE_FILE):
    """The committed type-I table, or None when the file is absent."""
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def withheld(test, positive_patients, table):
    """Why `test`'s p-value is not shown for a label with this many positive patients, or None.

    The rule: take the table's row of the largest measured count at or below
    `positive_patients` (type-I error falls as positive patients grow, so this
    errs toward withholding); withhold when its rate exceeds `MAX_RATE`, or when
    the count is below every measured one. No table: nothing is withheld.

    Args:
        test: One of `TESTS`.
        positive_patients: The label's patients with a positive image.
        table: `load_table()`'s dict, or None.
    """
    if table is None:
        return None
    row = measured_row(positive_patients, table)
    if row is None:
        smallest = min(r["positive_patients"] for r in table["rows"])
        return f"type-I error not measured below {smallest} positive patients ({TABLE_NAME})"
    rate = row[test]["rate"]
    if rate > table["max_rate"]:
        return (
            f"{test} rejects {rate:.0%} of true nulls at 0.05 with "
            f"{row['positive_patients']} positive patients ({TABLE_NAME})"
        )
    return None


def measured_row(positive_patients, table):
    """The table's row that judges a label with this many positive patients (`withheld`'s
    rule: the largest measured count at or below it), or None when below every one."""
    rows = [r for r in table["rows"] if r["positive_patients"] <= positive_patients]
    return max(rows, key=lambda r: r["positive_patients"], default=None)


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0))}


def _commit():
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def main(argv=None, prog="cxr type1"):
    """The study as a command: writes the table with its provenance, prints the rates.

    Args:
        argv: The arguments (--out, --num-simulations, --num-bootstrap, --seed).
        prog: The command that runs this, as recorded in the table's "command".
    """
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--num-simulations", type=int, default=2000)
    parser.add_argument("--num-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    table = study(
        num_simulations=args.num_simulations, num_bootstrap=args.num_bootstrap, seed=args.seed
    )
    finished = datetime.datetime.now(datetime.UTC)
    provenance = {
        "command": " ".join([prog, *(sys.argv[1:] if argv is None else argv)]),
        "commit": _commit(),
        "date": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds()),
        "machine": _machine(),
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**provenance, **table}, indent=1) + "\n")
    for row in table["rows"]:
        rates = "  ".join(f"{t} {row[t]['rate']:.3f}" for t in TESTS)
        print(f"{row['positive_patients']:>3} positive patients: {rates}")
