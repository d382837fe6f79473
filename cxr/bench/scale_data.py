"""Data for `cxr.bench.scale`: NIH-shaped manual dirs of N images, nested in N.

The metadata is NIH's own (`Data_Entry_2017_v2020.csv`, both lists, the boxes) where
a copy is at hand, else drawn by `synthetic.sample_patients`; the pixels are tiny
generated PNGs, so a size of 112,120 images is written in seconds.

    meta = load_metadata(sample_dir, max_images=112_120)
    names = select_images(meta, 15_000)       # a prefix of one fixed patient order
    write_manual_dir(meta, names, out_dir, png_size=32)
"""

import collections
import concurrent.futures
import dataclasses
import os
import pathlib
import zlib

import numpy as np
from PIL import Image

from cxr_tfds.cxr14_subset import metadata, synthetic
from cxr_tfds.labels import BBOX_LABEL_ALIASES, LABELS, NO_FINDING

# NIH boxes 984 of its 25,596 test images' findings; the synthetic fallback boxes as many.
BOXED_SHARE = 984 / 25_596


@dataclasses.dataclass(frozen=True)
class Metadata:
    """NIH's metadata files as lines, for writing back any subset of them.

    Attributes:
        header: the Data_Entry CSV's header line.
        rows: image name -> its Data_Entry line, in the file's order.
        patients: image name -> patient id.
        test: the names on `test_list.txt`; every other row is on `train_val_list.txt`.
        box_header: the box CSV's header line.
        boxes: image name -> its box CSV lines.
        source: where it came from ("NIH <dir>" or "synthetic").
    """

    header: str
    rows: dict[str, str]
    patients: dict[str, int]
    test: frozenset[str]
    box_header: str
    boxes: dict[str, list[str]]
    source: str


def load_metadata(sample_dir, *, max_images: int, seed: int = 0) -> Metadata:
    """NIH's metadata from `sample_dir` when it holds the CSV, else synthetic.

    Args:
        sample_dir: a folder with NIH's metadata files, or None.
        max_images: the synthetic fallback draws patients until it has this many images.
        seed: seed of the synthetic draw.
    """
    root = pathlib.Path(sample_dir) if sample_dir else None
    if root and (root / metadata.DATA_ENTRY_FILES[0]).exists():
        return _nih_metadata(root)
    return _synthetic_metadata(max_images, seed)


def _nih_metadata(root: pathlib.Path) -> Metadata:
    header, *lines = (root / metadata.DATA_ENTRY_FILES[0]).read_text().splitlines()
    rows = {line.split(",", 1)[0]: line for line in lines if line}
    # The 4th field is the patient id; no field before it holds a comma.
    patients = {name: int(line.split(",", 4)[3]) for name, line in rows.items()}
    test = frozenset(metadata.read_image_list(root / metadata.TEST_LIST))
    box_header, *box_lines = (root / metadata.BBOX_FILE).read_text().splitlines()
    boxes = {}
    for line in box_lines:
        if line:
            boxes.setdefault(line.split(",", 1)[0], []).append(line)
    return Metadata(header, rows, patients, test, box_header, boxes, f"NIH {root}")


def _synthetic_metadata(max_images: int, seed: int) -> Metadata:
    """The synthetic generator's patients (no pixels), enough for `max_images` images."""
    num_patients = max(1, int(max_images / 3.0))  # 3.6 images per patient on average
    patients = synthetic.sample_patients(num_patients, seed)
    while sum(len(p["images"]) for p in patients) < max_images:
        num_patients *= 2
        patients = synthetic.sample_patients(num_patients, seed)
    order = np.random.default_rng([seed, 1]).permutation(num_patients)
    test_ids = {patients[i]["id"] for i in order[: round(synthetic.TEST_FRACTION * num_patients)]}
    rows, ids, test, boxes = {}, {}, set(), {}
    rng = np.random.default_rng([seed, 2])
    for patient in patients:
        for im in patient["images"]:
            found = "|".join(x for x in LABELS if x in im["labels"]) or NO_FINDING
            width, height, spacing = im["size"]
            name = im["name"]
            rows[name] = (
                f"{name},{found},{im['follow_up']},{patient['id']},{im['age']},"
                f"{patient['sex']},{im['view']},{width},{height},{spacing},{spacing}"
            )
            ids[name] = patient["id"]
            if patient["id"] in test_ids:
                test.add(name)
                if im["labels"] and rng.random() < BOXED_SHARE:
                    label = sorted(im["labels"])[0]
                    x, y = rng.uniform(100, 700, 2)
                    boxes[name] = [f"{name},{BBOX_LABEL_ALIASES.get(label, label)},{x},{y},200,150"]
    return Metadata(
        synthetic.DATA_ENTRY_HEADER,
        rows,
        ids,
        frozenset(test),
        synthetic.BBOX_HEADER,
        boxes,
        "synthetic",
    )


