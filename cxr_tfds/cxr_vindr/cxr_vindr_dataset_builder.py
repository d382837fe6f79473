"""`cxr_vindr`: VinDr-CXR (Nguyen et al., Scientific Data 2022), its 3 readers kept apart.

    import cxr_tfds.builders, tensorflow_datasets as tfds  # registers cxr_vindr
    ds = tfds.load("cxr_vindr/224", split="train")  # manual dir: Kaggle's layout

Per image: `raw_labels` (int8, 14: the readers, 0-3, who marked each finding; the rule
that makes labels of them is `labels.targets(raw, readers=...)`, chosen when the data is
read), `boxes` (the readers' boxes fused by `fusion.fuse`, a majority of 2 at IoU 0.5 by
default) and `reader_boxes` (each reader's own). Boxes are normalised from the original
DICOM's pixels. `patient_id` is the image id: VinDr-CXR's files carry no patient id.

Bad input: an unreadable CSV row stops the build before anything is written
(`annotations.AnnotationError`, naming the line). A listed image without its DICOM, or a
DICOM that cannot be read, is a counted skip. A box reaching outside its image (known
only once the DICOM is read) is a counted skip of that box, its CSV line in the log; the
image and its `raw_labels` are kept. See README.md beside this file.
"""

import dataclasses
import io
import os
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath
from PIL import Image

from cxr_tfds import dicom, release_features
from cxr_tfds.cxr14_subset import images
from cxr_tfds.cxr_vindr import annotations, fusion, source_dir, splits
from cxr_tfds.cxr_vindr.labels import LABEL_NAMES

PROGRESS_EVERY = 1000  # images between two progress lines of a split


@dataclasses.dataclass
class CxrVindrConfig(tfds.core.BuilderConfig):
    """How to build.

    Attributes:
        image_size: side in pixels of the stored square grayscale images.
        validation_percent: share of the training images (by image id) in `validation`.
        box_iou: the IoU at which a reader's box joins another's cluster (`fusion`).
        box_readers: readers a fused box needs (2: a majority of 3).
    """

    image_size: int = 224
    validation_percent: int = 10
    box_iou: float = 0.5
    box_readers: int = 2


def _box_features(**extra) -> tfds.features.Sequence:
    return tfds.features.Sequence(
        {
            "bbox": tfds.features.BBoxFeature(),
            "label": tfds.features.ClassLabel(names=LABEL_NAMES),
            **extra,
        }
    )


