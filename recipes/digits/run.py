#!/usr/bin/env python
"""Connected spoken digits, end to end: synthesize -> validate -> train -> evaluate -> transcribe
-> export a SavedModel (checked against the Keras model) -> transcribe a long recording.

    python recipes/digits/run.py                  # default config (about 13 minutes on 2 cores)
    python recipes/digits/run.py --config debug   # a one-minute smoke run
    python recipes/digits/run.py --set train.epochs=5 --set model.lstm_units=64

Every stage skips work already done (``--force`` redoes training). Paths in the configs are
relative to this folder; outputs go to ``exp/<config>/``.
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

# Corpus size per config: utterances per split (voices are disjoint across splits).
# Corpora by the folder of the config's train manifest (data/<folder>/train.jsonl). The dev and
# test splits of "digits" are what every config is scored on; the others differ in training audio.
CORPORA = {
    "digits": {"num_train": 7000, "num_dev": 400, "num_test": 600},
    "digits_channel": {"num_train": 7000, "num_dev": 400, "num_test": 600, "channel_prob": 0.7},
    # Stronger randomization: a channel on 90 % of utterances, vocal tracts up to a child's,
    # babble of 2-8 talkers down to 0 dB SNR, and more distinct utterances for the same compute.
    "digits_robust": {"num_train": 12000, "num_dev": 400, "num_test": 600, "channel_prob": 0.9,
                      "channel": {"formant_prob": 0.6, "formant": [0.82, 1.28], "noise_prob": 0.7,
                                  "noise_snr_db": [0.0, 25.0], "babble_share": 0.6, "babble_talkers": [2, 8]}},
    # `digits_channel` + synthesizer randomization: half the training utterances read by 200
    # random eSpeak NG voice variants (formants, Klatt, roughness, breath, ...), 30 % phrased.
    "digits_voices": {"num_train": 7000, "num_dev": 400, "num_test": 600, "channel_prob": 0.7, "pause_prob": 0.3,
                      "random_voices": 200, "random_voice_prob": 0.5},
    "debug": {"num_train": 160, "num_dev": 40, "num_test": 40, "channel_prob": 0.5},
}


# Out-of-domain dev sets (Debian's flite voices; never used for training) and the closed word list.
OOD = {"default": {"folder": "flite", "num": 500, "babble_snr": 10.0},
       "debug": {"folder": "flite_debug", "num": 20, "babble_snr": 10.0}}
DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def evaluate_out_of_domain(model, fc, vocab, run_dir: Path, ood: dict) -> dict:
    """WER on the eSpeak test split, the flite set and the flite set in babble, greedy and
    constrained to the digit words (results.json keys ``<set>`` and ``<set>_words``)."""
    from speech_lstm.config import DecodeOptions
    from speech_lstm.data.flite import flite_binary
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.synth import noisy_copy, synthesize_flite_set
    from speech_lstm.errors import SynthesisError
    from speech_lstm.evaluate import evaluate_model, write_results

    try:
        flite_binary()
    except SynthesisError as e:
        print(f"skipped: {e}")
        return {}
    flite = synthesize_flite_set(HERE / "data" / ood["folder"], num=ood["num"], workers=2)
    babble = noisy_copy(flite, flite.parent / f"babble{ood['babble_snr']:g}db", "babble", ood["babble_snr"], seed=1)
    if getattr(vocab, "is_words", False):  # a word-level model writes only its own words anyway
        decodings = {"": None}
    else:
        decodings = {"": None, "_words": DecodeOptions("beam", beam_width=16, words=DIGIT_WORDS)}
    out = {}
    for set_name, manifest in (("flite", flite), (f"flite_babble{ood['babble_snr']:g}db", babble)):
        entries = read_manifest(manifest)
        for suffix, options in decodings.items():
            r = evaluate_model(model, entries, fc, vocab, batch_size=32, options=options)
            r["manifest"] = str(manifest)
            write_results(r, run_dir, name=set_name + suffix)
            out[set_name + suffix] = r
            per_voice = ", ".join(f"{v} {100 * w:.1f}" for v, w in sorted(r["per_speaker_wer"].items()))
            print(f"{set_name + suffix:28s} WER {100 * r['wer']:.2f} %  CER {100 * r['cer']:.2f} %  "
                  f"per voice: {per_voice}")
    return out


# Long-recording checks: minutes of the timing-calibration recording (its own seed) and of the test one.
LONG = {"default": {"calibration_minutes": 2, "test_minutes": 30}, "debug": {"calibration_minutes": 0.5, "test_minutes": 1}}


def export_and_check(run_dir: Path, recognizer, test_entries, long_cfg) -> Path:
    """Calibrate word timings on a held-out recording, export, and compare the export's
    transcripts with the Keras model's on the test split (written to results.json)."""
    from speech_lstm.data.long_recording import build_long_recording, words_json_path
    from speech_lstm.export import ExportedRecognizer, export_saved_model
    from speech_lstm.errors import ParameterError
    from speech_lstm.transcribe import calibrate_emission_lag, compare_recognizers

    cal_wav = Path("data/long/calibration.wav")
    if not cal_wav.exists():
        build_long_recording(cal_wav, long_cfg["calibration_minutes"], seed=1, progress=False)
    ref = json.loads(words_json_path(cal_wav).read_text())
    try:
        cal = calibrate_emission_lag(recognizer, cal_wav, ref["words"],
                                     [(u["start"], u["end"]) for u in ref["utterances"]])
        print(f"emission lag {cal['emission_lag']:.3f} s (median over {cal['matched']} words of {cal_wav})")
    except ParameterError as e:  # a model that recognizes nothing (the debug config's): export without a lag
        print(f"warning: {e}; exporting with emission lag 0")
        cal = {"emission_lag": 0.0}
    export = export_saved_model(run_dir, run_dir / "export", force=True, emission_lag=cal["emission_lag"])
    check = compare_recognizers(recognizer, ExportedRecognizer(export), [e["audio_filepath"] for e in test_entries])
    print(f"{export}: {check['identical']}/{check['utterances']} test transcripts identical to the Keras model's")
    (run_dir / "export_check.json").write_text(json.dumps(
        {"utterances": check["utterances"], "identical": check["identical"], "calibration": cal}, indent=1))
    return export


