#!/usr/bin/env python
"""LibriSpeech 100 h, end to end: import the corpus (a copy you downloaded) -> validate ->
extract features into a sharded store -> train a character BiLSTM-CTC -> word 3-gram LM from
the training transcripts -> tune its weights on dev-clean -> evaluate greedy and with the LM
on dev-clean, test-clean (and test-other when present) -> export a SavedModel.

    python recipes/librispeech/run.py --source /data/LibriSpeech                  # default: a GPU
    python recipes/librispeech/run.py --source /data/LibriSpeech --set train.strategy=mirrored
    python recipes/librispeech/run.py --source tiny/LibriSpeech --config debug    # smoke run

``--source`` holds the extracted subsets (``train-clean-100/``, ``dev-clean/``, ``test-clean/``,
optionally ``test-other/``), as the openslr.org tarballs unpack. Every stage skips work already
done (``--force`` retrains); training resumes when killed. Outputs go to ``<out>/data`` and
``<out>/exp/<config>/`` (``--out``, default this folder). Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent

from speech_lstm.recipe import recipe_arguments  # noqa: E402

EVAL = {
    "default": {"order": 3, "tune_limit": 200, "alphas": [0.25, 0.5, 0.75, 1.0], "betas": [0.0, 1.0, 2.0],
                "beam_width": 64, "parity": 100},
    "debug": {"order": 3, "tune_limit": 10, "alphas": [0.5], "betas": [1.0], "beam_width": 8, "parity": 4},
}


def main(argv=None) -> int:
    args = recipe_arguments(__doc__, argv, source="the LibriSpeech folder (holding train-clean-100/ etc.)",
                            out=HERE)
    source = Path(args.source).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)
    from speech_lstm.data.importers import import_librispeech
    from speech_lstm.data.manifest import read_manifest, validate_manifest
    from speech_lstm.data.store import extract_features
    from speech_lstm.errors import SpeechLSTMError
    from speech_lstm.recipe import (build_lm, evaluate_sets, export_and_check, load_recipe_config, stage,
                                    tune_lm_weights, write_summary)
    from speech_lstm.text import Vocabulary
    from speech_lstm.training import load_run, train

    timings, t_all = {}, time.perf_counter()
    try:
        config, name = load_recipe_config(HERE, args.config, args.set)
        tc = config.train
        run_dir = out / "exp" / name
        manifests = {"train": Path(tc.train_manifest), "dev": Path(tc.dev_manifest), "test": Path(tc.test_manifest)}
        t = stage("1. import LibriSpeech into JSONL manifests")
        subsets = sorted({p.stem for p in manifests.values()} | ({"test-other"} if (source / "test-other").is_dir()
                                                                   else set()))
        folders = {p.parent for p in manifests.values()}
        if len(folders) != 1:
            raise SpeechLSTMError(f"the config's manifests must share one folder, got {sorted(map(str, folders))}")
        result = import_librispeech(source, folders.pop(), subsets=subsets, workers=4)
        for split, path in result.manifests.items():
            print(f"{path}: {result.kept[split]} utterances")
        if result.dropped:
            print(f"dropped: {json.dumps(result.dropped)} (see {result.report})")
        timings["import"] = time.perf_counter() - t

        t = stage("2. validate manifests (transcripts, vocabulary, durations)")
        vocab = Vocabulary()
        for path in manifests.values():
            entries = read_manifest(path)
            problems = validate_manifest(entries, vocab, tc.min_duration, tc.max_duration, name=str(path),
                                         raise_on_error=False)
            outside = [p for p in problems if "s outside [" in p]
            if len(outside) != len(problems):
                raise SpeechLSTMError("\n".join(p for p in problems if p not in outside))
            print(f"{path}: {len(entries)} utterances, {sum(e['duration'] for e in entries) / 3600:.2f} h, "
                  f"{len(outside)} outside [{tc.min_duration}, {tc.max_duration}] s (left out of training)")
        timings["validate"] = time.perf_counter() - t

        t = stage("3. extract training features into a sharded TFRecord store")
        index = extract_features(manifests["train"], tc.feature_store, config.features, workers=os.cpu_count() or 1,
                                 shard_size=tc.shard_size)
        print(f"{tc.feature_store}: {index['utterances']} utterances, {index['hours']} h, {len(index['shards'])} "
              f"shards, {len(index['failed'])} failed")
        if index["failed"]:
            raise SpeechLSTMError(f"{len(index['failed'])} training files could not be featurized, e.g. "
                                  f"{index['failed'][0]['audio_filepath']}: {index['failed'][0]['error']}")
        timings["features"] = time.perf_counter() - t

        t = stage("4. train")
        summary = train(config, run_dir, force=args.force)
        print(json.dumps({k: v for k, v in summary.items() if k != "last_epoch_history"}, indent=1))
        timings["train"] = time.perf_counter() - t
    except SpeechLSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    ev = EVAL.get(name, EVAL["default"])
    t = stage(f"5. word {ev['order']}-gram LM from the training transcripts; tune its weights on dev")
    train_entries = read_manifest(manifests["train"])
    lm = build_lm(run_dir, manifests["train"], train_entries, ev["order"])
    model, fc, vocab = load_run(run_dir)
    dev = read_manifest(manifests["dev"])[: ev["tune_limit"]]
    lm_options = tune_lm_weights(run_dir, model, fc, vocab, dev, lm, ev["alphas"], ev["betas"], ev["beam_width"])
    timings["lm"] = time.perf_counter() - t

    t = stage("6. evaluate greedy and with the LM")
    sets = {"dev": manifests["dev"], "test": manifests["test"]}
    if "test-other" in result.manifests:
        sets["test_other"] = result.manifests["test-other"]
    results = evaluate_sets(run_dir, model, fc, vocab, sets, lm_options)
    timings["evaluate"] = time.perf_counter() - t

    t = stage("7. export a SavedModel and check it against the Keras model")
    export, check = export_and_check(run_dir, model, fc, vocab, read_manifest(manifests["test"]), ev["parity"],
                                     lm_options)
    timings["export"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    write_summary(run_dir, summary, results, sets, export, check, timings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
