"""`cxr_chexpert`: CheXpert (Stanford, Irvin et al. 2019) as a TFDS dataset with its raw
labels, patients, studies, sex, age and views.

    import cxr_tfds.builders, tensorflow_datasets as tfds  # registers cxr_chexpert
    ds = tfds.load("cxr_chexpert/224", split="train",
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir="~/chexpert")})

TFDS's own `chexpert` keeps neither patient, sex nor age. The raw codes are stored as
they are (1, 0, -1 uncertain, -2 blank); the uncertainty and blank policies are applied
when the data is read (`cxr_tfds.cxr_chexpert.labels.targets`). See README.md here.
"""

import dataclasses
import io
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from PIL import Image

from cxr_tfds import release_features
from cxr_tfds.cxr14_subset import images
from cxr_tfds.cxr_chexpert import labels, metadata, release, splits

PROGRESS_EVERY = 5000  # images between two progress lines of a split
NO_TEST = (
    "no valid.csv in the manual dir, so this build has no `test` split (CheXpert's official "
    "234-image validation set); add the release's valid.csv and its images, then rebuild"
)


@dataclasses.dataclass
class CxrChexpertConfig(tfds.core.BuilderConfig):
    """How to build CheXpert.

    Attributes:
        image_size: side in pixels of the stored square grayscale images (CheXpert's
            ~390x320 JPEGs are resized to it as cxr14_subset resizes: no crop).
        validation_percent: share of train.csv's patients put in `validation`.
    """

    image_size: int = 224
    validation_percent: int = 10


