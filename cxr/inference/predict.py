"""Predicts the 14 findings of X-ray files with a trained run, with Grad-CAM overlays.

    cxr-predict PATH... --run runs/<NAME>/<run id> --out DIR [--top 3]
    cxr predict PATH... --run runs/<NAME>/<run id> --out DIR [--operating-point youden]

PATHs are image files or folders (a folder's .png, .jpg, .jpeg and .dcm files, sorted,
not recursive). Reads PNG and JPEG of any size and mode (gray, RGB, RGBA, 16-bit) and
DICOM (see `cxr.data.dicom`; a file given by name is read as DICOM when it starts like one,
whatever its suffix). Writes

    DIR/predictions.csv        one row per image: path, then the 14 probabilities
    DIR/<stem>_<Label>.png     Grad-CAM overlays of each image's top labels

prints each image's probabilities, highest first, and shows a progress bar on stderr
at a terminal (`cxr.runtime.progress`). predictions.csv appears only when the run
succeeds: rows go to predictions.csv.partial, renamed at the end, and removed when the
run fails, so a failure never leaves a CSV that looks like a result. An unreadable file is one stderr line (file and reason) and is skipped;
the exit code is 2 only when no file could be read, or the model is missing or not
ours. A label whose Grad-CAM map is empty (constant: no positive evidence) gets no
overlay, which would look like the bare X-ray: its PNG is the dimmed X-ray under a red
band saying so, and the terminal says so too (`cxr.inference.drawing`).

With `--operating-point` (f1, youden, sensitivity=X or specificity=X; see
`cxr.inference.operating_points`), each label's threshold is chosen on the run's
validation predictions: the CSV gets a `<Label>_decision` column per label (positive,
negative or unsupported), and DIR/thresholds.json beside it holds each label's rule,
threshold, validation sensitivity and specificity, and the validation positives and
negatives they rest on. The terminal prints the points with those counts, a warning
naming each label whose threshold rests on fewer than
`operating_points.MIN_POSITIVES` positives, each decision, and each overlay a band
saying it. A label the validation split cannot support (no positive or no negative
there) is "unsupported", with the reason.

With `--calibrated`, every probability shown and written is temperature-scaled with the
temperatures the run's evaluation fitted on validation (`cxr.inference.temperature`), and
with `--operating-point` too each threshold is mapped through the same scaling: the
decisions are those of the raw probabilities (`operating_points.calibrated`).
"""

import argparse
import csv
import os
import pathlib
import sys

import numpy as np
from PIL import Image
from tqdm import tqdm

from cxr.data import datasets, dicom
from cxr.errors import UserError, exits_cleanly
from cxr.inference import drawing, operating_points, prediction_source, scoring
from cxr.inference.prediction_source import load_run_model  # noqa: F401  (its old home)
from cxr.runtime import progress
from cxr.saliency import gradcam, pointing
from cxr.stats import temperature as scaling
from cxr.tracking.rundir import EvalDir
from cxr_tfds.cxr14_subset import images
from cxr_tfds.labels import LABELS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")
PREDICTIONS_CSV = "predictions.csv"
THRESHOLDS_JSON = "thresholds.json"
DECISION_SUFFIX = "_decision"


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


def predict(paths, run, out_dir, *, top=3, batch_size=32, operating_point=None, **source):
    """Predicts every readable image, writes the CSV and the Grad-CAM PNGs, prints results.

    Args:
        paths: Image files and folders (see the module docstring).
        run: A run directory, or its model.keras; None with `bundled`.
        out_dir: Folder for predictions.csv and the PNGs; created.
        top: Labels per image to draw Grad-CAM for, by probability.
        batch_size: Images read, predicted and explained at a time.
        operating_point: None, or `--operating-point` text: decide each label there.
        source: `calibrated=True` temperature-scales the probabilities (and maps the
            thresholds) with the run's (or bundle's) temperatures; `bundled=<folder>`, a
            `cxr export` bundle instead of `run`: its model, points (f1, youden), temperatures.

    Returns:
        {image path: {label: probability}}, labels highest first, readable images only.

    Raises:
        UserError: for a bad model or operating point, a run without temperatures when
            `calibrated`, and when no file could be read.
    """
    spec = None if operating_point is None else operating_points.parse(operating_point)
    model, points, chosen_on, temperatures = prediction_source.load(run, spec, **source)
    files, problems = find_images(paths)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = _Job(model, out_dir, min(top, len(LABELS)), batch_size, points)
    job.temperatures = None if temperatures is None else temperatures[1]
    partial = out_dir / f"{PREDICTIONS_CSV}.partial"
    try:
        _write_rows(job, files, partial, problems)
        if not job.results:
            raise UserError(f"no image could be read ({len(problems)} skipped, listed above)")
    except BaseException:  # a failure or Ctrl-C: no CSV that looks like a result
        partial.unlink(missing_ok=True)
        raise
    _write_thresholds(
        out_dir / THRESHOLDS_JSON,
        points,
        chosen_on,
        temperatures and temperatures[0].file(EvalDir.TEMPERATURES),
    )
    os.replace(partial, out_dir / PREDICTIONS_CSV)
    skipped = f"; {len(problems)} skipped" if problems else ""
    read = len(job.results)
    extra = f", {THRESHOLDS_JSON}" if points else ""
    print(
        f"{read} image{'s' if read != 1 else ''}{skipped}. {PREDICTIONS_CSV}{extra} and "
        f"top-{job.top} Grad-CAM: {out_dir}"
    )
    return job.results


