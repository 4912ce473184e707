#!/usr/bin/env python
"""Open-vocabulary English, end to end: synthesize sentences -> validate -> train a character
BiLSTM-CTC -> build a word 3-gram LM from the training text -> tune the LM weights on dev ->
evaluate greedy and with the LM on the test split (unseen voices), in noise at 20/10/5 dB SNR,
and on sentences spoken by flite (another synthesizer, never trained on).

    python recipes/sentences/run.py                  # default config (about an hour on 2 cores)
    python recipes/sentences/run.py --config debug   # a smoke run of every stage in a few minutes
    python recipes/sentences/run.py --config long    # after default: its model, 95 more minutes on 21 hours
    python recipes/sentences/run.py --config large   # for a GPU: 40 hours of audio, a 5 x 320 BiLSTM

Every stage skips work already done (``--force`` redoes training). Paths in the configs are
relative to this folder; outputs go to ``exp/<config>/``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent

from speech_lstm.recipe import recipe_arguments  # noqa: E402

_SENTENCES = {"text": "sentences", "min_words": 4, "max_words": 14, "vocab_size": 10000}
# Corpora by folder (data/<folder>/train.jsonl); voices are disjoint across splits. Random
# channels (formants, tilt, EQ, band limits, codecs, noise) on half the training audio.
CORPORA = {
    "sentences": {**_SENTENCES, "num_train": 12000, "num_dev": 400, "num_test": 500, "channel_prob": 0.5},
    # Bigger training sets: the same seed, so the same voice split, and the first 12,000
    # training utterances are those of `sentences`; their dev/test splits are not used.
    "sentences_20h": {**_SENTENCES, "num_train": 24000, "num_dev": 400, "num_test": 500, "channel_prob": 0.5},
    "sentences_large": {**_SENTENCES, "num_train": 46000, "num_dev": 400, "num_test": 500, "channel_prob": 0.5},
    "sentences_debug": {**_SENTENCES, "num_train": 150, "num_dev": 30, "num_test": 30, "channel_prob": 0.5},
}
# Evaluation per config: noisy copies of the test split (babble, dB SNR), the flite set, the LM
# and the alpha x beta grid tuned on the first dev utterances.
EVAL = {
    "default": {"snrs": [20.0, 10.0, 5.0], "flite": 300, "order": 3, "tune_limit": 200,
                "alphas": [0.25, 0.5, 0.75, 1.0, 1.5], "betas": [0.0, 1.0, 2.0, 3.0], "beam_width": 64, "parity": 200},
    "debug": {"snrs": [10.0], "flite": 10, "order": 3, "tune_limit": 20, "alphas": [0.5, 1.0], "betas": [1.0],
              "beam_width": 16, "parity": 10},
}


def main(argv=None) -> int:
    args = recipe_arguments(__doc__, argv)
    os.chdir(HERE)
    from speech_lstm.data.flite import flite_binary
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.synth import noisy_copy, synthesize_flite_set
    from speech_lstm.errors import SpeechLSTMError, SynthesisError
    from speech_lstm.recipe import (build_lm, evaluate_sets, export_and_check, load_recipe_config, prepare_and_train,
                                    stage, tune_lm_weights, write_summary)
    from speech_lstm.training import load_run

    timings, t_all = {}, time.perf_counter()
    try:
        config, name = load_recipe_config(HERE, args.config, args.set)
        run_dir = HERE / "exp" / name
        manifests, summary = prepare_and_train(config, CORPORA, run_dir, args.force, timings)
    except SpeechLSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ev = EVAL.get(name, EVAL["default"])
    train_entries = read_manifest(manifests["train"])
    hours = sum(float(e["duration"]) for e in train_entries) / 3600
    words = {w for e in train_entries for w in e["text"].split()}
    print(f"training audio: {hours:.2f} h, {len(train_entries)} utterances, {len(words)} distinct words")

    t = stage(f"4. word {ev['order']}-gram language model from the training transcripts")
    lm = build_lm(run_dir, manifests["train"], train_entries, ev["order"])
    timings["lm"] = time.perf_counter() - t

    t = stage("5. tune the LM weight (alpha) and word bonus (beta) on dev")
    model, fc, vocab = load_run(run_dir)
    dev = read_manifest(manifests["dev"])[: ev["tune_limit"]]
    lm_options = tune_lm_weights(run_dir, model, fc, vocab, dev, lm, ev["alphas"], ev["betas"], ev["beam_width"])
    timings["tune"] = time.perf_counter() - t

    t = stage("6. evaluate: test split (unseen voices), in babble noise, and flite sentences (another synthesizer)")
    sets = {"test": manifests["test"]}
    for snr in ev["snrs"]:
        sets[f"test_babble{snr:g}db"] = noisy_copy(manifests["test"], manifests["test"].parent / f"babble{snr:g}db",
                                                   "babble", snr, seed=7)
    try:
        flite_binary()
        sets["flite"] = synthesize_flite_set(HERE / "data" / f"flite_{name}", num=ev["flite"], min_words=4,
                                             max_words=14, text="sentences", workers=2)
    except SynthesisError as e:
        print(f"flite set skipped: {e}")
    results = evaluate_sets(run_dir, model, fc, vocab, sets, lm_options)
    test_entries = read_manifest(manifests["test"])
    test_words = [w for e in test_entries for w in e["text"].split()]
    oov = [w for w in test_words if w not in words]
    n_test_words = len(test_words)
    print(f"test words not in the training text (the LM cannot know them): {len(oov)} of {n_test_words}")
    for w in results["test_lm"]["worst"][:5]:
        print(f"   worst (LM): ref={w['ref']!r}\n               hyp={w['hyp']!r}")
    timings["evaluate"] = time.perf_counter() - t

    t = stage("7. export a SavedModel, check it against the Keras model, transcribe with it and the LM")
    export, check = export_and_check(run_dir, model, fc, vocab, test_entries, ev["parity"], lm_options)
    timings["export"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    write_summary(run_dir, summary, results, sets, export, check, timings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
