"""A seeded, miniature NIH ChestX-ray14 manual directory of synthetic chest X-rays.

`write_manual_dir` writes the files a user downloads from NIH, byte-format-identical to the real
ones, so that the `cxr14_subset/synthetic` config exercises the very parsing code used for real
data, offline and in seconds. Labels, views, sexes, ages and follow-up counts are drawn from the
real distributions (below); each finding leaves its own sign (see `synthetic_signs`) and a box.
"""

import concurrent.futures
import os
import pathlib

import numpy as np
from PIL import Image

from cxr_tfds.cxr14_subset import synthetic_experts, synthetic_signs
from cxr_tfds.labels import BBOX_LABEL_ALIASES, LABELS, NO_FINDING

# ---- Statistics of the real data. ----
# Source: NIH's Data_Entry_2017_v2020.csv (112,120 images, 30,805 patients, 836 distinct
# `Finding Labels`), counted with a throwaway script over the whole file on 2026-11-26.
# fmt: off

# The 60 most common `Finding Labels` with their image counts: 105,916 images, 94.5%.
TOP_FINDING_LABELS = (
    ("No Finding", 60361), ("Infiltration", 9547), ("Atelectasis", 4215), ("Effusion", 3955),
    ("Nodule", 2705), ("Pneumothorax", 2194), ("Mass", 2139), ("Effusion|Infiltration", 1603),
    ("Atelectasis|Infiltration", 1350), ("Consolidation", 1310), ("Atelectasis|Effusion", 1165),
    ("Pleural_Thickening", 1126), ("Cardiomegaly", 1093), ("Emphysema", 892),
    ("Infiltration|Nodule", 829), ("Atelectasis|Effusion|Infiltration", 737), ("Fibrosis", 727),
    ("Edema", 628), ("Cardiomegaly|Effusion", 484), ("Consolidation|Infiltration", 441),
    ("Infiltration|Mass", 420), ("Effusion|Pneumothorax", 403), ("Effusion|Mass", 402),
    ("Atelectasis|Consolidation", 398), ("Mass|Nodule", 394), ("Edema|Infiltration", 392),
    ("Infiltration|Pneumothorax", 345), ("Emphysema|Pneumothorax", 337),
    ("Consolidation|Effusion", 337), ("Pneumonia", 322), ("Effusion|Pleural_Thickening", 251),
    ("Effusion|Nodule", 249), ("Atelectasis|Pneumothorax", 240),
    ("Infiltration|Pleural_Thickening", 210), ("Cardiomegaly|Infiltration", 200),
    ("Atelectasis|Consolidation|Effusion", 200), ("Infiltration|Pneumonia", 199),
    ("Atelectasis|Nodule", 199), ("Edema|Effusion", 189), ("Fibrosis|Infiltration", 185),
    ("Mass|Pneumothorax", 178), ("Atelectasis|Mass", 175), ("Consolidation|Mass", 151),
    ("Nodule|Pleural_Thickening", 140), ("Edema|Infiltration|Pneumonia", 137),
    ("Consolidation|Effusion|Infiltration", 134), ("Mass|Pleural_Thickening", 132),
    ("Nodule|Pneumothorax", 130), ("Consolidation|Nodule", 128),
    ("Edema|Effusion|Infiltration", 127), ("Emphysema|Infiltration", 126),
    ("Cardiomegaly|Effusion|Infiltration", 120), ("Atelectasis|Emphysema", 117),
    ("Atelectasis|Pleural_Thickening", 117), ("Hernia", 110), ("Atelectasis|Pneumonia", 108),
    ("Effusion|Infiltration|Nodule", 106), ("Atelectasis|Fibrosis", 104),
    ("Atelectasis|Consolidation|Infiltration", 104), ("Effusion|Infiltration|Mass", 99),
)
# The other 776 combinations (6,204 images, all with 2 to 9 findings) are drawn as a set size
# from RESIDUAL_SET_SIZES, then findings without replacement weighted by how often each occurs
# in them (RESIDUAL_LABEL_COUNTS, in LABELS order), which keeps every finding's prevalence.
RESIDUAL_IMAGES = 6204
RESIDUAL_SET_SIZES = {2: 1478, 3: 3092, 4: 1247, 5: 301, 6: 67, 7: 16, 8: 1, 9: 2}
RESIDUAL_LABEL_COUNTS = (2330, 879, 1464, 830, 2756, 1044, 670, 117, 2483, 1692, 1451, 1409,
                         665, 1475)
