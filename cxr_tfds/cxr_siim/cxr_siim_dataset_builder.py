"""`cxr_siim`: SIIM-ACR Pneumothorax's training images with their pixel masks, as a TFDS dataset.

    import cxr_tfds.builders, tensorflow_datasets as tfds  # registers cxr_siim
    ds = tfds.load("cxr_siim/224", split="test", download_and_prepare_kwargs=dict(
        download_config=tfds.download.DownloadConfig(manual_dir="<folder>")))

See README.md beside this file for the features, splits and the expected files.
"""

import collections
import dataclasses
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from cxr_tfds import dicom, release_features
from cxr_tfds.cxr14_subset import images
from cxr_tfds.cxr_siim import examples, labels, metadata, source_dir

LOG_EVERY = 1000  # images between progress lines of a build


@dataclasses.dataclass
class CxrSiimConfig(tfds.core.BuilderConfig):
    """How to build SIIM.

    Attributes:
        image_size: side in pixels of the stored square grayscale images and masks.
        validation_percent: share of images (by image-id hash) in `validation`.
        test_percent: share of images (by image-id hash) in `test`.
    """

    image_size: int = 224
    validation_percent: int = 10
    test_percent: int = 10


class CxrSiim(tfds.core.GeneratorBasedBuilder):
    """SIIM-ACR Pneumothorax: DICOMs, a Pneumothorax label and the union of its masks."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = release_features.size_configs(CxrSiimConfig, (224, 512, 64))
    DEFAULT_CONFIG_NAME = "224"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put {source_dir.EXPECTED_FILES} in the manual dir. Get them from "
        f"{source_dir.HOMEPAGE} (the competition's terms: research use)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    **release_features.common(size, len(labels.LABEL_NAMES)),
                    "mask": tfds.features.Image(shape=(size, size, 1), encoding_format="png"),
                    "regions": np.int32,
                    "original_width": np.int32,
                    "original_height": np.int32,
                }
            ),
            supervised_keys=("image", "raw_labels"),
            homepage=source_dir.HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        root = _manual_dir(dl_manager)
        problem = source_dir.lacks(root)
        if problem:
            raise FileNotFoundError(f"cxr_siim: {problem}")
        rows = metadata.read(metadata.find_csv(root))  # stops here on a malformed row
        dicoms = source_dir.find_dicoms(root)
        plan = collections.defaultdict(list)
        for image_id in sorted(rows.images):
            if image_id in dicoms:
                split = examples.split_of(image_id, config.validation_percent, config.test_percent)
                plan[split].append(image_id)
        missing = sorted(set(rows.images) - set(dicoms))
        logging.info(
            "cxr_siim: the CSV has %d rows, %d images (%d with a mask, %d repeated -1 rows "
            "merged); %d DICOMs found; %s",
            rows.rows,
            len(rows.images),
            sum(image.raw_label for image in rows.images.values()),
            rows.repeated_negatives,
            len(dicoms),
            ", ".join(f"{split}: {len(ids)}" for split, ids in sorted(plan.items())),
        )
        if missing:
            logging.warning(
                "cxr_siim: skipped %d listed images with no DICOM (e.g. %s)",
                len(missing),
                ", ".join(missing[:3]),
            )
        return {
            split: self._generate_examples(split, ids, rows.images, dicoms)
            for split, ids in plan.items()
        }

    def _generate_examples(self, split, ids, entries, dicoms):
        size = self.builder_config.image_size
        start, written, skipped, emptied = time.time(), 0, collections.Counter(), 0
        results = images.parallel_map(
            lambda image_id: examples.pixels(dicoms[image_id], entries[image_id].codes, size),
            ids,
            workers=images.build_workers(),
        )
        for image_id, result, error in results:
            if error is not None:
                if not isinstance(error, (dicom.DicomError, examples.WrongSize, OSError)):
                    raise error
                skipped[type(error).__name__] += 1
                logging.warning("cxr_siim: skipped %s: %s", image_id, error)
                continue
            entry = entries[image_id]
            mask_pixels = result.pop("mask_pixels")
            emptied += bool(entry.codes) and mask_pixels == 0
            written += 1
            if written % LOG_EVERY == 0:
                logging.info("cxr_siim: %s: %d of %d images", split, written, len(ids))
            yield image_id, _example(entry, result)
        logging.info(
            "cxr_siim: %s: wrote %d images in %.1f s; skipped %d (%s); %d masks smaller than "
            "half a pixel at %d px, stored empty",
            split,
            written,
            time.time() - start,
            sum(skipped.values()),
            ", ".join(f"{k}: {v}" for k, v in skipped.items()) or "none",
            emptied,
            size,
        )


def _example(entry: metadata.SiimImage, pixels: dict) -> dict:
    """A TFDS example of one image: its pixels (`examples.pixels`) and its row's fields."""
    return {
        **pixels,
        "image_id": entry.image_id,
        "patient_id": entry.image_id,  # SIIM has no patient ids
        "raw_labels": np.array([entry.raw_label], dtype=np.int8),
        "regions": len(entry.codes),
    }


def _manual_dir(dl_manager):
    """The manual dir as given: TFDS's property asserts it exists and is not empty, and
    where it fails `source_dir.lacks` must name the path."""
    try:
        return dl_manager.manual_dir
    except (AssertionError, ValueError):
        return getattr(dl_manager, "_manual_dir", None)
