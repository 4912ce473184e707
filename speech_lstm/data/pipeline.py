"""tf.data input pipeline: manifest entries -> padded, length-bucketed batches with true lengths.

Each batch is ``(inputs, targets)``:
  inputs  = {"features": float32 [B, T, F], "feature_lengths": int32 [B]}
  targets = {"labels": int32 [B, L] (0-padded), "label_lengths": int32 [B],
             "index": int64 [B] (position of each utterance in the entries list)}
Batches are padded to their bucket's upper edge so that shapes repeat and XLA
(``jit_compile``) compiles a handful of programs instead of one per batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from speech_lstm.config import FeatureConfig
from speech_lstm.data.augment import spec_augment
from speech_lstm.errors import ParameterError
from speech_lstm.features import FeatureCache, featurize_file
from speech_lstm.text import Vocabulary

__all__ = ["make_dataset", "bucket_frame_edges", "warm_feature_cache", "load_features"]


def bucket_frame_edges(bucket_seconds, feature_config: FeatureConfig) -> list[int]:
    """Bucket boundaries in frames (exclusive upper edges) for tf.data bucketing."""
    return [feature_config.num_frames(int(round(s * feature_config.sample_rate))) + 1 for s in bucket_seconds]


def _segment(entry):
    """(offset, duration) to read: the whole file unless the entry has an offset."""
    return float(entry.get("offset", 0.0)), float(entry["duration"]) if entry.get("offset") else None


def load_features(entry, feature_config, cache=None):
    offset, duration = _segment(entry)
    return featurize_file(entry["audio_filepath"], feature_config, cache, offset=offset, duration=duration)


def warm_feature_cache(entries, feature_config, cache_root, workers=2, desc="features") -> None:
    """Compute and cache the features of all entries with ``workers`` threads (progress bar).

    Threads, not processes: librosa's FFTs release the GIL, and a process pool would pay
    librosa's start-up compilation once per worker.
    """
    cache = FeatureCache(cache_root, feature_config)

    todo = [e for e in entries if not cache.has(e["audio_filepath"], *_segment(e))]
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in tqdm(pool.map(lambda e: load_features(e, feature_config, cache), todo), total=len(todo),
                      desc=desc, unit="utt"):
            pass


def make_dataset(
    entries,
    feature_config: FeatureConfig,
    vocab: Vocabulary,
    batch_size: int,
    bucket_seconds=(2.0, 4.0, 8.0),
    training: bool = False,
    cache: FeatureCache | None = None,
    spec_augment_on: bool = False,
    spec_augment_params: dict | None = None,
    shuffle_buffer: int = 10000,
    seed: int = 0,
    pad_to_edges: bool = True,
    store=None,
    shard_size: int = 1000,
    cycle_length: int = 4,
) -> tf.data.Dataset:
    """A tf.data pipeline over manifest ``entries``.

    Features are computed in parallel map calls (or read from ``cache``); entries longer than
    the last bucket edge must be filtered out beforehand (validate_manifest with
    max_duration). ``training`` shuffles every epoch, applies SpecAugment when
    ``spec_augment_on`` (with ``spec_augment_params``, keyword arguments of
    :func:`~speech_lstm.data.augment.spec_augment`) and drops the last partial batch of each bucket so batch shapes
    stay fixed. ``pad_to_edges`` pads each batch to its bucket's upper edge (a few repeated
    shapes, for jit_compile); otherwise batches are padded to their longest utterance only.

    Order: the entries form shards (``store``'s shards, else runs of ``shard_size`` entries);
    for training the shards are shuffled and read ``cycle_length`` at a time, interleaved
    one element each, then shuffled again through ``shuffle_buffer``. ``store``
    (a :class:`~speech_lstm.data.store.FeatureStore` holding every entry) reads the features
    from its TFRecord shards instead of the audio; with the same shard layout and ``seed``
    both sources give the same batches. Every stage is deterministic for a given ``seed``.
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    if not entries:
        raise ParameterError("make_dataset needs at least one manifest entry")
    edges = bucket_frame_edges(bucket_seconds, feature_config)
    max_frames = edges[-1] - 1
    labels = [vocab.encode(e["text"]) for e in entries]
    # One label width for every batch (the longest transcript, rounded up to 16), so the only
    # shape that varies is the bucket's frame count: XLA compiles one program per bucket.
    label_width = -(-max(len(lab) for lab in labels) // 16) * 16
    entries = list(entries)

    def finish(i, feats, aug_seed):
        if feats.shape[0] > max_frames:
            raise ParameterError(
                f"{entries[i]['audio_filepath']}: {feats.shape[0]} frames exceed the last bucket "
                f"edge ({bucket_seconds[-1]} s); filter with max_duration first"
            )
        if spec_augment_on:
            feats = spec_augment(feats, np.random.default_rng(int(aug_seed)), **(spec_augment_params or {}))
        return feats, labels[i]

    def load(index, aug_seed):
        i = int(index)
        return finish(i, load_features(entries[i], feature_config, cache), aug_seed)

    def load_store(index, feats, aug_seed):
        return finish(int(index), feats, aug_seed)

    def map_fn(index, aug_seed, feats=None):
        if feats is None:
            feats, lab = tf.numpy_function(load, [index, aug_seed], [tf.float32, tf.int32], stateful=False)
        else:
            feats, lab = tf.numpy_function(load_store, [index, feats, aug_seed], [tf.float32, tf.int32],
                                           stateful=False)
        feats.set_shape([None, feature_config.feature_dim])
        lab.set_shape([None])
        return {
            "features": feats,
            "feature_lengths": tf.shape(feats)[0],
            "labels": lab,
            "label_lengths": tf.shape(lab)[0],
            "index": index,
        }

    ds = _ordered_elements(entries, store, shard_size, cycle_length if training else 1, training, seed,
                           feature_config.feature_dim)
    rng = np.random.default_rng(seed)
    if training:
        ds = ds.shuffle(min(shuffle_buffer, len(entries)), seed=seed, reshuffle_each_iteration=True)
        # One fresh augmentation seed per element per epoch, reproducible from `seed`.
        seeds = tf.data.Dataset.random(seed=int(rng.integers(2**31)))
        ds = tf.data.Dataset.zip((ds, seeds))
    else:
        ds = ds.map(lambda *x: (x[0] if len(x) == 1 else x, tf.constant(0, tf.int64)))
    if store is None:
        ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda x, aug: map_fn(x[0], aug, x[1]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    boundaries = edges[:-1] if len(edges) > 1 else edges
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda x: x["feature_lengths"],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes={
            "features": [None, feature_config.feature_dim],
            "feature_lengths": [],
            "labels": [None],
            "label_lengths": [],
            "index": [],
        },
        pad_to_bucket_boundary=False,
        drop_remainder=training,
    )
    if pad_to_edges:
        ds = ds.map(lambda x: _pad_to_edge(x, edges, label_width), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(
        lambda x: (
            {"features": x["features"], "feature_lengths": tf.cast(x["feature_lengths"], tf.int32)},
            {
                "labels": tf.cast(x["labels"], tf.int32),
                "label_lengths": tf.cast(x["label_lengths"], tf.int32),
                "index": x["index"],
            },
        )
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def _ordered_elements(entries, store, shard_size, cycle_length, shuffle_shards, seed, feature_dim):
    """Entry indices (int64), or (index, features) pairs read from ``store``, shard by shard:
    shards shuffled when ``shuffle_shards``, ``cycle_length`` of them interleaved."""
    if store is None:
        if shard_size < 1:
            raise ParameterError(f"shard_size must be >= 1, got {shard_size}")
        n = len(entries)
        lengths = [min(shard_size, n - s) for s in range(0, n, shard_size)]
        flat = np.arange(n, dtype=np.int64)
    else:
        table = store.positions(entries)
        rows = [table[s["first"]:s["first"] + s["size"]] for s in store.index["shards"]]
        lengths = [int((r >= 0).sum()) for r in rows]
        flat = np.concatenate([r[r >= 0] for r in rows]).astype(np.int64)
    num_shards = len(lengths)
    shard_ids = tf.data.Dataset.range(num_shards)
    if shuffle_shards:
        shard_ids = shard_ids.shuffle(num_shards, seed=seed, reshuffle_each_iteration=True)
    cycle = max(1, min(cycle_length, num_shards))
    if store is None:
        rows_t = tf.RaggedTensor.from_row_lengths(flat, np.asarray(lengths, np.int64))
        return shard_ids.interleave(lambda k: tf.data.Dataset.from_tensor_slices(rows_t[k]), cycle_length=cycle,
                                    block_length=1)
    files = tf.constant([str(f) for f in store.files])
    table_t = tf.constant(table)
    spec = {"position": tf.io.FixedLenFeature([], tf.int64), "features": tf.io.FixedLenFeature([], tf.string)}

    def parse(record):
        x = tf.io.parse_single_example(record, spec)
        feats = tf.reshape(tf.io.decode_raw(x["features"], tf.float32), [-1, feature_dim])
        return tf.gather(table_t, x["position"]), feats

    def read_shard(k):  # entries not asked for are dropped inside the shard, so both sources interleave alike
        return tf.data.TFRecordDataset(files[k]).map(parse).filter(lambda i, f: i >= 0)

    return shard_ids.interleave(read_shard, cycle_length=cycle, block_length=1,
                                num_parallel_calls=cycle, deterministic=True)


def _pad_to_edge(batch, edges, label_width):
    """Pad frames up to the smallest bucket edge that fits and labels to ``label_width``."""
    t = tf.shape(batch["features"])[1]
    edges_t = tf.constant([e - 1 for e in edges], tf.int32)
    target = tf.reduce_min(tf.boolean_mask(edges_t, edges_t >= t))
    feats = tf.pad(batch["features"], [[0, 0], [0, target - t], [0, 0]])
    labels = tf.pad(batch["labels"], [[0, 0], [0, label_width - tf.shape(batch["labels"])[1]]])
    return {**batch, "features": feats, "labels": labels}