# Share of consecutive follow-ups with identical `Finding Labels`: findings persist.
SAME_LABELS_AS_PREVIOUS = 0.411
VIEW_COUNTS = {"PA": 67310, "AP": 44810}  # per image
SAME_VIEW_AS_PREVIOUS = 0.755  # share of consecutive follow-ups
SEX_COUNTS = {"M": 16630, "F": 14175}  # per patient
# Age at the first image: percentiles 0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100.
FIRST_AGE_PERCENTILES = ((0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100),
                         (0, 6, 17, 23, 33, 47, 58, 66, 71, 79, 95))
# Years between consecutive follow-ups: 0, 1, ..., 5 (the 0.6% with more are left out).
AGE_STEP_COUNTS = (67333, 9348, 2293, 1010, 508, 325)
# Patients with 1, 2, ..., 20 images, and with more (up to 184; drawn here as 21 to 30).
IMAGES_PER_PATIENT_COUNTS = (17503, 4113, 2100, 1330, 938, 787, 608, 494, 387, 320, 281, 235,
                             165, 181, 121, 120, 91, 77, 77, 74, 803)
# The 8 most common (width, height, pixel spacing) of the original DICOMs, 99.4% of images.
ORIGINAL_SIZES = (((2500, 2048, 0.168), 29986), ((2992, 2991, 0.143), 21961),
                  ((3056, 2544, 0.139), 15340), ((2500, 2048, 0.171), 7141),
                  ((2048, 2500, 0.168), 5817), ((2021, 2021, 0.194311), 4264),
                  ((2048, 2500, 0.171), 2838), ((2544, 3056, 0.139), 2418))
# fmt: on

TEST_FRACTION = 0.22  # of patients; NIH's own test list holds 9% of patients, 23% of images
NIH_SIZE = 1024  # BBox_List_2017.csv is in pixels of NIH's 1024 x 1024 PNGs
BBOX_SPELLING = {name: alias for alias, name in BBOX_LABEL_ALIASES.items()}  # Infiltrate
DATA_ENTRY_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"


def _probabilities(counts):
    p = np.asarray(counts, dtype=np.float64)
    return p / p.sum()


def _markov_chain(rng, n, draw, p, same_as_previous):
    """n draws of `draw()` (whose outcomes have probabilities p) for consecutive follow-ups,
    repeating the previous one as often as the real data do.

    Keeping the previous draw with probability k, else drawing afresh, is a Markov chain whose
    stationary distribution stays p, and repeats with probability k + (1 - k) * sum(p^2); k is
    solved from that.
    """
    by_chance = float(np.sum(np.square(p)))
    keep = (same_as_previous - by_chance) / (1 - by_chance)
    out = [draw()]
    for _ in range(n - 1):
        out.append(out[-1] if rng.random() < keep else draw())
    return out


class _LabelSampler:
    """Draws `Finding Labels` sets from the real distribution of combinations."""

    def __init__(self):
        self.combos = [frozenset(s.split("|")) - {NO_FINDING} for s, _ in TOP_FINDING_LABELS]
        self.p = _probabilities([n for _, n in TOP_FINDING_LABELS] + [RESIDUAL_IMAGES])
        self.sizes = list(RESIDUAL_SET_SIZES)
        self.p_size = _probabilities(list(RESIDUAL_SET_SIZES.values()))
        self.p_label = _probabilities(RESIDUAL_LABEL_COUNTS)

    def draw(self, rng):
        i = rng.choice(len(self.p), p=self.p)
        if i < len(self.combos):
            return self.combos[i]
        size = self.sizes[rng.choice(len(self.sizes), p=self.p_size)]
        picked = rng.choice(len(LABELS), size, replace=False, p=self.p_label)
        return frozenset(LABELS[k] for k in picked)