def patient_order(meta: Metadata, seed: int = 0) -> list[int]:
    """All patients in one fixed order that keeps the test share of images on every prefix.

    Test and train_val patients are shuffled apart, then merged: the next patient is a
    test one whenever the prefix so far holds fewer test images than the whole data's
    share, so every prefix splits its images as NIH's lists split all of them.
    """
    images = collections.Counter(meta.patients.values())
    in_test = {meta.patients[name] for name in meta.test if name in meta.patients}
    rng = np.random.default_rng(seed)
    queues = {
        is_test: list(rng.permutation(sorted(p for p in images if (p in in_test) == is_test)))
        for is_test in (True, False)
    }
    share = sum(images[p] for p in in_test) / max(1, len(meta.patients))
    order, taken, taken_test = [], 0, 0
    while queues[True] or queues[False]:
        is_test = bool(queues[True]) and (not queues[False] or taken_test <= share * taken)
        patient = int(queues[is_test].pop())
        order.append(patient)
        taken += images[patient]
        taken_test += images[patient] if is_test else 0
    return order


def select_images(meta: Metadata, n: int, order: list[int] | None = None) -> list[str]:
    """The first `n` images of the patients in `order` (default `patient_order(meta)`).

    Whole patients, except that the last one may be cut to make exactly `n`; so the
    selection of a smaller `n` is always part of a larger one's.

    Returns:
        Image names in the Data_Entry CSV's order.
    """
    if n > len(meta.rows):
        raise ValueError(f"{n} images asked for; the metadata ({meta.source}) has {len(meta.rows)}")
    by_patient = {}
    for name, patient in meta.patients.items():
        by_patient.setdefault(patient, []).append(name)
    chosen = []
    for patient in order if order is not None else patient_order(meta):
        chosen += by_patient[patient][: n - len(chosen)]
        if len(chosen) >= n:
            break
    keep = set(chosen)
    return [name for name in meta.rows if name in keep]


def write_manual_dir(meta: Metadata, names: list[str], out_dir, *, png_size: int) -> dict:
    """Writes the NIH files restricted to `names`, and a `png_size` PNG for each.

    The PNGs are seeded noise (one seed per image name), so a name has the same pixels
    at every size of the data.

    Returns:
        {"images", "patients", "test_images", "train_val_images", "boxes", "boxed_images"}.
    """
    out = pathlib.Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for _ in pool.map(lambda name: _write_png(out / "images" / name, png_size), names):
            pass
    test = [name for name in names if name in meta.test]
    train_val = [name for name in names if name not in meta.test]
    boxes = [line for name in names for line in meta.boxes.get(name, [])]
    (out / metadata.TEST_LIST).write_text("\n".join(test))
    (out / metadata.TRAIN_VAL_LIST).write_text("\n".join(train_val))
    (out / metadata.BBOX_FILE).write_text("\n".join([meta.box_header, *boxes]) + "\n")
    # The CSV last: the builder takes a folder with it for a whole manual dir.
    rows = [meta.header, *(meta.rows[name] for name in names)]
    (out / metadata.DATA_ENTRY_FILES[0]).write_text("\n".join(rows) + "\n")
    return {
        "images": len(names),
        "patients": len({meta.patients[name] for name in names}),
        "test_images": len(test),
        "train_val_images": len(train_val),
        "boxes": len(boxes),
        "boxed_images": sum(name in meta.boxes for name in names),
    }


def _write_png(path: pathlib.Path, size: int) -> None:
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path, compress_level=1)
