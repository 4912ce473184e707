"""Feature store: features computed once into sharded TFRecord files with an index.

Layout of a store directory::

    index.json                      written last: format, FeatureConfig, shard list, entries
    shard-00000-of-00012.tfrecord   tf.train.Example records, in manifest order
    shard-00000-of-00012.json       the shard's own record (sha1, count, frames, failures)
    ...

Each record holds ``position`` (int64: the entry's line in the store's manifest, counted
from 0 over the non-empty lines), ``frames`` (int64) and ``features`` (bytes: float32
[frames, feature_dim], C order). Shard ``k`` holds positions ``k * shard_size`` up to
``(k + 1) * shard_size - 1``, minus entries whose audio could not be featurized (listed
in the shard record and in ``index.json`` under ``failed``).

Extraction runs one shard per job in spawned worker processes. A shard file is written to
a temporary name and renamed when complete, then its record; an interrupted extraction
keeps every shard whose file matches its record (size and sha1) and whose entries and
feature settings are unchanged, and recomputes only the rest.

Training reads a store with :func:`speech_lstm.data.pipeline.make_dataset` (``store=``),
shards interleaved; the element order is the one the same pipeline gives from audio for the
same shard layout and seed, so both give the same batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from speech_lstm.config import FeatureConfig, feature_config_from_dict
from speech_lstm.data.manifest import read_manifest
from speech_lstm.errors import ConfigError, SpeechLSTMError
from speech_lstm.features import config_hash, featurize_file
from speech_lstm.files import atomic_write

__all__ = ["FeatureStore", "extract_features", "STORE_FORMAT", "DEFAULT_SHARD_SIZE", "entry_key"]

STORE_FORMAT = "speech_lstm-feature-store/1"
DEFAULT_SHARD_SIZE = 1000


def entry_key(entry) -> tuple[str, float]:
    """What identifies an utterance across manifests: (resolved audio path, offset in s)."""
    return str(Path(entry["audio_filepath"]).resolve()), round(float(entry.get("offset", 0.0)), 6)


def _shard_name(k: int, n: int) -> str:
    return f"shard-{k:05d}-of-{n:05d}"


def _sha1(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plan_hash(entries, fc_hash: str) -> str:
    """Identity of a shard's work: feature settings and each entry's audio file (path, size,
    mtime), segment and text. A changed file or setting makes its shard stale."""
    h = hashlib.sha1(fc_hash.encode())
    for e in entries:
        path = Path(e["audio_filepath"])
        try:
            st = path.stat()
            ident = (st.st_size, st.st_mtime_ns)
        except OSError:
            ident = None
        h.update(json.dumps([str(path), ident, e.get("offset", 0.0), e.get("duration"), e["text"]]).encode())
    return h.hexdigest()


def _shard_is_current(tfrecord: Path, record_path: Path, plan: str) -> bool:
    if not (tfrecord.exists() and record_path.exists()):
        return False
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        return False
    return (record.get("plan") == plan and record.get("bytes") == tfrecord.stat().st_size
            and record.get("sha1") == _sha1(tfrecord))


def _extract_shard(job) -> dict:
    """Featurize one shard's entries and write its TFRecord file and record (worker process)."""
    import tensorflow as tf

    tfrecord, record_path, first, entries, fc_dict, plan = job
    fc = feature_config_from_dict(fc_dict)
    tmp = Path(f"{tfrecord}.partial")
    count, frames, failed, lengths = 0, 0, [], []
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for i, e in enumerate(entries):
            offset = float(e.get("offset", 0.0))
            try:
                feats = featurize_file(e["audio_filepath"], fc, offset=offset,
                                       duration=float(e["duration"]) if offset else None)
            except SpeechLSTMError as err:
                failed.append({"position": first + i, "audio_filepath": e["audio_filepath"], "error": str(err)})
                lengths.append(0)
                continue
            feats = np.ascontiguousarray(feats, dtype=np.float32)
            example = tf.train.Example(features=tf.train.Features(feature={
                "position": tf.train.Feature(int64_list=tf.train.Int64List(value=[first + i])),
                "frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[feats.shape[0]])),
                "features": tf.train.Feature(bytes_list=tf.train.BytesList(value=[feats.tobytes()])),
            }))
            writer.write(example.SerializeToString())
            count, frames = count + 1, frames + int(feats.shape[0])
            lengths.append(int(feats.shape[0]))
    os.replace(tmp, tfrecord)
    record = {"file": Path(tfrecord).name, "first": first, "size": len(entries), "count": count,
              "frames": frames, "lengths": lengths, "failed": failed, "plan": plan,
              "bytes": Path(tfrecord).stat().st_size, "sha1": _sha1(tfrecord)}
    with atomic_write(record_path) as f:
        json.dump(record, f)
    return record