def sample_patients(num_patients, seed):
    """Draws the metadata of every patient and image (no pixels), in a fixed order.

    Args:
      num_patients: number of patients, with IDs 1 to num_patients.
      seed: seed of the draw.

    Returns:
      A list of dicts (id, sex, images), each image a dict (name, follow_up, age, view,
      labels: a frozenset of findings, size: (width, height, pixel spacing)).
    """
    rng = np.random.default_rng([seed, 0])
    labels = _LabelSampler()
    views, p_views = list(VIEW_COUNTS), _probabilities(list(VIEW_COUNTS.values()))
    n_images = np.arange(1, len(IMAGES_PER_PATIENT_COUNTS) + 1)
    p_images = _probabilities(IMAGES_PER_PATIENT_COUNTS)
    sizes, p_sizes = [s for s, _ in ORIGINAL_SIZES], _probabilities([n for _, n in ORIGINAL_SIZES])
    patients = []
    for pid in range(1, num_patients + 1):
        n = int(rng.choice(n_images, p=p_images))
        n = n if n < len(n_images) else int(rng.integers(21, 31))
        age = np.interp(rng.uniform(0, 100), *FIRST_AGE_PERCENTILES)
        steps = rng.choice(len(AGE_STEP_COUNTS), n, p=_probabilities(AGE_STEP_COUNTS))
        ages = np.minimum(int(age) + np.cumsum(steps) - steps[0], 95)
        view = _markov_chain(
            rng, n, lambda: views[rng.choice(2, p=p_views)], p_views, SAME_VIEW_AS_PREVIOUS
        )
        found = _markov_chain(
            rng, n, lambda: labels.draw(rng), labels.p[:-1], SAME_LABELS_AS_PREVIOUS
        )
        sex = str(rng.choice(list(SEX_COUNTS), p=_probabilities(list(SEX_COUNTS.values()))))
        images = [
            dict(
                name=f"{pid:08d}_{k:03d}.png",
                follow_up=k,
                age=int(ages[k]),
                view=view[k],
                labels=found[k],
                size=sizes[rng.choice(len(sizes), p=p_sizes)],
            )
            for k in range(n)
        ]
        patients.append(dict(id=pid, sex=sex, images=images))
    return patients


def _draw_patient(patient, seed, image_size, image_dir):
    """Renders and writes all of one patient's images; returns {image name: boxes}."""
    pid = patient["id"]
    anatomy = synthetic_signs.patient_anatomy(np.random.default_rng([seed, pid, 1]))
    chests, boxes = {}, {}
    for image in patient["images"]:
        labels = image["labels"]
        # Follow-ups share the drawing of their anatomy unless the view or a finding changes it.
        key = (image["view"], "Cardiomegaly" in labels, "Emphysema" in labels)
        if key not in chests:
            chests[key] = synthetic_signs.Chest(
                image_size,
                synthetic_signs.chest_anatomy(anatomy, image["view"], labels),
                image["view"],
                patient["sex"] == "F",
                np.random.default_rng([seed, pid, 2]),
            )
        sign_rngs = {
            label: np.random.default_rng([seed, pid, 3, k]) for k, label in enumerate(LABELS)
        }
        image_rng = np.random.default_rng([seed, pid, 4, image["follow_up"]])
        pixels, boxes[image["name"]] = synthetic_signs.render(
            chests[key], labels, image_rng, sign_rngs
        )
        # zlib level 1: twice as fast as the default, barely larger on noisy films.
        Image.fromarray(pixels, mode="L").save(image_dir / image["name"], compress_level=1)
    return boxes