def transcribe_long_recording(run_dir: Path, export: Path, long_cfg) -> dict:
    """Transcribe a long recording with the export; word start errors vs where words were placed."""
    from speech_lstm.data.long_recording import build_long_recording, words_json_path
    from speech_lstm.evaluate import recording_timing_report
    from speech_lstm.export import ExportedRecognizer
    from speech_lstm.transcribe import transcribe_files
    from speech_lstm.writers import write_transcript

    wav = Path(f"data/long/test_{long_cfg['test_minutes']}min.wav")
    if not wav.exists():
        build_long_recording(wav, long_cfg["test_minutes"], seed=0)
    ref = json.loads(words_json_path(wav).read_text())
    t0 = time.perf_counter()
    (_, tr), = transcribe_files(ExportedRecognizer(export), [wav])
    wall = time.perf_counter() - t0
    for fmt in ("srt", "json"):
        write_transcript(tr, run_dir / f"long_recording.{fmt}", fmt)
    from speech_lstm.audio import load_audio
    from speech_lstm.plots import plot_word_timings

    start = min(60.0, max(0.0, ref["duration"] - 15.0))  # a 15 s stretch one minute in (or the end of a short one)
    plot_word_timings(load_audio(wav, 16000, offset=start, duration=15.0), 16000, start, tr.words,
                      run_dir / "long_recording_timings.png", ref["words"], tr.segments,
                      title=f"{wav.name}, {start:.0f}-{start + 15:.0f} s: recognised words vs where they were placed")
    out = {
        "minutes": long_cfg["test_minutes"], "wall_seconds": round(wall, 1), "rtf": round(wall / ref["duration"], 5),
        **recording_timing_report(ref, tr),
        "parity": json.loads((run_dir / "export_check.json").read_text()),
    }
    (run_dir / "long_recording.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "parity"}))
    return out


def main(argv=None) -> int:
    args = recipe_arguments(__doc__, argv)
    os.chdir(HERE)
    from speech_lstm.config import DecodeOptions
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.errors import SpeechLSTMError
    from speech_lstm.evaluate import evaluate_model, write_results
    from speech_lstm.plots import plot_features_alignment
    from speech_lstm.recipe import load_recipe_config, prepare_and_train, stage
    from speech_lstm.training import load_run
    from speech_lstm.transcribe import Recognizer, transcribe_files

    timings, t_all = {}, time.perf_counter()
    try:
        config, name = load_recipe_config(HERE, args.config, args.set)
        run_dir = HERE / "exp" / name
        _, summary = prepare_and_train(config, CORPORA, run_dir, args.force, timings)
    except SpeechLSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    t = stage("4. evaluate on the test split (unseen voices)")
    model, fc, vocab = load_run(run_dir)
    test_entries = read_manifest(config.train.test_manifest)
    results = {}
    decodings = [("test", DecodeOptions()), ("test_beam", DecodeOptions("beam", beam_width=8))]
    if not getattr(vocab, "is_words", False):
        decodings.append(("test_words", DecodeOptions("beam", beam_width=16, words=DIGIT_WORDS)))
    for label, options in decodings:
        r = evaluate_model(model, test_entries, fc, vocab, batch_size=32, options=options)
        r["manifest"] = str(Path(config.train.test_manifest).resolve())
        write_results(r, run_dir, name=label)
        results[label] = r
        print(f"{label:10s} WER {100 * r['wer']:.2f} %   CER {100 * r['cer']:.2f} %   "
              f"({r['num_utterances']} utterances, {r['num_words']} words, RTF {r['rtf']:.4f})")
    for w in results["test"]["worst"][:5]:
        print(f"   worst: ref={w['ref']!r} hyp={w['hyp']!r}  {Path(w['audio_filepath']).name}")
    timings["evaluate"] = time.perf_counter() - t

    t = stage("4b. out of domain: digits spoken by flite (never trained on), clean and in babble at 10 dB SNR")
    results.update(evaluate_out_of_domain(model, fc, vocab, run_dir, OOD.get(name, OOD["default"])))
    timings["evaluate_ood"] = time.perf_counter() - t

    t = stage("5. transcribe a few test files")
    recognizer = Recognizer(model, fc, vocab)
    sample = [e for e in test_entries if len(e["text"].split()) >= 3][:3]
    for path, tr in transcribe_files(recognizer, [e["audio_filepath"] for e in sample], progress=False):
        words = " ".join(f"{w.word}@{w.start:.2f}s" for w in tr.words)
        print(f"{Path(path).name}: {tr.text!r}  [{words}]")
    entry = sample[0]
    from speech_lstm.audio import load_audio
    from speech_lstm.ctc import ctc_greedy_decode, log_softmax
    import numpy as np

    feats = recognizer.featurize(load_audio(entry["audio_filepath"], fc.sample_rate))
    logits, lengths = recognizer.logits([feats])
    hyp = ctc_greedy_decode(logits, lengths)[0]
    png = plot_features_alignment(
        feats, fc.frames_per_second, run_dir / "mfcc_alignment.png",
        posteriors=np.exp(log_softmax(logits[0, : lengths[0]])),
        output_fps=1.0 / recognizer.frame_seconds,
        chars=[(vocab.id_to_char(k), f * recognizer.frame_seconds) for k, f in zip(hyp.ids, hyp.frames)],
        labels=["<b>"] + vocab.chars, n_mfcc=fc.n_mfcc if fc.kind == "mfcc" else fc.n_mels,
        feature_label="MFCC coefficient" if fc.kind == "mfcc" else "log-mel band",
        title=f"{Path(entry['audio_filepath']).name} (voice {entry.get('speaker')}, {entry.get('accent')}): "
              f"ref {entry['text']!r} / hyp {vocab.decode(hyp.ids)!r}",
    )
    timings["transcribe"] = time.perf_counter() - t

    t = stage("6. export a SavedModel (raw audio in, text out) and check it against the Keras model")
    export = export_and_check(run_dir, recognizer, test_entries, LONG.get(name, LONG["default"]))
    timings["export"] = time.perf_counter() - t

    t = stage("7. transcribe a long recording (utterances joined by pauses) with the export")
    long_results = transcribe_long_recording(run_dir, export, LONG.get(name, LONG["default"]))
    timings["long_recording"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all

    (run_dir / "recipe_timings.json").write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=1))
    print("\n=== summary ===")
    print(f"test WER {100 * results['test']['wer']:.2f} %  CER {100 * results['test']['cer']:.2f} % (greedy); "
          f"beam-8 WER {100 * results['test_beam']['wer']:.2f} %")
    print(f"training: {summary['epochs_completed']} epochs, median {summary['median_epoch_seconds']} s/epoch, "
          f"{summary['median_audio_sec_per_sec']} audio-s per s")
    print(f"stage times (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    print(f"export: {export}  (identical transcripts on the test split: "
          f"{long_results['parity']['identical']}/{long_results['parity']['utterances']})")
    print(f"long recording: {long_results['minutes']} min, WER {100 * long_results['wer']:.2f} %, RTF "
          f"{long_results['rtf']:.4f}, " + (f"word starts within {long_results['start_error_abs_max']:.3f} s "
          f"(mean {long_results['start_error_mean']:+.3f} s)" if long_results["timed_words"] else "no word recognised"))
    print(f"plots: {run_dir / 'training_curves.png'}  {png}")
    print(f"results: {run_dir / 'results.json'}  {run_dir / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
