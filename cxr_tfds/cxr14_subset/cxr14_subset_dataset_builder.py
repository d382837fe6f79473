"""`cxr14_subset`: whatever part of NIH ChestX-ray14 is on disk, as a TFDS dataset.

    import cxr_tfds.builders, tensorflow_datasets as tfds  # registers cxr14_subset
    ds = tfds.load("cxr14_subset/224", split="train")  # manual dir or $CXR14_DIR
    ds = tfds.load("cxr14_subset/synthetic", split="test")  # offline, no files needed

See README.md beside this file for the configs, layouts and expected files.
"""

import dataclasses
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from cxr_tfds.cxr14_subset import (
    expert_features,
    expert_labels,
    images,
    metadata,
    rsna_features,
    source_dir,
    sources,
    splits,
    synthetic,
)
from cxr_tfds.labels import LABELS

# NIH's boxes are in pixels of its 1024x1024 PNGs, whatever size a user's copy has.
NIH_PNG_SIZE = 1024


EXPECTED_FILES = source_dir.EXPECTED_FILES


@dataclasses.dataclass
class Cxr14SubsetConfig(tfds.core.BuilderConfig):
    """How to build a subset.

    Attributes:
        image_size: side in pixels of the stored square grayscale images.
        views: view positions kept; `("PA",)` drops the AP (mostly bedside) films.
        validation_percent: share of train_val patients in `validation`.
        archives: NIH archive numbers (1-12) to download through the TFDS download
            manager; the metadata files still come from the manual dir.
        synthetic_patients: when > 0, build from a generated miniature NIH manual dir
            of this many patients instead of real files (see synthetic.py).
        seed: seed of the synthetic generator.
        synthetic_png_size: side of the generated PNGs (NIH's are 1024).
    """

    image_size: int = 224
    views: tuple[str, ...] = ("PA", "AP")
    validation_percent: int = 10
    archives: tuple[int, ...] = ()
    synthetic_patients: int = 0
    seed: int = 0
    synthetic_png_size: int = 256


