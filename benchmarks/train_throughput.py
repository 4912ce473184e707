#!/usr/bin/env python
"""Training throughput of BiLSTM-CTC variants on real utterances (audio seconds per wall second).

    python benchmarks/train_throughput.py --manifest recipes/digits/data/digits/train.jsonl
    python benchmarks/train_throughput.py --config recipes/sentences/configs/default.yaml \
        --manifest recipes/sentences/data/sentences/train.jsonl --cache recipes/sentences/data/feature_cache \
        --utterances 600 --variants jit:3:48:3x144,nojit:3:48:3x144,jit:3:96:3x144,jit:3:48:2x144

For each variant: epoch 1 (includes tracing / XLA compilation) and epoch 2 (steady state) on
the same subset, with the recipe's bucketing. Prints one JSON object per variant. Run it on an
otherwise idle machine; figures are for that machine only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default="recipes/digits/data/digits/train.jsonl")
    parser.add_argument("--utterances", type=int, default=1500)
    parser.add_argument("--cache", default="recipes/digits/data/feature_cache")
    parser.add_argument("--variants", default="jit:3:32,nojit:3:32,jit:3:64,nojit:2:32,jit:2:32",
                        help="comma list of {jit|nojit}:subsample_factor:batch_size[:LAYERSxUNITS]")
    parser.add_argument("--config", default=None,
                        help="a recipe config: its features, model and length buckets are the base of every "
                             "variant (default: 2 x BiLSTM(128) on the default MFCC)")
    args = parser.parse_args()

    import keras

    from speech_lstm.config import FeatureConfig, ModelConfig
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.pipeline import make_dataset, warm_feature_cache
    from speech_lstm.features import FeatureCache
    from speech_lstm.models import build_ctc_asr
    from speech_lstm.text import Vocabulary

    vocab = Vocabulary()
    if args.config:
        from speech_lstm.config import load_config

        base = load_config(args.config)
        fc, base_model, buckets = base.features, base.model, tuple(base.train.bucket_seconds)
    else:
        fc, base_model, buckets = FeatureConfig(), ModelConfig(subsample="conv", lstm_layers=2, lstm_units=128), \
            (1.5, 2.5, 3.5, 5.0, 8.0)
    entries = [e for e in read_manifest(args.manifest) if e["duration"] <= buckets[-1]][: args.utterances]
    warm_feature_cache(entries, fc, args.cache)
    cache = FeatureCache(args.cache, fc)
    audio = sum(e["duration"] for e in entries)
    for variant in args.variants.split(","):
        mode, factor, batch, *size = variant.split(":")
        jit = mode == "jit"
        keras.utils.set_random_seed(0)
        ds = make_dataset(entries, fc, vocab, int(batch), buckets, training=True, cache=cache,
                          seed=0, pad_to_edges=jit)
        layers, units = (int(x) for x in size[0].split("x")) if size else (base_model.lstm_layers,
                                                                            base_model.lstm_units)
        cfg = dataclasses.replace(base_model, subsample_factor=int(factor), lstm_layers=layers, lstm_units=units)
        model = build_ctc_asr(cfg, fc, vocab)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        # the audio an epoch really trains on: buckets drop their last partial batch
        trained = sum(float(x["feature_lengths"].numpy().sum()) for x, _ in ds) * fc.hop_ms / 1000.0
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            model.fit(ds, epochs=1, verbose=0)
            times.append(time.perf_counter() - t0)
        print(json.dumps({
            "variant": variant, "model": dataclasses.asdict(cfg), "utterances": len(entries),
            "audio_seconds": round(audio, 1), "trained_audio_seconds": round(trained, 1),
            "epoch1_seconds": round(times[0], 1), "epoch2_seconds": round(times[1], 1),
            "audio_sec_per_sec": round(trained / times[1], 1),
            "cpus": os.cpu_count(),
        }), flush=True)


if __name__ == "__main__":
    main()
