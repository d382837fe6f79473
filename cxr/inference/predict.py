"""Predicts the 14 findings of X-ray files with a trained run, with Grad-CAM overlays.

    cxr-predict PATH... --run runs/<NAME>/<run id> --out DIR [--top 3]
    cxr predict PATH... --run runs/<NAME>/<run id> --out DIR

PATHs are image files or folders (a folder's .png, .jpg, .jpeg and .dcm files, sorted,
not recursive). Reads PNG and JPEG of any size and mode (gray, RGB, RGBA, 16-bit) and
DICOM (see `cxr.data.dicom`; a file given by name is read as DICOM when it starts like one,
whatever its suffix). Writes

    DIR/predictions.csv        one row per image: path, then the 14 probabilities
    DIR/<stem>_<Label>.png     Grad-CAM overlays of each image's top labels

prints each image's probabilities, highest first, and shows a progress bar on stderr
at a terminal. An unreadable file is one stderr line (file and reason) and is skipped;
the exit code is 2 only when no file could be read, or the model is missing or not
ours. A label whose Grad-CAM map is all zero (no positive evidence) gets no overlay,
which would look like the bare X-ray: its PNG is the dimmed X-ray under a red band
saying so, and the terminal says so too.
"""

import argparse
import csv
import pathlib
import sys

import keras
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from cxr.data import datasets, dicom
from cxr.errors import UserError, exits_cleanly
from cxr.model import densenet
from cxr.saliency import gallery, gradcam
from cxr.tracking.rundir import RunDir
from cxr_tfds.cxr14_subset import images
from cxr_tfds.labels import LABELS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")
PREDICTIONS_CSV = "predictions.csv"
NOTICE_WIDTH = 256  # notices are drawn at least this wide, so their text is legible


def load_run_model(run) -> keras.Model:
    """The model of a run directory (or a .keras path), checked to be a 14-label cxr model.

    Raises:
        UserError: when there is no model, or one cxr cannot load or did not make.
    """
    path = pathlib.Path(run)
    return densenet.load_model(RunDir(path).model_file if path.is_dir() else path, len(LABELS))