class Cxr14Subset(tfds.core.GeneratorBasedBuilder):
    """NIH ChestX-ray14: images on disk, 14 multi-hot labels, metadata and NIH boxes."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "Radiologists' labels: `expert_all` and `expert_four` (Google's relabels, "
        "when their folders are in the NIH folder; `present` False elsewhere), with each "
        "individual reader's calls. The synthetic twin carries synthetic ones.",
        "1.2.0": "`rsna`: the RSNA Pneumonia Challenge's class and opacity boxes (when its "
        "files are in the NIH folder; class `absent` elsewhere). No other feature changes.",
    }
    BUILDER_CONFIGS = [
        Cxr14SubsetConfig(name="224", description="All images found, 224x224."),
        Cxr14SubsetConfig(name="512", description="All images found, 512x512.", image_size=512),
        Cxr14SubsetConfig(name="pa_224", description="PA views only, 224x224.", views=("PA",)),
        Cxr14SubsetConfig(
            name="nih001_224",
            description="Downloads NIH archive images_001 (4,999 images, ~2 GB), 224x224.",
            archives=(1,),
        ),
        Cxr14SubsetConfig(
            name="synthetic",
            description="Offline synthetic twin: generated chest-like images, 128x128.",
            image_size=128,
            synthetic_patients=500,
        ),
        Cxr14SubsetConfig(
            name="synthetic_64",
            description="The synthetic twin at 64x64 (drawn at 128 px), for the quickstart.",
            image_size=64,
            synthetic_patients=500,
            synthetic_png_size=128,
        ),
    ]
    DEFAULT_CONFIG_NAME = "224"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put NIH ChestX-ray14 files in the manual dir (or in $CXR14_DIR): {EXPECTED_FILES}. "
        "Get them from https://nihcc.app.box.com/v/ChestXray-NIHCC (the Data_Entry CSV, "
        "both lists and the box list; any number of the 12 image archives)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 1), encoding_format="png"),
                    "labels": tfds.features.Tensor(shape=(len(LABELS),), dtype=np.uint8),
                    "image_id": tfds.features.Text(),
                    "patient_id": np.int32,
                    "follow_up": np.int32,
                    "age": np.int32,
                    "age_implausible": np.bool_,
                    "sex": tfds.features.ClassLabel(names=["M", "F"]),
                    "view": tfds.features.ClassLabel(names=["PA", "AP"]),
                    "original_width": np.int32,
                    "original_height": np.int32,
                    "pixel_spacing_x": np.float32,
                    "pixel_spacing_y": np.float32,
                    "bboxes": tfds.features.Sequence(
                        {
                            "bbox": tfds.features.BBoxFeature(),
                            "label": tfds.features.ClassLabel(names=LABELS),
                        }
                    ),
                    **expert_features.features(),
                    **rsna_features.features(),
                }
            ),
            supervised_keys=("image", "labels"),
            homepage="https://nihcc.app.box.com/v/ChestXray-NIHCC",
            # Saved as metadata.json: the folder and image count built from
            # (source_dir.record), so a later build from other files is not a silent reuse.
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        root = self._metadata_dir(dl_manager)
        entries = metadata.read_data_entry(metadata.find_data_entry(root))
        train_val, test = (
            metadata.read_image_list(root / name)  # there: source_dir.choose checked
            for name in (metadata.TRAIN_VAL_LIST, metadata.TEST_LIST)
        )
        bbox_file = root / metadata.BBOX_FILE
        boxes = metadata.read_boxes(bbox_file) if bbox_file.exists() else {}
        labels = (expert_labels.read_all(root), rsna_features.read(root))  # each image's extras

        pngs = sources.find_pngs(root)
        archives = sources.find_archives(root)
        if config.archives:
            urls = {f"images_{n:03d}": sources.NIH_ARCHIVE_URLS[n] for n in config.archives}
            archives += [epath.Path(p) for p in dl_manager.download(urls).values()]
        in_archives = {path: set(sources.list_archive(path)) - set(pngs) for path in archives}
        available = set(pngs).union(*in_archives.values())
        self.info.metadata[source_dir.RECORD_KEY] = source_dir.record(root, len(available))

        plan = splits.plan_splits(
            entries,
            train_val=train_val,
            test=test,
            available=available,
            views=config.views,
            validation_percent=config.validation_percent,
        )
        logging.info(
            "cxr14_subset: the CSV lists %d images; found %d on disk (%d PNG files, %d in "
            "%d archives); %s",
            len(entries),
            len(available),
            len(pngs),
            len(available) - len(pngs),
            len(archives),
            ", ".join(f"{k}: {len(v)}" for k, v in plan.splits.items()),
        )
        for reason, count in plan.skipped.items():
            logging.warning(
                "cxr14_subset: skipped %d images: %s (e.g. %s)",
                count,
                reason,
                ", ".join(plan.examples[reason]),
            )
        expert_features.log_counts(labels[0], plan.splits, root)
        rsna_features.log_counts(labels[1], plan.splits, entries, root)
        for split, names in plan.splits.items():
            if not names:
                logging.warning(
                    "cxr14_subset: no image of split %r is on disk; it is left out of this build",
                    split,
                )
        return {
            split: self._generate_examples(split, names, entries, boxes, pngs, in_archives, labels)
            for split, names in plan.splits.items()
            if names
        }

    def _generate_examples(self, split, names, entries, boxes, pngs, in_archives, labels):
        size = self.builder_config.image_size
        wanted = set(names)
        start, written, unreadable = time.time(), 0, []
        results = images.parallel_map(
            lambda item: images.resize_png(item[1](), size),
            _image_bytes(wanted, pngs, in_archives),
            workers=images.build_workers(),
        )
        for (name, _), png, error in results:
            if error is not None:
                if not isinstance(error, (images.UnreadableImage, OSError)):
                    raise error
                unreadable.append(name)
                logging.warning("cxr14_subset: skipped %s: %s", name, error)
                continue
            written += 1
            example = _example(entries[name], png, boxes.get(name, []))
            example.update(expert_features.example(labels[0], name))
            example.update(rsna_features.example(labels[1], name))
            yield name, example
        seconds = time.time() - start
        logging.info(
            "cxr14_subset: %s: wrote %d images in %.1f s (%.1f images/s); %d unreadable skipped%s",
            split,
            written,
            seconds,
            written / max(seconds, 1e-9),
            len(unreadable),
            f": {', '.join(unreadable)}" if unreadable else "",
        )

    def synthetic_nih_dir(self, download_dir) -> epath.Path:
        """The synthetic twin's NIH-shaped folder (metadata, boxes, images and label
        folders) in `download_dir`, generated on first use.

        Args:
            download_dir: TFDS's download folder, `<data_dir>/downloads` by default.
        """
        config = self.builder_config
        root = epath.Path(download_dir) / (
            f"cxr14_synthetic_p{config.synthetic_patients}_s{config.seed}"
            f"_{config.synthetic_png_size}px_experts"
        )
        if not root.exists():  # generated aside, then renamed: never half a dir
            partial = root.parent / f"{root.name}.incomplete"
            synthetic.write_manual_dir(
                partial,
                num_patients=config.synthetic_patients,
                seed=config.seed,
                image_size=config.synthetic_png_size,
            )
            partial.rename(root)
        return root

    def _metadata_dir(self, dl_manager) -> epath.Path:
        """The folder with the NIH metadata: generated, the manual dir, or $CXR14_DIR."""
        if self.builder_config.synthetic_patients:
            return self.synthetic_nih_dir(dl_manager.download_dir)
        # TFDS's `manual_dir` property asserts the folder exists and is not empty (its
        # DatasetBuilderTestCase points it at dummy_data/); where it fails, the path as
        # given is what the error must name.
        try:
            manual = dl_manager.manual_dir
        except (AssertionError, ValueError):
            manual = getattr(dl_manager, "_manual_dir", None)
        root, reasons = source_dir.choose(manual, needs_images=not self.builder_config.archives)
        if root is None:
            raise FileNotFoundError(f"cxr14_subset: {source_dir.no_files(reasons)}")
        return root


def _image_bytes(wanted, pngs, in_archives):
    """Yields (name, load) for the wanted images, loose files first, then archives."""
    for name in sorted(wanted & set(pngs)):
        yield name, pngs[name].read_bytes
    for archive, names in in_archives.items():
        if wanted & names:
            for name, data in sources.read_archive(archive, wanted & names):
                yield name, (lambda data=data: data)


def _example(entry: metadata.Entry, png: bytes, boxes: list[metadata.Box]) -> dict:
    return {
        "image": png,
        "labels": np.array([label in entry.labels for label in LABELS], dtype=np.uint8),
        "image_id": entry.image_id,
        "patient_id": entry.patient_id,
        "follow_up": entry.follow_up,
        "age": entry.age,
        "age_implausible": entry.age_implausible,
        "sex": entry.sex,
        "view": entry.view,
        "original_width": entry.original_width,
        "original_height": entry.original_height,
        "pixel_spacing_x": entry.pixel_spacing_x,
        "pixel_spacing_y": entry.pixel_spacing_y,
        "bboxes": [{"bbox": _normalized(box), "label": box.label} for box in boxes],
    }


def _normalized(box: metadata.Box) -> tfds.features.BBox:
    def clip(v):
        return float(min(max(v / NIH_PNG_SIZE, 0.0), 1.0))

    return tfds.features.BBox(
        ymin=clip(box.y), xmin=clip(box.x), ymax=clip(box.y + box.h), xmax=clip(box.x + box.w)
    )
