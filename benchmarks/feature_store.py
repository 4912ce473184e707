#!/usr/bin/env python
"""Feature store vs on-the-fly extraction: one epoch of training input from each source.

    python benchmarks/feature_store.py --manifest recipes/sentences/data/sentences/train.jsonl \
        --config recipes/sentences/configs/default.yaml --out /tmp/sentences_store \
        --cache recipes/sentences/data/feature_cache

Measures (1) extracting the manifest into a feature store (``speech-lstm features extract``,
``--workers`` processes), then one full training epoch of the recipe's input pipeline
(shuffled, SpecAugment, bucketed, padded batches; no model) read (2) from the audio,
featurizing on the fly, (3) from the store, and (4) from the per-file ``.npy`` feature cache
(the recipes' default, the peer), if ``--cache`` is given and warm. ``--train-steps N`` also
times N training steps of the config's model on each source (the input pipeline then overlaps
with the model). Prints one JSON object. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _du(path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--config", required=True, help="recipe config: features, batch size, length buckets")
    parser.add_argument("--out", required=True, help="store directory (rebuilt)")
    parser.add_argument("--cache", default=None, help="a warm .npy feature cache of the same manifest (the peer)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the store (default: delete it afterwards)")
    args = parser.parse_args()

    from tqdm.auto import tqdm

    from speech_lstm.config import load_config
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.pipeline import make_dataset
    from speech_lstm.data.store import FeatureStore, extract_features
    from speech_lstm.features import FeatureCache
    from speech_lstm.text import Vocabulary

    config = load_config(args.config)
    fc, tc = config.features, config.train
    entries = [e for e in read_manifest(args.manifest) if tc.min_duration <= e["duration"] <= tc.max_duration]
    hours = sum(e["duration"] for e in entries) / 3600
    result = {"manifest": args.manifest, "utterances": len(entries), "hours": round(hours, 2),
              "cpus": os.cpu_count(), "workers": args.workers}

    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    extract_features(args.manifest, args.out, fc, workers=args.workers, shard_size=tc.shard_size)
    result["extract_seconds"] = round(time.perf_counter() - t0, 1)
    result["store_mb"] = round(_du(args.out) / 2**20, 1)
    result["audio_mb"] = round(sum(Path(e["audio_filepath"]).stat().st_size for e in entries) / 2**20, 1)

    vocab = Vocabulary()
    sources = {"audio": {}, "store": {"store": FeatureStore(args.out)}}
    if args.cache:
        cache = FeatureCache(args.cache, fc)
        missing = sum(not cache.has(e["audio_filepath"]) for e in entries)
        if missing:
            print(f"--cache {args.cache}: {missing} utterances not cached; skipping the .npy source")
        else:
            sources["npy_cache"] = {"cache": cache}
    kw = dict(batch_size=tc.batch_size, bucket_seconds=tuple(b for b in tc.bucket_seconds if b < tc.max_duration)
              + (tc.max_duration,), training=True, spec_augment_on=tc.spec_augment, seed=tc.seed,
              shuffle_buffer=tc.shuffle_buffer, pad_to_edges=tc.jit_compile, shard_size=tc.shard_size,
              cycle_length=tc.interleave)
    for name, source in sources.items():
        ds = make_dataset(entries, fc, vocab, **kw, **source)
        t0, n = time.perf_counter(), 0
        for inputs, _ in tqdm(ds, desc=f"epoch from {name}", unit="batch"):
            n += int(inputs["features"].shape[0])
        seconds = time.perf_counter() - t0
        result[f"epoch_seconds_{name}"] = round(seconds, 1)
        result[f"audio_sec_per_sec_{name}"] = round(hours * 3600 / seconds, 1)
        result[f"utterances_{name}"] = n
        if args.train_steps:
            result[f"train_audio_sec_per_sec_{name}"] = _train_rate(config, ds, vocab, args.train_steps)
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    print(json.dumps(result, indent=1))


def _train_rate(config, ds, vocab, steps) -> float:
    """Audio seconds per second over ``steps`` training steps (after one warm-up step)."""
    import keras

    from speech_lstm.models import build_ctc_asr

    keras.utils.set_random_seed(0)
    model = build_ctc_asr(config.model, config.features, vocab)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=config.train.jit_compile)
    it = iter(ds.repeat())
    model.train_on_batch(*next(it))
    t0, audio = time.perf_counter(), 0.0
    for _ in range(steps):
        inputs, targets = next(it)
        model.train_on_batch(inputs, targets)
        audio += float(inputs["feature_lengths"].numpy().sum()) / config.features.frames_per_second
    return round(audio / (time.perf_counter() - t0), 1)


if __name__ == "__main__":
    main()
