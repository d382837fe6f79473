"""The run directory: every file name of a run is written here and nowhere else.

    runs/<name>/<run id>/
        config.json          the experiment config
        metrics.jsonl        one line per epoch (phase, epoch, losses, val AUROCs, lr)
        model.keras          the best model by validation macro AUROC
        checkpoints/         <phase>.keras (weights + optimizer) and state.json, to resume
        eval/                the evaluation at the end of training (see `EvalDir`)
        evaluations/<dataset>/<split>/   each later `make evaluate`, same layout as eval/
        saliency/<dataset>-<split>/      each `make saliency` (see `SaliencyDir`)
        wandb/               W&B's files, online or offline

Other modules ask a `RunDir` or an `EvalDir` for paths; they never join names
themselves. Writes that a kill must not tear (state, metrics) are atomic or
append-only.
"""

import io
import json
import os
import pathlib
import re
import secrets
import time

import numpy as np

from cxr.errors import UserError


def atomic_write_text(path: pathlib.Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file, so a kill leaves the old or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def slug(text: str) -> str:
    """A folder name for a dataset or split expression: `test[:16]` -> `test_16`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "_"


class EvalDir:
    """One evaluation of a run on one dataset split: reports, predictions, galleries."""

    METRICS = "metrics.json"  # the AUROC report, whole (`cxr.auroc_report`)
    PER_LABEL = "per_label.csv"
    ROC = "roc.png"
    AUROC = "auroc.png"
    LOCALIZATION = "localization.json"
    # per image: id, patient, labels, probabilities; "known" (the mask of known labels)
    # where some are unknown, "attribute_<name>" per attribute (sex, age, view)
    PREDICTIONS = "predictions.npz"
    ATTRIBUTE_PREFIX = "attribute_"
    GALLERIES = "gradcam"  # <Label>.png, one Grad-CAM gallery per label
    # the findings scored and those left out, where the model's labels and the dataset's
    # differ (`cxr.pipeline.label_match`)
    LABEL_MATCH = "label_match.json"
    CALIBRATION = "calibration.json"  # ECE, MCE, Brier per label, before and after scaling
    TEMPERATURES = "temperatures.json"  # per-label temperatures (`cxr predict --calibrated`)
    RELIABILITY = "reliability"  # <Label>.png, one reliability diagram per label

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __repr__(self):
        return f"EvalDir({str(self.path)!r})"

    def file(self, name: str) -> pathlib.Path:
        """The path of one of this class's file names, e.g. `file(EvalDir.METRICS)`."""
        return self.path / name

    def gallery(self, label: str) -> pathlib.Path:
        return self.path / self.GALLERIES / f"{label}.png"

    def reliability(self, label: str) -> pathlib.Path:
        return self.path / self.RELIABILITY / f"{label}.png"

    @classmethod
    def encode_predictions(
        cls,
        *,
        image_id,
        patient_id,
        labels,
        probs,
        label_names,
        dataset,
        split,
        known=None,
        attributes=None,
    ):
        """The bytes of a predictions file: the per-image facts `cxr.evaluation.compare_runs` pairs across runs.

        Args:
            known: (N, L) 1 where a label is known; None (all known) stores nothing.
            attributes: name -> (N,) array (`cxr.tracking.predictions.ATTRIBUTES`).
        """
        buffer = io.BytesIO()
        extra = {} if known is None else {"known": np.asarray(known, dtype=np.uint8)}
        for name, values in (attributes or {}).items():
            values = np.asarray(values)
            dtype = str if values.dtype.kind in "USO" else np.float64  # text, or a number
            extra[cls.ATTRIBUTE_PREFIX + name] = values.astype(dtype)
        np.savez(
            buffer,
            **extra,
            image_id=np.asarray(image_id, dtype=str),
            patient_id=np.asarray(patient_id),
            labels=np.asarray(labels, dtype=np.float32),
            probs=np.asarray(probs, dtype=np.float32),
            label_names=np.asarray(label_names, dtype=str),
            dataset=np.asarray(dataset, dtype=str),
            split=np.asarray(split, dtype=str),
        )
        return buffer.getvalue()

    def read_predictions(self) -> dict:
        """The saved predictions: arrays, with `label_names` a tuple and dataset, split str,
        `known` None where every label is known (and in files older than the mask), and
        `attributes` a dict name -> array ({} where none were saved).

        Raises:
            UserError: when this folder holds no predictions.
        """
        path = self.file(self.PREDICTIONS)
        if not path.is_file():
            raise UserError(
                f"{self.path} holds no {self.PREDICTIONS}: evaluate the run first "
                f"(make evaluate RUN=<run dir>)"
            )
        with np.load(path) as saved:
            out = {key: saved[key] for key in saved.files}
        out["label_names"] = tuple(str(x) for x in out["label_names"])
        out.setdefault("known", None)
        prefix = self.ATTRIBUTE_PREFIX
        out["attributes"] = {
            key[len(prefix) :]: out.pop(key) for key in list(out) if key.startswith(prefix)
        }
        out["dataset"], out["split"] = str(out["dataset"]), str(out["split"])
        return out


class SaliencyDir:
    """One saliency study of a run on one dataset split (`cxr.pipeline.saliency_study`)."""

    SCORES = "saliency.json"  # every score, CI, comparison and sanity result per method
    SCORE_PLOT = "scores.png"  # score per method with CIs
    SANITY_PLOT = "sanity.png"  # similarity per randomised block
    GALLERIES = "gallery"  # <n>.png: the methods side by side on the same images

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __repr__(self):
        return f"SaliencyDir({str(self.path)!r})"

    def file(self, name: str) -> pathlib.Path:
        """The path of one of this class's file names, e.g. `file(SaliencyDir.SCORES)`."""
        return self.path / name

    def gallery(self, page: int) -> pathlib.Path:
        return self.path / self.GALLERIES / f"{page}.png"


class RunDir:
    """A run's folder and every file name in it."""

    CONFIG = "config.json"
    METRICS = "metrics.jsonl"
    MODEL = "model.keras"
    CHECKPOINTS = "checkpoints"
    STATE = "state.json"  # in checkpoints/: phase, epoch, done, best, plateau counters
    EVAL = "eval"
    EVALUATIONS = "evaluations"
    SALIENCY = "saliency"
    WANDB = "wandb"

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    def __str__(self):
        return str(self.path)

    @property
    def name(self) -> str:
        """The run id: the folder's name, also the W&B run id."""
        return self.path.name

    @staticmethod
    def new_id() -> str:
        """A fresh run id from the local time and a random suffix, e.g. 20250101-120000-3fa2."""
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"

    @classmethod
    def locate(cls, root, name: str, run_id: str | None) -> "RunDir":
        """Where run `run_id` of experiment `name` lives under `root` (a new id for None)."""
        return cls(pathlib.Path(root) / name / (run_id or cls.new_id()))

    def create(self, config: dict) -> "RunDir":
        """Makes the folder and its subfolders and writes `config.json`.

        Args:
            config: JSON-serialisable dict; values JSON cannot hold are written as strings.

        Raises:
            FileExistsError: if the folder exists already.
        """
        self.path.mkdir(parents=True)
        self.checkpoints_dir.mkdir()
        text = json.dumps(config, indent=2, sort_keys=True, default=str)
        self.config_file.write_text(text + "\n")
        return self

    @classmethod
    def open(cls, path) -> "RunDir":
        """An existing run directory, checked.

        Raises:
            UserError: when `path` is not a run directory.
        """
        run = cls(path)
        if not run.config_file.is_file():
            raise UserError(
                f"{run.path} is not a run directory (no {cls.CONFIG}); pass "
                "runs/<name>/<run id> of a run that `make experiment` made"
            )
        return run

    # --- paths ---------------------------------------------------------------------
    @property
    def config_file(self) -> pathlib.Path:
        return self.path / self.CONFIG

    @property
    def metrics_file(self) -> pathlib.Path:
        return self.path / self.METRICS

    @property
    def model_file(self) -> pathlib.Path:
        return self.path / self.MODEL

    @property
    def checkpoints_dir(self) -> pathlib.Path:
        return self.path / self.CHECKPOINTS

    @property
    def state_file(self) -> pathlib.Path:
        return self.checkpoints_dir / self.STATE

    @property
    def wandb_dir(self) -> pathlib.Path:
        return self.path / self.WANDB

    def checkpoint(self, phase: str) -> pathlib.Path:
        """The resumable checkpoint (weights and optimizer state) of a training phase."""
        return self.checkpoints_dir / f"{phase}.keras"

    def evaluation(self, dataset: str | None = None, split: str | None = None) -> EvalDir:
        """The run's own evaluation (no arguments), or that of `dataset` and `split`."""
        if dataset is None and split is None:
            return EvalDir(self.path / self.EVAL)
        return EvalDir(self.path / self.EVALUATIONS / slug(dataset) / slug(split))

    def saliency(self, dataset: str, split: str) -> SaliencyDir:
        """The saliency study of `dataset` and `split`: `saliency/<dataset>-<split>/`."""
        return SaliencyDir(self.path / self.SALIENCY / f"{slug(dataset)}-{slug(split)}")

    # --- contents ------------------------------------------------------------------
    def config(self) -> dict:
        """The saved config; a run saved before `data.dataset` (its `data.name`) reads the same."""
        config = json.loads(self.config_file.read_text())
        data = config.get("data", {})
        if "name" in data:  # a run saved before the rename
            data.setdefault("dataset", data["name"])
        elif "dataset" in data:  # kept until no reader asks for "name"
            data["name"] = data["dataset"]
        return config

    def load_state(self) -> dict | None:
        """The checkpoint state, or None before the first checkpoint."""
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else None

    def save_state(self, state: dict) -> None:
        self.checkpoints_dir.mkdir(exist_ok=True)
        atomic_write_text(self.state_file, json.dumps(state))

    def append_metrics(self, record: dict) -> None:
        """Appends one epoch's record as a JSON line; opened and closed each time, so a
        killed run keeps every finished epoch."""
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line]

    def truncate_metrics(self, phase: str, epochs: int) -> None:
        """Drops the lines of `phase` after its epoch `epochs`.

        A run killed after logging an epoch but before checkpointing it repeats that
        epoch when resumed; this keeps one line per epoch.
        """
        if not self.metrics_file.exists():
            return
        kept = [r for r in self.read_metrics() if r.get("phase") != phase or r["epoch"] <= epochs]
        atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))
