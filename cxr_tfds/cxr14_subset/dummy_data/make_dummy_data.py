"""Writes the tiny NIH-format manual dirs used by the builder test (run from anywhere).

    python cxr_tfds/cxr14_subset/dummy_data/make_dummy_data.py

Every file here is made by this script; none is copied from NIH. The images are
64x64 gradients with a bright square where the image's box is, so tests can
check that boxes land on the right pixels. `dummy_data/` itself is a manual dir
with NIH's 2020 CSV and every awkward case; `kaggle_2017/` is one with only the
older CSV, in Kaggle's layout; `downloads/images_001.tar.gz` stands in for a
downloaded NIH archive.
"""

import io
import pathlib
import tarfile

import numpy as np
from PIL import Image

HERE = pathlib.Path(__file__).parent
SIZE = 64
HEADER_2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"

# name, labels, age, sex, view, list ("train_val", "test" or None), where, kind
IMAGES = [
    ("00000001_000", "Cardiomegaly", 58, "M", "PA", "train_val", "images", "gray"),
    ("00000001_001", "Effusion|Infiltration", 58, "M", "PA", "train_val", "images", "rgba"),
    ("00000002_000", "No Finding", 0, "F", "AP", "train_val", "images", "16bit"),
    ("00000003_000", "Mass|Nodule", 33, "F", "PA", "train_val", "images_002/images", "gray"),
    ("00000003_001", "Atelectasis", 33, "F", "PA", "train_val", "images_002/images", "48x40"),
    ("00000004_000", "Hernia", 412, "M", "PA", "train_val", "images", "gray"),
    ("00000005_000", "Pneumonia", 71, "F", "PA", "train_val", "images_003.tar.gz", "gray"),
    ("00000005_001", "Pneumonia", 71, "F", "PA", "train_val", "images_003.tar.gz", "truncated"),
    ("00000006_000", "Nodule", 45, "M", "PA", "test", "images", "gray"),
    ("00000006_001", "Infiltration", 45, "M", "PA", "test", "images", "gray"),
    ("00000006_002", "No Finding", 45, "M", "PA", "test", "images", "empty"),
    ("00000007_000", "Effusion|Pneumothorax", 29, "F", "AP", "test", "images_003.tar.gz", "gray"),
    ("00000007_001", "No Finding", 29, "F", "PA", "test", "images", "jpeg"),
    ("00000008_000", "Emphysema", 66, "M", "PA", None, "images", "gray"),
    (
        "00000009_000",
        "Emphysema",
        52,
        "M",
        "PA",
        "train_val",
        "downloads/images_001.tar.gz",
        "gray",
    ),
    ("00000010_000", "Fibrosis", 60, "F", "PA", "train_val", None, None),
    (
        "00000012_000",
        "Consolidation|Edema|Fibrosis|Pleural_Thickening",
        40,
        "F",
        "PA",
        "train_val",
        "downloads/images_001.tar.gz",
        "gray",
    ),
]
NOT_IN_CSV = "00000011_000"
# image, NIH label, x, y, w, h in the 1024-pixel frame
BOXES = [
    ("00000006_000", "Nodule", 256.0, 512.0, 128.0, 128.0),
    ("00000006_001", "Infiltrate", 512.0, 256.0, 256.0, 384.0),
    ("00000007_000", "Pneumothorax", 128.0, 128.0, 320.0, 192.0),
]
KAGGLE_2017 = ["00000001_000", "00000004_000", "00000006_000"]
# RSNA's labels (rsna_pneumonia/): challenge id, image, mse, class, boxes (x, y, w, h) in the
# 1024 frame. A box touching the right edge; the same image matched twice, agreeing; a
# non-match (mse > 30), which the builder drops.
RSNA = [
    (
        "r1",
        "00000006_000",
        1.5,
        "Lung Opacity",
        [(700.0, 300.0, 324.0, 200.0), (100, 300, 200, 250)],
    ),
    ("r2", "00000001_000", 0.7, "Normal", []),
    ("r3", "00000001_000", 0.7, "Normal", []),
    ("r4", "00000003_000", 2.0, "No Lung Opacity / Not Normal", []),
    ("r5", "00000004_000", 45.0, "Lung Opacity", [(10.0, 20.0, 30.0, 40.0)]),
]


def pixels(name: str, width=SIZE, height=SIZE) -> np.ndarray:
    """A gradient, with the image's box (if any) painted white."""
    seed = int(name.replace("_", ""))
    gray = (np.add.outer(np.arange(height), np.arange(width)) * 2 + seed * 7) % 200
    gray = gray.astype(np.uint8)
    for image, _, x, y, w, h in BOXES:
        if image == name:
            s = width / 1024
            gray[int(y * s) : int((y + h) * s), int(x * s) : int((x + w) * s)] = 255
    return gray


