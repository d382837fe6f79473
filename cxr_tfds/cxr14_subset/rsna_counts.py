"""RSNA's labels counted on NIH's full metadata: images per class and boxes per official list
and per `cxr14_subset` split, with the patients (from NIH's CSV) behind them.

    python -m cxr_tfds.cxr14_subset.rsna_counts NIH_DIR [--rsna RSNA_DIR] [--out FILE]

NIH_DIR holds NIH's Data_Entry CSV and both lists (no image is needed: the splits are those a
build of every NIH image would make, config "224": PA and AP, 10% of train_val patients in
validation). RSNA_DIR defaults to the RSNA files found in NIH_DIR (`rsna.find`). Prints the
counts as JSON, with the command, commit, date and machine; `--out` also writes them there.

Pure Python: no TensorFlow.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

from cxr_tfds.cxr14_subset import metadata, rsna, splits


def counts(nih_dir, rsna_dir=None) -> dict:
    """RSNA's counts on NIH's lists and the builder's splits (see the module docstring).

    Raises:
        ValueError: NIH's or RSNA's files missing or bad (naming file and line).
    """
    labels = rsna.read(rsna_dir if rsna_dir is not None else nih_dir)
    root = metadata.find_data_entry(nih_dir)
    if root is None:
        raise ValueError(f"{nih_dir} holds no {metadata.DATA_ENTRY_FILES[0]}")
    entries = metadata.read_data_entry(root)
    train_val, test = (
        metadata.read_image_list(os.path.join(nih_dir, name))
        for name in (metadata.TRAIN_VAL_LIST, metadata.TEST_LIST)
    )
    lists = {"test": set(test), "train_val": set(train_val) - set(test)}
    listed = lists["test"] | lists["train_val"]
    lists["neither"] = set(entries) - listed
    plan = splits.plan_splits(entries, train_val=train_val, test=test, available=set(entries))
    known = [i for i in labels.by_image if i in entries]
    return {
        "reader": labels.counts,
        "kept_not_in_nih_csv": len(labels.by_image) - len(known),
        "patients": len({entries[i].patient_id for i in known}),
        "official_lists": {k: _tally(labels, entries, names) for k, names in lists.items()},
        "splits": {k: _tally(labels, entries, names) for k, names in plan.splits.items()},
    }


def _tally(labels: rsna.RsnaLabels, entries: dict, names) -> dict:
    """Images per class, boxes and NIH patients of the labelled images among `names`."""
    found = {n: labels.by_image[n] for n in names if n in labels.by_image}
    opacity = [n for n, image in found.items() if image.cls == rsna.OPACITY]
    return {
        "images": len(found),
        "images_per_class": {c: sum(i.cls == c for i in found.values()) for c in rsna.CLASSES},
        "boxes": sum(len(image.boxes) for image in found.values()),
        "patients": len({entries[n].patient_id for n in found}),
        "opacity_patients": len({entries[n].patient_id for n in opacity}),
    }


def _provenance(argv: list[str]) -> dict:
    """The command, commit, date and machine of this count."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "what": (
            "RSNA's labels on NIH's full metadata: reader counts (matches kept at mse <= "
            f"{rsna.MAX_MSE}, non-matches, duplicates, images per class, boxes), and per "
            "official list and per cxr14_subset split (config 224, every image on disk) the "
            "labelled images per class, boxes and NIH patients"
        ),
        "command": " ".join(["python -m cxr_tfds.cxr14_subset.rsna_counts", *argv]),
        "commit": commit,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version()},
    }


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    """Prints (and with --out writes) the counts as JSON; 2 on bad input, with one line."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nih_dir", help="NIH's folder: Data_Entry CSV and both lists")
    parser.add_argument("--rsna", help="RSNA's folder (default: found in NIH_DIR)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    try:
        result = _provenance(argv) | {"counts": counts(args.nih_dir, args.rsna)}
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