def find_images(paths) -> tuple[list[pathlib.Path], list[str]]:
    """The files to read: files as given, folders' image files sorted by name.

    Returns:
        (files, problems): problems are one-line reasons for paths that give no file.
    """
    files, problems = [], []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                problems.append(f"{path}: a folder without {' '.join(IMAGE_SUFFIXES)} files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def read_image(path: pathlib.Path, size: int) -> np.ndarray:
    """The file as a uint8 gray `size` x `size` array, resized as the dataset builder does.

    Raises:
        UserError: the file and why it cannot be read, in one line.
    """
    try:
        if path.suffix.lower() == ".dcm" or dicom.is_dicom(path):
            gray = dicom.read_gray(path)
        else:
            gray = images.to_gray(path.read_bytes(), ("PNG", "JPEG"))
    except images.UnreadableImage as e:
        raise UserError(f"{path}: {e}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    return images.resize_gray(gray, size)


def no_evidence_notice(gray: np.ndarray, label: str) -> np.ndarray:
    """The X-ray, dimmed, under a red band saying that Grad-CAM found no positive evidence.

    Drawn instead of an overlay of an all-zero map, which would be the bare X-ray and
    look like a working overlay with nothing hot.

    Args:
        gray: uint8 (H, W) image.
        label: The label whose map is empty.

    Returns:
        uint8 RGB, at least `NOTICE_WIDTH` pixels wide.
    """
    scale = max(1.0, NOTICE_WIDTH / gray.shape[1])
    width, height = round(gray.shape[1] * scale), round(gray.shape[0] * scale)
    xray = Image.fromarray((gray // 2).astype(np.uint8)).resize((width, height)).convert("RGB")
    lines = ["NO POSITIVE EVIDENCE", f"for {label}", "Grad-CAM map is all zero: no overlay"]
    font_size = width // 12
    font = ImageFont.load_default(size=font_size)
    while font_size > 6 and max(font.getlength(line) for line in lines) > width - 8:
        font_size -= 1  # shrink until the longest line fits between 4-pixel margins
        font = ImageFont.load_default(size=font_size)
    band = round(1.3 * font_size) * len(lines) + 8
    canvas = Image.new("RGB", (width, band + height), (170, 0, 0))
    canvas.paste(xray, (0, band))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((4, 4 + i * round(1.3 * font_size)), line, fill="white", font=font)
    return np.asarray(canvas)


def predict(paths, run, out_dir, *, top=3, batch_size=32):
    """Predicts every readable image, writes the CSV and the Grad-CAM PNGs, prints results.

    Args:
        paths: Image files and folders (see the module docstring).
        run: A run directory, or its model.keras.
        out_dir: Folder for predictions.csv and the PNGs; created.
        top: Labels per image to draw Grad-CAM for, by probability.
        batch_size: Images read, predicted and explained at a time.

    Returns:
        {image path: {label: probability}}, labels highest first, readable images only.

    Raises:
        UserError: for a bad model, and when no file could be read.
    """
    model = load_run_model(run)
    size = model.input.shape[1]
    top = min(top, len(LABELS))
    files, problems = find_images(paths)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, stems = {}, set()
    with (
        open(out_dir / PREDICTIONS_CSV, "w", newline="") as csv_file,
        tqdm(total=len(files), unit="image", file=sys.stderr, disable=None) as bar,
    ):
        writer = csv.writer(csv_file)
        writer.writerow(["path", *LABELS])
        for start in range(0, len(files), batch_size):
            read, grays = [], []
            for path in files[start : start + batch_size]:
                try:
                    grays.append(read_image(path, size))
                    read.append(path)
                except UserError as e:
                    problems.append(str(e))
                    bar.write(f"skipped {e}", file=sys.stderr)
            if read:
                probs = _predict_batch(model, np.stack(grays), batch_size)
                for path, gray, p, heatmaps in zip(
                    read, grays, probs, _heatmaps(model, grays, probs, top, batch_size), strict=True
                ):
                    writer.writerow([str(path), *(f"{v:.6f}" for v in p)])
                    stem = _unique(path.stem, stems)
                    bar.write(_report(path, p, gray, heatmaps, out_dir, stem), file=sys.stdout)
                    results[str(path)] = {LABELS[k]: float(p[k]) for k in np.argsort(-p)}
                csv_file.flush()  # a killed run keeps the rows of finished batches
            bar.update(len(files[start : start + batch_size]))
    if not results:
        raise UserError(f"no image could be read ({len(problems)} skipped, listed above)")
    skipped = f"; {len(problems)} skipped" if problems else ""
    images_read = f"{len(results)} image{'s' if len(results) != 1 else ''}"
    print(f"{images_read}{skipped}. {PREDICTIONS_CSV} and top-{top} Grad-CAM: {out_dir}")
    return results


def _predict_batch(model, grays, batch_size) -> np.ndarray:
    """Probabilities (N, 14); padded to a whole batch, so that `predict` compiles once."""
    x = _preprocess(grays)
    padded = np.pad(x, [(0, -len(x) % batch_size), (0, 0), (0, 0), (0, 0)])
    logits = model.predict(padded, batch_size=batch_size, verbose=0)[: len(x)]
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(logits)).astype(np.float64)


def _preprocess(grays) -> np.ndarray:
    return np.asarray(datasets.preprocess(np.asarray(grays)[..., None]))


def _heatmaps(model, grays, probs, top, batch_size):
    """Per image, [(label index, Grad-CAM heatmap)] for its `top` labels, highest first."""
    order = np.argsort(-probs, axis=1)[:, :top]
    x = np.repeat(_preprocess(grays), top, axis=0)
    maps = gradcam.gradcam(model, x, order.reshape(-1), batch_size=batch_size)
    maps = maps.reshape(len(grays), top, *maps.shape[1:])
    return [list(zip(o, m, strict=True)) for o, m in zip(order, maps, strict=True)]


def _report(path, probs, gray, heatmaps, out_dir, stem) -> str:
    """Writes the image's Grad-CAM PNGs as `<stem>_<Label>.png`; returns its terminal lines."""
    lines = [str(path)] + [f"  {LABELS[k]:<20} {probs[k]:.3f}" for k in np.argsort(-probs)]
    for k, heatmap in heatmaps:
        target = out_dir / f"{stem}_{LABELS[k]}.png"
        if heatmap.any():
            Image.fromarray(gallery.overlay(gray, heatmap)).save(target)
        else:
            Image.fromarray(no_evidence_notice(gray, LABELS[k])).save(target)
            lines.append(
                f"  no positive Grad-CAM evidence for {LABELS[k]} (map all zero): "
                f"{target.name} is a notice, not an overlay"
            )
    return "\n".join(lines)


def _unique(stem: str, used: set) -> str:
    """`stem`, or `stem_2`, `stem_3`... when files of the same name came from other folders."""
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}"
    used.add(name)
    return name


def _top(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


@exits_cleanly
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="image files (PNG, JPEG, DICOM) or folders")
    parser.add_argument("--run", required=True, help="a run directory, or its model.keras")
    parser.add_argument("--out", required=True, help="folder for predictions.csv and overlays")
    parser.add_argument("--top", type=_top, default=3, help="labels to draw Grad-CAM for")
    args = parser.parse_args(argv)
    predict(args.paths, args.run, args.out, top=args.top)
    return 0