def extract_features(manifest, out_dir, feature_config: FeatureConfig = FeatureConfig(), workers: int = 2,
                     shard_size: int = DEFAULT_SHARD_SIZE, force: bool = False, progress: bool = True) -> dict:
    """Featurize every entry of ``manifest`` into a store at ``out_dir``; returns the index.

    ``workers`` spawned processes, one shard (``shard_size`` entries) per job. Resumable:
    shards already written and verified are kept (``force`` redoes all). An entry whose
    audio cannot be read is left out and listed in ``index["failed"]``; the others are
    still stored. Raises ConfigError for a store made with other settings or another
    manifest (unless ``force``) and ManifestError for a broken manifest.
    """
    from speech_lstm.data.synth import map_jobs

    if shard_size < 1:
        raise ConfigError(f"shard_size must be >= 1, got {shard_size}")
    out = Path(out_dir)
    entries = read_manifest(manifest)
    fc_hash = config_hash(feature_config)
    n = max(1, -(-len(entries) // shard_size))
    index_path = out / "index.json"
    if index_path.exists() and not force:
        try:
            old = json.loads(index_path.read_text())
        except ValueError:
            old = {}
        if old.get("config_hash") != fc_hash or old.get("shard_size") != shard_size:
            raise ConfigError(f"{out} holds a feature store with other feature settings or shard size; "
                              f"use another --out or --force")
    out.mkdir(parents=True, exist_ok=True)
    fc_dict = dataclasses.asdict(feature_config)
    jobs, records = [], [None] * n
    for k in range(n):
        chunk = entries[k * shard_size:(k + 1) * shard_size]
        name = _shard_name(k, n)
        tfrecord, record_path = out / f"{name}.tfrecord", out / f"{name}.json"
        plan = _plan_hash(chunk, fc_hash)
        if not force and _shard_is_current(tfrecord, record_path, plan):
            records[k] = json.loads(record_path.read_text())
        else:
            jobs.append((k, (str(tfrecord), str(record_path), k * shard_size, chunk, fc_dict, plan)))
    for stale in out.glob("shard-*"):  # shards of another layout (shard count) or partial files
        if not stale.name.endswith((f"-of-{n:05d}.tfrecord", f"-of-{n:05d}.json")):
            stale.unlink()
    if jobs:
        results, crashed = map_jobs(_extract_shard, [j for _, j in jobs], workers=min(workers, len(jobs)),
                                    desc="feature shards", progress=progress, unit="shard")
        if crashed:
            raise SpeechLSTMError(f"{len(crashed)} feature shard job(s) crashed their worker process: "
                                  + ", ".join(jobs[i][1][0] for i in crashed) + "; run again to retry them")
        for (k, _), record in zip(jobs, results):
            records[k] = record
    failed = [f for r in records for f in r["failed"]]
    stored = []
    for k, r in enumerate(records):
        for i, length in enumerate(r["lengths"]):
            e = entries[r["first"] + i]
            if length:
                stored.append({"audio_filepath": e["audio_filepath"], "offset": float(e.get("offset", 0.0)),
                               "duration": float(e["duration"]), "text": e["text"], "frames": length, "shard": k})
            else:
                stored.append(None)
    index = {
        "format": STORE_FORMAT,
        "manifest": str(Path(manifest).resolve()),
        "feature_config": fc_dict,
        "config_hash": fc_hash,
        "shard_size": shard_size,
        "shards": [{k2: r[k2] for k2 in ("file", "first", "size", "count", "frames", "bytes", "sha1")}
                   for r in records],
        "utterances": sum(r["count"] for r in records),
        "frames": sum(r["frames"] for r in records),
        "hours": round(sum(e["duration"] for e in stored if e) / 3600, 3),
        "entries": stored,
        "failed": failed,
    }
    with atomic_write(index_path) as f:
        json.dump(index, f)
    return index


class FeatureStore:
    """A feature store written by :func:`extract_features`, opened for reading.

    ``files``: shard paths in order; ``feature_config``; ``entries``: per manifest position the
    stored entry (dict with ``frames`` and ``shard``) or None (failed).
    """

    def __init__(self, path):
        self.path = Path(path)
        index_path = self.path / "index.json"
        if not index_path.exists():
            hint = " (extraction unfinished: run it again to resume)" if any(self.path.glob("shard-*")) else ""
            raise ConfigError(f"{self.path}: not a feature store, no index.json{hint}; "
                              f"make one with: speech-lstm features extract MANIFEST --out {self.path}")
        try:
            index = json.loads(index_path.read_text())
        except ValueError as e:
            raise ConfigError(f"{index_path}: not valid JSON ({e})") from e
        if index.get("format") != STORE_FORMAT:
            raise ConfigError(f"{index_path}: format {index.get('format')!r}, expected {STORE_FORMAT!r}")
        self.index = index
        self.feature_config = feature_config_from_dict(index["feature_config"])
        self.shard_size = int(index["shard_size"])
        self.entries = index["entries"]
        self.files = [self.path / s["file"] for s in index["shards"]]
        for s, f in zip(index["shards"], self.files):
            if not f.exists() or f.stat().st_size != s["bytes"]:
                raise ConfigError(f"{f}: missing or changed since extraction (expected {s['bytes']} bytes); "
                                  f"run the extraction again to rebuild it")

    def check_features(self, feature_config: FeatureConfig, option: str = "train.feature_store") -> None:
        """ConfigError (naming ``option``) unless the store was made with ``feature_config``."""
        if config_hash(feature_config) != self.index["config_hash"]:
            diff = {k: (v, getattr(feature_config, k)) for k, v in self.index["feature_config"].items()
                    if getattr(feature_config, k, None) != v}
            raise ConfigError(f"{option}: {self.path} was extracted with other feature settings "
                              f"(store vs config: {diff}); extract it again with this config")

    def positions(self, entries, option: str = "train.feature_store") -> np.ndarray:
        """For each store position, the index of the same utterance in ``entries`` (-1 if absent).
        ConfigError (naming ``option``) when some of ``entries`` are not in the store."""
        where = {entry_key(e): i for i, e in enumerate(entries)}
        table = np.full(len(self.entries), -1, np.int64)
        for p, e in enumerate(self.entries):
            if e is not None:
                table[p] = where.pop(entry_key(e), -1)
        if where:
            missing = next(iter(where))
            raise ConfigError(f"{option}: {len(where)} utterance(s) are not in {self.path}, "
                              f"for example {missing[0]}; extract the store from this manifest")
        return table

    def layout(self, entries) -> list[list[int]]:
        """The store's shard layout as lists of indices into ``entries`` (record order)."""
        table = self.positions(entries)
        return [[int(i) for i in table[s["first"]:s["first"] + s["size"]] if i >= 0] for s in self.index["shards"]]

