"""Synthetic radiologists' labels for the synthetic twin, in the layout and quirks of Google's.

`write_expert_dirs` writes `all_findings_expert_labels/` and `four_findings_expert_labels/`
beside the synthetic NIH files (see `expert_labels` for the real files). Each reader is a noisy
copy of the synthetic truth (the findings the image was drawn with); the adjudicated label is the
majority of the image's panel, as in Google's sets, so a model can be compared both with the
panel's label and with the readers outside it. The same arguments give byte-identical files.
"""

import pathlib

import numpy as np

from cxr_tfds.cxr14_subset import expert_labels
from cxr_tfds.labels import LABELS

# A reader misses a present finding this often, and calls an absent one this often.
MISS_RATE = 0.2
FALSE_CALL_RATE = 0.03
HEDGE_RATE = 0.05  # four findings: Pneumothorax and Nodule/mass calls left uncertain
FRACTURE_RATE = 0.04  # the synthetic images draw no fracture; the label is noise on purpose
# The real set's reader ids, so the same code picks the panel and the independent readers.
ALL_READERS = ("4343880271", "4343882583", *expert_labels.ALL_GROUND_TRUTH_READERS)
FOUR_READERS = tuple(str(4295000000 + k) for k in range(6))  # 3 drawn per image
# The four findings as unions of NIH findings (an approximation made for the twin only).
FOUR_FROM_NIH = {
    "Fracture": (),
    "Pneumothorax": ("Pneumothorax",),
    "Airspace opacity": ("Consolidation", "Edema", "Infiltration", "Pneumonia"),
    "Nodule or mass": ("Mass", "Nodule"),
}
_YES_NO = ("NO", "YES")


def write_expert_dirs(out_dir, patients, test_ids, seed: int) -> None:
    """Writes both expert folders into `out_dir`.

    Args:
        out_dir: the synthetic NIH folder.
        patients: `synthetic.sample_patients`'s list.
        test_ids: ids of the patients on the test list.
        seed: seed of the readers' noise.
    """
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng([seed, 5])
    rows = [(p, im) for p in patients for im in p["images"]]
    test = [(p, im) for p, im in rows if p["id"] in test_ids]
    # As in Google's sets: all findings on PA test films, four findings on all test films
    # and on some train_val ones (here every tenth patient's).
    _write_all(
        out_dir / "all_findings_expert_labels", [r for r in test if r[1]["view"] == "PA"], rng
    )
    val = [(p, im) for p, im in rows if p["id"] not in test_ids and p["id"] % 10 == 0]
    _write_four(out_dir / "four_findings_expert_labels", test, val, rng)


def _noisy(truth: np.ndarray, rng) -> np.ndarray:
    """One reader's 0/1 calls on 0/1 truths."""
    flip = rng.random(truth.shape) < np.where(truth == 1, MISS_RATE, FALSE_CALL_RATE)
    return np.where(flip, 1 - truth, truth)


def _write_all(folder: pathlib.Path, images, rng) -> None:
    findings = [x.replace("_", " ") for x in LABELS]  # Google writes `Pleural Thickening`
    columns = ["Abnormal", *findings, "Other"]
    truth_rows = ["Image ID,Patient ID," + ",".join(columns)]
    reader_rows = ["Image ID,Patient ID,Reader ID," + ",".join(columns)]
    for patient, image in images:
        truth = np.array([x in image["labels"] for x in LABELS], np.int64)
        calls = {}
        for reader in ALL_READERS:
            found = _noisy(truth, rng)
            other = int(rng.random() < 0.05)
            calls[reader] = np.array([int(found.any() or other), *found, other])
            # Google's reader file says 0/1 for Abnormal, YES/NO elsewhere.
            cells = [str(calls[reader][0]), *(_YES_NO[v] for v in calls[reader][1:])]
            reader_rows.append(f"{image['name']},{patient['id']},{reader}," + ",".join(cells))
        panel = np.stack([calls[r] for r in expert_labels.ALL_GROUND_TRUTH_READERS])
        majority = (panel.sum(axis=0) >= 2).astype(int)
        cells = ",".join(_YES_NO[v] for v in majority)
        truth_rows.append(f"{image['name']},{patient['id']},{cells}")
    _write(folder / "test_labels.csv", truth_rows)
    _write(folder / "test_individual_readers.csv", reader_rows)


def _write_four(folder: pathlib.Path, test, val, rng) -> None:
    names = list(FOUR_FROM_NIH)
    header = (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
        + ",".join(names)
        + ",Set Id"
    )
    readers = ["Patient ID,Image ID,Reader ID,Fracture,Pneumothorax,Airspace opacity,Nodule/mass,Set ID"]  # fmt: skip
    for file_name, images, set_id in (("test_labels.csv", test, "test"), ("validation_labels.csv", val, "val")):  # fmt: skip
        rows = [header]
        for patient, image in images:
            truth = np.array(
                [any(x in image["labels"] for x in FOUR_FROM_NIH[n]) for n in names], np.int64
            )
            truth[0] = int(rng.random() < FRACTURE_RATE)
            panel = []
            for reader in rng.choice(FOUR_READERS, 3, replace=False):
                calls = _noisy(truth, rng).tolist()
                for k in (1, 3):  # only Pneumothorax and Nodule/mass may be hedged
                    calls[k] = -1 if rng.random() < HEDGE_RATE else calls[k]
                panel.append(calls)
                cells = ",".join("HEDGE" if v == -1 else _YES_NO[v] for v in calls)
                readers.append(f"{patient['id']},{image['name']},{reader},{cells},{set_id}")
            majority = ((np.array(panel) == 1).sum(axis=0) >= 2).astype(int)  # a hedge is no yes
            rows.append(_nih_cells(patient, image) + "," + ",".join(_YES_NO[v] for v in majority))
            rows[-1] += f",{set_id}"
        _write(folder / file_name, rows)
    _write(folder / "individual_readers.csv", readers)


def _nih_cells(patient, image) -> str:
    found = "|".join(x for x in LABELS if x in image["labels"]) or "No Finding"
    width, height, spacing = image["size"]
    return (
        f"{image['name']},{found},{image['follow_up']},{patient['id']},{image['age']},"
        f"{patient['sex']},{image['view']},{width},{height},{spacing},{spacing}"
    )


def _write(path: pathlib.Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(rows) + "\n").encode())
