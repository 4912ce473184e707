"""Feature store: sharded TFRecord extraction, resume, verification, and the same batches as audio."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from speech_lstm.config import FeatureConfig
from speech_lstm.data.manifest import read_manifest, write_manifest
from speech_lstm.data.pipeline import make_dataset
from speech_lstm.data.store import FeatureStore, extract_features
from speech_lstm.errors import ConfigError
from speech_lstm.features import featurize_file
from speech_lstm.text import Vocabulary

FC = FeatureConfig()
V = Vocabulary()


@pytest.fixture(scope="module")
def store(digits_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    index = extract_features(digits_corpus["train"], out, FC, workers=1, shard_size=5, progress=False)
    return out, index


def _batches(ds, epochs=2):
    out = []
    for _ in range(epochs):
        for inputs, targets in ds:
            out.append((inputs["features"].numpy(), inputs["feature_lengths"].numpy(),
                        targets["labels"].numpy(), targets["index"].numpy()))
    return out


def test_store_holds_every_entry_in_shards(store, digits_corpus):
    out, index = store
    entries = read_manifest(digits_corpus["train"])
    assert index["utterances"] == len(entries) and not index["failed"]
    assert len(index["shards"]) == -(-len(entries) // 5)
    opened = FeatureStore(out)
    assert opened.feature_config == FC
    e = entries[7]
    assert opened.entries[7]["frames"] == featurize_file(e["audio_filepath"], FC).shape[0]


@pytest.mark.parametrize("training", [True, False])
def test_store_gives_the_same_batches_as_audio(store, digits_corpus, training):
    out, _ = store
    entries = read_manifest(digits_corpus["train"])
    kw = dict(batch_size=4, bucket_seconds=(2.0, 4.0), training=training, spec_augment_on=training, seed=7,
              shard_size=5, cycle_length=3)
    from_audio = _batches(make_dataset(entries, FC, V, **kw))
    from_store = _batches(make_dataset(entries, FC, V, store=FeatureStore(out), **kw))
    assert len(from_audio) == len(from_store) > 0
    for a, b in zip(from_audio, from_store):
        np.testing.assert_array_equal(a[3], b[3])  # same utterances in the same order
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    if training:  # and the order really is shuffled, differently each epoch
        order = np.concatenate([b[3] for b in from_audio])
        half = len(order) // 2
        assert not np.array_equal(order[:half], np.sort(order[:half]))
        assert not np.array_equal(order[:half], order[half:])


def test_store_serves_a_subset_of_its_entries(store, digits_corpus):
    out, _ = store
    entries = read_manifest(digits_corpus["train"])[3:11]
    ds = make_dataset(entries, FC, V, batch_size=2, bucket_seconds=(4.0,), training=False, store=FeatureStore(out))
    seen = sorted(int(i) for b in _batches(ds, 1) for i in b[3])
    assert seen == list(range(len(entries)))


def test_extraction_resumes_keeping_verified_shards(digits_corpus, tmp_path):
    out = tmp_path / "store"
    extract_features(digits_corpus["train"], out, FC, workers=1, shard_size=8, progress=False)
    shards = sorted(out.glob("shard-*.tfrecord"))
    kept, broken = shards[0], shards[1]
    kept_mtime = kept.stat().st_mtime_ns
    broken.write_bytes(broken.read_bytes()[:-10])  # a torn shard, as a killed worker leaves it
    (out / "index.json").unlink()
    with pytest.raises(ConfigError, match="extraction unfinished"):
        FeatureStore(out)
    index = extract_features(digits_corpus["train"], out, FC, workers=1, shard_size=8, progress=False)
    assert kept.stat().st_mtime_ns == kept_mtime  # verified and kept
    assert index["shards"][1]["bytes"] == broken.stat().st_size
    entries = read_manifest(digits_corpus["train"])
    ds = make_dataset(entries, FC, V, batch_size=4, bucket_seconds=(4.0,), training=False, store=FeatureStore(out))
    assert sum(len(b[3]) for b in _batches(ds, 1)) == len(entries)


def test_bad_audio_is_listed_and_the_rest_stored(digits_corpus, tmp_path):
    entries = read_manifest(digits_corpus["train"])[:6]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    entries.insert(2, {"audio_filepath": str(bad), "text": "one", "duration": 1.0})
    manifest = tmp_path / "m.jsonl"
    write_manifest(entries, manifest)
    index = extract_features(manifest, tmp_path / "s", FC, workers=1, shard_size=4, progress=False)
    assert index["utterances"] == 6 and len(index["failed"]) == 1
    assert "broken.wav" in index["failed"][0]["audio_filepath"] and index["failed"][0]["error"]
    assert index["entries"][2] is None


def test_store_refuses_other_features_and_foreign_entries(store, digits_corpus):
    out, _ = store
    opened = FeatureStore(out)
    with pytest.raises(ConfigError, match="train.feature_store.*other feature settings.*n_mfcc"):
        opened.check_features(FeatureConfig(n_mfcc=20))
    dev = read_manifest(digits_corpus["dev"])
    with pytest.raises(ConfigError, match="train.feature_store: .* not in"):
        opened.positions(dev)
    with pytest.raises(ConfigError, match="other feature settings or shard size"):
        extract_features(digits_corpus["train"], out, FC, workers=1, shard_size=3, progress=False)


def test_missing_or_changed_shard_is_named(store, tmp_path):
    out, _ = store
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shard = sorted(copy.glob("shard-*.tfrecord"))[0]
    shard.unlink()
    with pytest.raises(ConfigError, match=shard.name):
        FeatureStore(copy)
    with pytest.raises(ConfigError, match="not a feature store"):
        FeatureStore(tmp_path / "nothing")


@pytest.mark.slow
def test_cli_extract_in_two_workers(digits_corpus, tmp_path):
    out = tmp_path / "cli_store"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-m", "speech_lstm", "features", "extract", str(digits_corpus["dev"]),
                          "--out", str(out), "--workers", "2", "--shard-size", "4"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    index = json.loads((out / "index.json").read_text())
    assert index["utterances"] == len(read_manifest(digits_corpus["dev"]))
    bad = subprocess.run([sys.executable, "-m", "speech_lstm", "features", "extract", str(tmp_path / "none.jsonl"),
                          "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "none.jsonl" in bad.stderr


def test_training_from_the_store_matches_training_from_audio(store, digits_corpus, tmp_path):
    import csv

    from test_training import tiny_config

    from speech_lstm.training import train

    out, _ = store
    losses = []
    for name, kw in (("audio", {}), ("store", {"feature_store": str(out)})):
        run_dir = tmp_path / name
        config = tiny_config(digits_corpus, run_dir, epochs=1, shard_size=5, **kw)
        train(config, run_dir, progress=False)
        with open(run_dir / "train_log.csv", newline="") as f:
            row = next(csv.DictReader(f))
        losses.append((float(row["loss"]), float(row["val_loss"])))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    other = tiny_config(digits_corpus, tmp_path / "x", feature_store=str(out))
    other = other.__class__(features=FeatureConfig(n_mfcc=20), model=other.model, train=other.train)
    with pytest.raises(ConfigError, match="train.feature_store"):
        train(other, tmp_path / "x", progress=False)