def write_manual_dir(
    out_dir, *, num_patients: int = 500, seed: int = 0, image_size: int = 256
) -> dict:
    """Writes the NIH files into out_dir (created if needed) and returns a small summary dict
    (num_images, num_patients, num_boxes, per-label positive counts).

    Files: `Data_Entry_2017_v2020.csv`, `train_val_list.txt`, `test_list.txt` (patient
    disjoint), `BBox_List_2017.csv` (one box per finding of every image, in the 1024 px frame
    of NIH's PNGs), `images/*.png` (8-bit grayscale) and synthetic radiologists' labels in
    Google's two expert folders (`synthetic_experts`). The same arguments give byte-identical
    files.

    Args:
      out_dir: the directory to write into, a str or path; created if it does not exist.
      num_patients: number of patients; each has 1 to 30 follow-up images (3.3 on average),
        so the default 500 gives about 1,650 images.
      seed: seed of everything random; the same seed gives byte-identical files.
      image_size: width and height of the PNGs in pixels (NIH's are 1024).

    Returns:
      {"num_images", "num_patients", "num_test_images", "num_boxes", "positives"}, the last a
      dict label -> number of images with that finding, over all 14 labels.
    """
    out_dir = pathlib.Path(os.fspath(out_dir))
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    patients = sample_patients(num_patients, seed)
    images = [image for patient in patients for image in patient["images"]]

    # Threads, not processes: numpy and PNG encoding release the GIL, and the caller may be a
    # TensorFlow process that must not fork. Each patient has its own generators, so the files
    # do not depend on scheduling.
    with concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        boxes = {}
        for result in pool.map(lambda p: _draw_patient(p, seed, image_size, image_dir), patients):
            boxes.update(result)

    _write_boxes(out_dir / "BBox_List_2017.csv", images, boxes, NIH_SIZE / image_size)

    order = np.random.default_rng([seed, 1]).permutation(num_patients)
    test_ids = {patients[i]["id"] for i in order[: int(round(TEST_FRACTION * num_patients))]}
    test = [p["id"] in test_ids for p in patients for _ in p["images"]]
    for name, in_test in (("train_val_list.txt", False), ("test_list.txt", True)):
        names = [im["name"] for im, t in zip(images, test, strict=True) if t == in_test]
        (out_dir / name).write_bytes("\n".join(names).encode())  # NIH's have no final newline
    synthetic_experts.write_expert_dirs(out_dir, patients, test_ids, seed)

    # The Data_Entry CSV last and atomically: its presence tells readers the directory is whole.
    rows = [DATA_ENTRY_HEADER] + [_data_entry_row(p, im) for p in patients for im in p["images"]]
    partial = out_dir / "Data_Entry_2017_v2020.csv.partial"
    partial.write_bytes(("\n".join(rows) + "\n").encode())
    partial.replace(out_dir / "Data_Entry_2017_v2020.csv")

    return dict(
        num_images=len(images),
        num_patients=num_patients,
        num_test_images=sum(test),
        num_boxes=sum(len(b) for b in boxes.values()),
        positives={x: sum(x in im["labels"] for im in images) for x in LABELS},
    )


def _write_boxes(path, images, boxes, scale) -> None:
    """BBox_List_2017.csv: one box per finding, in pixels of NIH's 1024 px PNGs."""
    rows = [BBOX_HEADER]
    for im in images:
        for label, box in boxes[im["name"]]:
            coords = ",".join(f"{round(x * scale, 2):g}" for x in box)
            rows.append(f"{im['name']},{BBOX_SPELLING.get(label, label)},{coords}")
    path.write_bytes(("\n".join(rows) + "\n").encode())


def _data_entry_row(patient, im) -> str:
    found = "|".join(x for x in LABELS if x in im["labels"]) or NO_FINDING
    width, height, spacing = im["size"]
    return (
        f"{im['name']},{found},{im['follow_up']},{patient['id']},{im['age']},"
        f"{patient['sex']},{im['view']},{width},{height},{spacing},{spacing}"
    )
