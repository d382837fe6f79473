"""Reading what an offline W&B run wrote: its `.wandb` records, items and files."""

import json
import pathlib
import struct

import wandb
from wandb.proto import wandb_internal_pb2


def read_wandb_records(path):
    """Parses a `.wandb` file: a LevelDB-style log of `Record` protos.

    Layout: a 7-byte header (":W&B", magic, version), then 32 KiB blocks of
    chunks, each chunk = crc32 (4 bytes), length (2, little-endian), type (1:
    full, 2: first, 3: middle, 4: last) and data; a block tail shorter than
    a chunk header is padding.
    """
    block, data = 32 * 1024, path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def items_of(records, kind):
    """Key -> value dicts of the "history", "summary" or "run" (config) records."""
    fields = {
        "history": lambda record: record.history.item,
        "summary": lambda record: record.summary.update,
        "run": lambda record: record.run.config.update,
    }
    return [
        {
            (item.key or ".".join(item.nested_key)): json.loads(item.value_json)
            for item in fields[kind](record)
        }
        for record in records
        if record.WhichOneof("record_type") == kind
    ]


def logged_items(run_dir):
    """{"history": key -> last value, "summary": key -> value}, read from the .wandb file."""
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    assert any(r.WhichOneof("record_type") == "exit" for r in records), "incomplete .wandb"
    items = {"history": {}, "summary": {}}
    for kind, logged in items.items():
        for update in items_of(records, kind):
            logged.update(update)
    return items


def referenced_files(records, files_dir):
    """Every local file an offline run's records name: artifact files and manifests, media."""
    paths = []
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "artifact":
            manifest = record.artifact.manifest
            paths += [e.local_path for e in manifest.contents if e.local_path]
            paths += [manifest.manifest_file_path] if manifest.manifest_file_path else []
        elif kind == "files":
            paths += [files_dir / f.path for f in record.files.files]
    for kind in ("history", "summary"):
        for items in items_of(records, kind):
            paths += [files_dir / v for k, v in items.items() if k.endswith(".path")]
    return [pathlib.Path(p) for p in paths]


def assert_self_contained(records, run_dir, home):
    """Each file the run names exists inside `run_dir`; W&B's default `home` stays empty."""
    (files_dir,) = run_dir.glob("wandb/offline-run-*/files")
    paths = referenced_files(records, files_dir)
    assert paths
    for path in paths:
        assert path.resolve().is_relative_to(run_dir.resolve()) and path.is_file(), path
    assert not [p for p in home.rglob("*") if p.is_file()]


def offline_wandb(monkeypatch, tmp_path):
    """W&B offline, every folder of its own under `tmp_path`."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))


def wandb_summary(folder) -> dict:
    """The summary of the one offline W&B run whose files are in `folder`/wandb."""
    wandb.teardown()  # waits for wandb-core to flush the run's file
    (path,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    summary = {}
    for update in items_of(read_wandb_records(path), "summary"):
        summary.update(update)
    return summary