class CxrChexpert(tfds.core.GeneratorBasedBuilder):
    """CheXpert: images, 14 raw observation codes, patient, study, sex, age and view."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = release_features.size_configs(CxrChexpertConfig, (224, 64))
    DEFAULT_CONFIG_NAME = "224"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put the CheXpert release, as unpacked, in the manual dir: {release.EXPECTED_FILES}. "
        f"Get it from {release.URL}."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    # image_id is the CSV's Path, patient_id "patientNNNNN"
                    **release_features.common(size, len(labels.LABEL_NAMES)),
                    "study": tfds.features.Text(),  # "patientNNNNN/studyN"
                    "sex": tfds.features.Text(),  # "M", "F", "" unknown
                    "age": np.int32,  # years, -1 unknown
                    "frontal": np.bool_,
                    "view": tfds.features.Text(),  # AP/PA as written, "" on laterals
                }
            ),
            homepage=release.URL,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        found = self._release(dl_manager)
        train = metadata.read_rows(found.train_csv)
        valid = metadata.read_rows(found.valid_csv) if found.valid_csv else None
        plan = splits.plan(train, valid, self.builder_config.validation_percent)
        self.info.metadata["source"] = {
            "manual_dir": str(found.folder),
            "train_csv_rows": len(train),
            "valid_csv_rows": len(valid) if valid is not None else None,
            "test": "valid.csv" if valid is not None else NO_TEST,
        }
        logging.info(
            "cxr_chexpert: %s lists %d images of %d patients; %s",
            found.train_csv,
            len(train),
            len(set(train.patients)),
            ", ".join(f"{split}: {len(rows)}" for split, rows in plan.items()),
        )
        if valid is None:
            logging.warning("cxr_chexpert: %s", NO_TEST)
        on_disk = {
            split: _on_disk(split, valid if split == "test" else train, rows, found)
            for split, rows in plan.items()
        }
        if not any(present for present, _ in on_disk.values()):
            raise FileNotFoundError(
                f"cxr_chexpert: {found.train_csv} lists {len(train)} images and none is under "
                f"{found.folder} (e.g. {found.image_path(train.paths[0])}); "
                f"expected {release.EXPECTED_FILES}"
            )
        return {
            split: self._generate_examples(
                split, valid if split == "test" else train, present, missing, found
            )
            for split, (present, missing) in on_disk.items()
            if present
        }

    def _generate_examples(self, split, rows: metadata.Rows, indices, missing, found):
        size = self.builder_config.image_size
        skipped = {"missing": list(missing), "unreadable": []}
        start, written = time.time(), 0
        results = images.parallel_map(
            lambda i: _png(found.image_path(rows.paths[i]).read_bytes(), size),
            indices,
            workers=images.build_workers(),
        )
        for i, png, error in results:
            if error is not None:
                reason = _skip_reason(error)
                skipped[reason].append(rows.paths[i])
                logging.warning("cxr_chexpert: skipped %s: %s", rows.paths[i], error)
                continue
            written += 1
            if written % PROGRESS_EVERY == 0:
                _log_progress(split, written, len(indices), start)
            yield rows.paths[i], _example(rows, i, png)
        _log_done(split, written, skipped, start)

    def _release(self, dl_manager) -> release.Release:
        """The release in the manual dir, or one line saying what is wrong with it."""
        # TFDS's `manual_dir` property asserts the folder exists and is not empty; where
        # it fails, the path as given is what the error must name.
        try:
            manual = dl_manager.manual_dir
        except (AssertionError, ValueError):
            manual = getattr(dl_manager, "_manual_dir", None)
        if manual is None:
            raise FileNotFoundError(release.no_files("no manual dir was given"))
        found, reason = release.find(manual)
        if found is None:
            raise FileNotFoundError(release.no_files(reason))
        return found


def _on_disk(split, rows: metadata.Rows, indices, found: release.Release):
    """(indices whose image is on disk, the Paths of the others), the latter logged once."""
    present, missing = [], []
    for i in indices:
        (present if found.image_path(rows.paths[i]).exists() else missing).append(i)
    missing = [rows.paths[i] for i in missing]
    if missing:
        logging.warning(
            "cxr_chexpert: %s: %d of %d listed images are not on disk, skipped (e.g. %s)",
            split,
            len(missing),
            len(indices),
            ", ".join(missing[:3]),
        )
    return present, missing


def _png(data: bytes, size: int) -> bytes:
    """A CheXpert JPEG (or a PNG) as an 8-bit grayscale `size` x `size` PNG."""
    gray = images.resize_gray(images.to_gray(data, formats=("JPEG", "PNG")), size)
    out = io.BytesIO()
    Image.fromarray(gray).save(out, format="PNG")
    return out.getvalue()


def _skip_reason(error: Exception) -> str:
    """ "missing" or "unreadable" for an image's error; any other error stops the build."""
    if isinstance(error, FileNotFoundError):
        return "missing"
    if isinstance(error, (images.UnreadableImage, OSError)):
        return "unreadable"
    raise error


def _example(rows: metadata.Rows, i: int, png: bytes) -> dict:
    return {
        "image": png,
        "image_id": rows.paths[i],
        "patient_id": rows.patients[i],
        "study": rows.studies[i],
        "sex": rows.sexes[i],
        "age": rows.ages[i],
        "frontal": rows.frontal[i],
        "view": rows.views[i],
        "raw_labels": rows.raw[i],
    }


def _log_progress(split: str, written: int, total: int, start: float) -> None:
    seconds = time.time() - start
    logging.info(
        "cxr_chexpert: %s: %d of %d images (%.1f images/s)",
        split,
        written,
        total,
        written / max(seconds, 1e-9),
    )


def _log_done(split: str, written: int, skipped: dict[str, list[str]], start: float) -> None:
    seconds = time.time() - start
    counts = "; ".join(
        f"{len(paths)} {reason} skipped" + (f" (e.g. {', '.join(paths[:3])})" if paths else "")
        for reason, paths in skipped.items()
    )
    logging.info(
        "cxr_chexpert: %s: wrote %d images in %.1f s (%.1f images/s); %s",
        split,
        written,
        seconds,
        written / max(seconds, 1e-9),
        counts,
    )