def _write_rows(job, files, path, problems) -> None:
    """Runs `job` over `files` a batch at a time, writing the CSV's rows to `path`."""
    with (
        open(path, "w", newline="") as csv_file,
        tqdm(
            total=len(files), unit="image", file=sys.stderr, disable=not progress.live(sys.stderr)
        ) as bar,
    ):
        writer = csv.writer(csv_file)
        writer.writerow(csv_header(job.points))
        for start in range(0, len(files), job.batch_size):
            chunk = files[start : start + job.batch_size]
            job.run_batch(chunk, writer, bar, problems)
            csv_file.flush()  # a killed run keeps the finished batches' rows in the .partial
            bar.update(len(chunk))


def _write_thresholds(path, points, chosen_on, calibrated_with=None) -> None:
    """thresholds.json for `points`; without points, removes one an earlier run left, as it
    would describe decision columns this run's CSV does not have."""
    if not points:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f"{path.name}.partial")
    text = operating_points.thresholds_json(
        points, chosen_on=chosen_on, calibrated_with=calibrated_with
    )
    tmp.write_text(text)
    os.replace(tmp, path)


def csv_header(points) -> list[str]:
    """The CSV's columns: path, the probabilities, and `<Label>_decision` with points."""
    decisions = [f"{p.label}{DECISION_SUFFIX}" for p in points or []]
    return ["path", *LABELS, *decisions]


class _Job:
    """What `predict` keeps across batches: the model, options, results and used stems."""

    def __init__(self, model, out_dir, top, batch_size, points):
        self.model, self.out_dir, self.top = model, out_dir, top
        self.batch_size, self.points = batch_size, points
        self.size = model.input.shape[1]
        self.results, self.stems = {}, set()
        self.temperatures = None  # (14,) to temperature-scale every probability (NaN: not)

    def run_batch(self, files, writer, bar, problems):
        """Reads, scores and explains `files`; writes their rows, PNGs and terminal lines."""
        read, grays = [], []
        for path in files:
            try:
                grays.append(read_image(path, self.size))
                read.append(path)
            except UserError as e:
                problems.append(str(e))
                bar.write(f"skipped {e}", file=sys.stderr)
        if not read:
            return
        x = datasets.gray_model_input(np.stack(grays))
        probs = scoring.probabilities(self.model, x, self.batch_size).astype(np.float64)
        if self.temperatures is not None:
            probs = scaling.scale(probs, self.temperatures)
        heatmaps = _heatmaps(self.model, x, probs, self.top, self.batch_size)
        for path, gray, p, maps in zip(read, grays, probs, heatmaps, strict=True):
            writer.writerow([str(path), *(f"{v:.6f}" for v in p), *self.decisions(p)])
            stem = _unique(path.stem, self.stems)
            bar.write(self.report(path, p, gray, maps, stem), file=sys.stdout)
            self.results[str(path)] = {LABELS[k]: float(p[k]) for k in np.argsort(-p)}

    def decisions(self, probs) -> list[str]:
        """Each label's decision at its operating point, in label order; [] without points."""
        return [point.decide(p) for point, p in zip(self.points or [], probs, strict=False)]

    def report(self, path, probs, gray, heatmaps, stem) -> str:
        """Writes the image's PNGs as `<stem>_<Label>.png`; returns its terminal lines."""
        lines, decisions = [str(path)], self.decisions(probs)
        for k in np.argsort(-probs):
            decision = f"  {decisions[k]}" if decisions else ""
            lines.append(f"  {LABELS[k]:<20} {probs[k]:.3f}{decision}")
        for k, heatmap in heatmaps:
            target = self.out_dir / f"{stem}_{LABELS[k]}.png"
            decision = drawing.decision_lines(self.points[k], probs[k]) if self.points else None
            png = drawing.overlay(gray, heatmap, LABELS[k], decision=decision)
            Image.fromarray(png).save(target)
            if pointing.is_empty(heatmap):
                lines.append(
                    f"  no positive Grad-CAM evidence for {LABELS[k]} (map empty): "
                    f"{target.name} is a notice, not an overlay"
                )
        return "\n".join(lines)


def _heatmaps(model, x, probs, top, batch_size):
    """Per image, [(label index, Grad-CAM heatmap)] for its `top` labels, highest first.

    Args:
        x: the images, preprocessed (N, S, S, 3).
    """
    order = np.argsort(-probs, axis=1)[:, :top]
    maps = gradcam.gradcam(
        model, np.repeat(x, top, axis=0), order.reshape(-1), batch_size=batch_size
    )
    maps = maps.reshape(len(x), top, *maps.shape[1:])
    return [list(zip(o, m, strict=True)) for o, m in zip(order, maps, strict=True)]


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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run directory, or its model.keras")
    source.add_argument("--model", help="a bundle folder of `cxr export`, instead of --run")
    parser.add_argument("--out", required=True, help="folder for predictions.csv and overlays")
    parser.add_argument("--top", type=_top, default=3, help="labels to draw Grad-CAM for")
    parser.add_argument(
        "--operating-point",
        help=f"decide each label at a threshold chosen on the run's validation predictions: "
        f"{operating_points.HELP}",
    )
    parser.add_argument(
        "--calibrated",
        action="store_true",
        help="temperature-scale the probabilities (and thresholds) with the temperatures "
        "the run's evaluation fitted on validation",
    )
    args = parser.parse_args(argv)
    predict(
        args.paths,
        args.run,
        args.out,
        top=args.top,
        operating_point=args.operating_point,
        calibrated=args.calibrated,
        bundled=args.model,
    )
    return 0