def png_bytes(name: str, kind: str) -> bytes:
    out = io.BytesIO()
    gray = pixels(name)
    if kind == "rgba":
        Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)])).save(out, "PNG")
    elif kind == "16bit":
        Image.fromarray(gray.astype(np.uint16) * 257).save(out, "PNG")
    elif kind == "48x40":
        Image.fromarray(pixels(name, 48, 40)).save(out, "PNG")
    elif kind == "jpeg":
        Image.fromarray(gray).save(out, "JPEG")
    else:
        Image.fromarray(gray).save(out, "PNG")
    data = out.getvalue()
    return {"empty": b"", "truncated": data[: len(data) // 2]}.get(kind, data)


def entry_2020(name, labels, age, sex, view):
    patient, follow_up = (int(part) for part in name.split("_"))
    return f"{name}.png,{labels},{follow_up},{patient},{age},{sex},{view},2500,2048,0.143,0.143"


def entry_2017(name, labels, age, sex, view):
    patient, follow_up = name.split("_")
    return (
        f"{name}.png,{labels},{follow_up},{patient},{age:03d}Y,{sex},{view},2500,2048,0.143,0.143"
    )


def write_tar(path: pathlib.Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"images/{name}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_lists(root: pathlib.Path, images) -> None:
    for list_name, key in (("train_val_list.txt", "train_val"), ("test_list.txt", "test")):
        names = [f"{img[0]}.png" for img in images if img[5] == key]
        (root / list_name).write_text("\n".join(names))  # no final newline, as NIH's


def write_rsna(root: pathlib.Path) -> None:
    """RSNA's three files, made up, in `root/rsna_pneumonia/` (headers: its header only)."""
    folder = root / "rsna_pneumonia"
    folder.mkdir(exist_ok=True)
    labels = ["patientId,x,y,width,height,Target"]
    for challenge_id, *_, boxes in RSNA:
        labels += [f"{challenge_id},{x},{y},{w},{h},1" for x, y, w, h in boxes] or [
            f"{challenge_id},,,,,0"
        ]
    (folder / "stage_2_train_labels.csv").write_text("\n".join(labels) + "\n")
    crossref = [f"{c},{i}.png,{mse},{cls}" for c, i, mse, cls, _ in RSNA]
    text = "\n".join(["patientId,Image Index,mse,class", *crossref]) + "\n"
    (folder / "nih_crossref.csv").write_text(text)
    (folder / "stage_2_train_images_dicom_headers.csv").write_text(
        ",BodyPartExamined,PatientAge,PatientID,PatientSex,ViewPosition\n"
    )


def main() -> None:
    root = HERE
    rows = [entry_2020(*img[:5]) for img in IMAGES]
    rows.insert(1, rows[0])  # an exact duplicate row, as careless merges produce
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join([HEADER_2020, *rows]) + "\n")
    # The older file disagrees on 00000003_000's labels: the builder must prefer v2020.
    old = [entry_2017(*img[:5]).replace("Mass|Nodule", "Mass") for img in IMAGES]
    (root / "Data_Entry_2017.csv").write_bytes("\r\n".join([HEADER_2020 + ",", *old, ""]).encode())
    write_lists(root, IMAGES)
    boxes = [f"{b[0]}.png,{b[1]},{b[2]},{b[3]},{b[4]},{b[5]}" for b in BOXES]
    (root / "BBox_List_2017.csv").write_text("\n".join([BBOX_HEADER, *boxes]) + "\n")

    archives: dict[str, dict[str, bytes]] = {}
    for name, *_, where, kind in IMAGES:
        if where is None:
            continue
        if where.endswith(".tar.gz"):
            archives.setdefault(where, {})[name] = png_bytes(name, kind)
        else:
            (root / where).mkdir(parents=True, exist_ok=True)
            (root / where / f"{name}.png").write_bytes(png_bytes(name, kind))
    for where, members in archives.items():
        write_tar(root / where, members)
    (root / "images" / f"{NOT_IN_CSV}.png").write_bytes(png_bytes(NOT_IN_CSV, "gray"))
    write_rsna(root)

    kaggle = root / "kaggle_2017"
    subset = [img for img in IMAGES if img[0] in KAGGLE_2017]
    (kaggle / "images_001" / "images").mkdir(parents=True, exist_ok=True)
    (kaggle / "Data_Entry_2017.csv").write_bytes(
        "\r\n".join([HEADER_2020 + ",", *(entry_2017(*img[:5]) for img in subset), ""]).encode()
    )
    write_lists(kaggle, subset)
    for name, *_ in subset:
        (kaggle / "images_001" / "images" / f"{name}.png").write_bytes(png_bytes(name, "gray"))


if __name__ == "__main__":
    main()