class CxrVindr(tfds.core.GeneratorBasedBuilder):
    """VinDr-CXR: DICOMs, 3 readers' findings as counts, their boxes fused and as drawn."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = release_features.size_configs(CxrVindrConfig, (224, 512, 64))
    DEFAULT_CONFIG_NAME = "224"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put VinDr-CXR in the manual dir as its release ships it: {source_dir.EXPECTED_FILES}. "
        f"Get it from {source_dir.URL} (credentialed access; research use only)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # patient_id is the image id: VinDr-CXR has no patient ids
                    **release_features.common(size, len(LABEL_NAMES)),
                    "original_width": np.int32,
                    "original_height": np.int32,
                    "readers": tfds.features.Sequence(tfds.features.Text()),
                    "boxes": _box_features(readers=np.int32),
                    "reader_boxes": _box_features(reader=tfds.features.Text()),
                }
            ),
            homepage="https://physionet.org/content/vindr-cxr/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = self._root(dl_manager)
        train_csv = source_dir.first(root, source_dir.TRAIN_CSVS)
        train = annotations.read(train_csv, strict_classes=train_csv.name.startswith("train."))
        test_csv = source_dir.first(root, source_dir.TEST_CSVS)
        test = annotations.read(test_csv, strict_classes=False) if test_csv else None
        on_disk = {
            name: source_dir.dicoms(root / name)
            for name in (source_dir.TRAIN_IMAGES, source_dir.TEST_IMAGES)
        }
        plan = splits.plan(
            train.images,
            on_disk["train"],
            test.images if test else (),
            on_disk["test"] if test else (),
            self.builder_config.validation_percent,
        )
        _log_plan(train_csv, train, test_csv, test, on_disk, plan)
        sources = {"train": (train, on_disk["train"]), "validation": (train, on_disk["train"])}
        if test:
            sources["test"] = (test, on_disk["test"])
        return {
            split: self._generate_examples(split, ids, *sources[split])
            for split, ids in plan.splits.items()
            if ids
        }

    def _generate_examples(self, split, ids, read, paths):
        config = self.builder_config
        consensus = split == "test"
        start, written, unreadable, outside = time.time(), 0, [], []
        results = images.parallel_map(
            lambda image_id: dicom_png(paths[image_id], config.image_size),
            ids,
            workers=images.build_workers(),
        )
        for image_id, result, error in results:
            if error is not None:
                if not isinstance(error, (dicom.DicomError, images.UnreadableImage, OSError)):
                    raise error
                unreadable.append(image_id)
                logging.warning("cxr_vindr: skipped %s: %s", image_id, error)
                continue
            png, width, height = result
            image = read.images[image_id]
            inside = [b for b in image.boxes if b.x_max <= width and b.y_max <= height]
            outside += [b.line for b in image.boxes if b not in inside]
            if consensus:
                fused = fusion.as_drawn(inside)
            else:
                fused = fusion.fuse(inside, config.box_iou, config.box_readers)
            yield image_id, _example(image, png, width, height, inside, fused, consensus)
            written += 1
            if written % PROGRESS_EVERY == 0:
                _log_progress(split, written, len(ids), start)
        _log_done(split, written, start, unreadable, outside)

    def _root(self, dl_manager):
        """The manual dir, checked before anything is read or written."""
        try:  # TFDS's property asserts the folder exists and is not empty
            manual = dl_manager.manual_dir
        except (AssertionError, ValueError):
            manual = getattr(dl_manager, "_manual_dir", None)
        problem = source_dir.lacks(manual)
        if problem:
            raise FileNotFoundError(f"cxr_vindr: {source_dir.no_files(problem)}")
        return epath.Path(manual).expanduser()


def dicom_png(path, size: int) -> tuple[bytes, int, int]:
    """A DICOM as an 8-bit grayscale `size` x `size` PNG, with its original width and height.

    Raises:
        cxr_tfds.dicom.DicomError: a file that cannot be read (the build skips it).
    """
    gray = dicom.read_gray(os.fspath(path))
    height, width = gray.shape
    out = io.BytesIO()
    Image.fromarray(images.resize_gray(gray, size)).save(out, format="PNG")
    return out.getvalue(), width, height


def _bbox(box, width, height) -> tfds.features.BBox:
    return tfds.features.BBox(
        ymin=box.y_min / height,
        xmin=box.x_min / width,
        ymax=box.y_max / height,
        xmax=box.x_max / width,
    )


def _example(image, png, width, height, inside, fused, consensus) -> dict:
    return {
        "image": png,
        "image_id": image.image_id,
        "patient_id": image.image_id,
        "original_width": width,
        "original_height": height,
        "raw_labels": image.raw(consensus),
        "readers": sorted(image.readers),
        "boxes": [
            {"bbox": _bbox(b, width, height), "label": b.finding, "readers": b.readers}
            for b in fused
        ],
        "reader_boxes": [
            {"bbox": _bbox(b, width, height), "label": b.finding, "reader": b.reader}
            for b in inside
        ],
    }


def _log_plan(train_csv, train, test_csv, test, on_disk, plan) -> None:
    logging.info(
        "cxr_vindr: %s lists %d images; %d DICOMs in train/; %s",
        train_csv,
        len(train.images),
        len(on_disk["train"]),
        ", ".join(f"{k}: {len(v)}" for k, v in plan.splits.items()),
    )
    if test is None:
        logging.info(
            "cxr_vindr: no official test set here (test/ with annotations_test.csv); "
            "no test split in this build"
        )
    for split, ids in plan.missing.items():
        if ids:
            logging.warning(
                "cxr_vindr: skipped %d %s images listed without a DICOM (e.g. %s)",
                len(ids),
                split,
                ", ".join(ids[:3]),
            )
    for source in (train, test):
        for name, rows in (source.left_out if source else {}).items():
            logging.warning("cxr_vindr: left out %d rows of %r (not one of the 14)", rows, name)


def _log_progress(split, written, total, start) -> None:
    seconds = time.time() - start
    logging.info(
        "cxr_vindr: %s: %d of %d images (%.1f images/s)",
        split,
        written,
        total,
        written / max(seconds, 1e-9),
    )


def _log_done(split, written, start, unreadable, outside) -> None:
    seconds = time.time() - start
    logging.info(
        "cxr_vindr: %s: wrote %d images in %.1f s (%.1f images/s); %d unreadable skipped%s",
        split,
        written,
        seconds,
        written / max(seconds, 1e-9),
        len(unreadable),
        f": {', '.join(unreadable)}" if unreadable else "",
    )
    if outside:
        logging.warning(
            "cxr_vindr: %s: skipped %d boxes reaching outside their image (CSV lines %s)",
            split,
            len(outside),
            ", ".join(map(str, sorted(outside)[:20])),
        )
