#!/usr/bin/env python
"""Text-to-speech with LSTMs, end to end: synthesize a one-voice eSpeak NG corpus with its
phoneme alignment -> validate -> train the duration LSTM and the acoustic BiLSTM -> speak the
held-out test sentences and score them (mel-cepstral distortion, duration error, PocketSphinx's
WER next to its WER on the reference recordings, real-time factor) -> a mel-spectrogram figure
and one sentence spoken from the command line.

    python recipes/tts/run.py                  # default config (about 22 minutes on 2 cores)
    python recipes/tts/run.py --config debug   # every stage in a few minutes (figures mean nothing)

Every stage skips work already done (``--force`` retrains). Paths in the configs are relative
to this folder; outputs go to ``exp/<config>/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent

from speech_lstm.recipe import recipe_arguments, stage  # noqa: E402

# Sentences scored per config, and the sentence spoken from the command line at the end.
EVAL = {"default": {"limit": 100}, "debug": {"limit": 8}}
NEW_SENTENCE = "The committee will meet again on the twenty first of March, at half past ten."
MORE_SENTENCES = ["Please leave the parcel at the front door.", "How many people are coming to dinner tonight?",
                  "The train to the airport leaves every fifteen minutes.",
                  "She bought three apples, two pears and a bag of rice.",
                  "We will call you back as soon as the results are ready."]
RECOGNIZER = HERE.parent / "sentences" / "exp" / "default" / "export"  # the sentences recipe's, when it exists


def _write_report(run_dir: Path, name: str, summary: dict, results: dict, timings: dict, cli: dict) -> None:
    mcd, pocket = results["mcd_db"], results["pocketsphinx_wer"]
    dur = results["duration_error"] or {}
    lines = [f"# TTS recipe, config `{name}`", "",
             f"Training: {summary['train_sentences']} sentences ({summary['train_hours']} h), "
             f"{summary['phonemes']} phonemes; duration model {summary['duration_model']['params']:,} parameters, "
             f"{summary['duration_model']['epochs']} epochs in {summary['duration_model']['seconds']} s; acoustic "
             f"model {summary['acoustic_model']['params']:,} parameters, {summary['acoustic_model']['epochs']} epochs "
             f"in {summary['acoustic_model']['seconds']} s.", "",
             f"Test: {results['sentences']} held-out sentences.", "",
             "| | reference (eSpeak NG) | vocoded reference (its mel through Griffin-Lim) | synthesized |",
             "|---|---:|---:|---:|",
             f"| MCD (dB, MFCC-based, DTW) | 0 | {mcd['vocoded_reference']:.2f} | {mcd['synthesized']:.2f} |",
             f"| PocketSphinx WER (%) | {100 * pocket['reference']:.1f} | {100 * pocket['vocoded_reference']:.1f} | "
             f"{100 * pocket['synthesized']:.1f} |"]
    if "recognizer" in results:
        w = results["recognizer"]["wer"]
        lines.append(f"| speech_lstm sentences recognizer WER (%) | {100 * w['reference']:.1f} | "
                     f"{100 * w['vocoded_reference']:.1f} | {100 * w['synthesized']:.1f} |")
    lines += ["", f"- PocketSphinx WER, synthesized minus reference: {pocket['difference_points']:+.1f} points.",
              f"- Duration error: {dur.get('mae_ms', float('nan')):.1f} ms mean absolute "
              f"({dur.get('rmse_ms', float('nan')):.1f} ms RMS) over {dur.get('phonemes', 0)} phonemes; synthesized "
              f"sentences are {results['sentence_length_ratio']:.3f}x the reference length.",
              f"- Real-time factor (in process, models loaded): {results['real_time_factor']:.3f}; seconds per "
              f"stage over {results['synthesized_audio_seconds']} s of speech: {json.dumps(results['seconds_per_stage'])}.",
              f"- From the command line (`speech-lstm tts synthesize`, a new process, loading included): "
              f"{cli['wall_seconds']:.1f} s for {cli['seconds']:.2f} s of speech (in-process RTF of this first "
              f"sentence, graph tracing included: {cli['real_time_factor']:.3f}); {cli['batch']['sentences']} sentences "
              f"from a text file: {cli['batch']['wall_seconds']} s for {cli['batch']['seconds']} s of speech, RTF "
              f"{cli['batch']['real_time_factor_after_first']} after the first.",
              f"- Stage times (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}", "",
              "Worst sentences by MCD:", ""]
    for r in sorted(results["utterances"], key=lambda r: -r["mcd_synthesized"])[:5]:
        lines += [f"- `{r['text']}` — MCD {r['mcd_synthesized']:.2f}; PocketSphinx heard `{r['sphinx_synthesized']}` "
                  f"(on the reference: `{r['sphinx_reference']}`)"]
    (run_dir / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = recipe_arguments(__doc__, argv)
    os.chdir(HERE)
    import numpy as np

    from speech_lstm.audio import load_audio
    from speech_lstm.errors import SpeechLSTMError
    from speech_lstm.plots import plot_mel_comparison
    from speech_lstm.tts.corpus import read_tts_manifest, synthesize_tts_corpus
    from speech_lstm.tts.evaluate import evaluate_tts
    from speech_lstm.tts.synthesize import Synthesizer
    from speech_lstm.tts.text import frame_durations
    from speech_lstm.tts.training import load_tts_config, train_tts
    from speech_lstm.tts.vocoder import log_mel

    timings, t_all = {}, time.perf_counter()
    try:
        path = Path(args.config) if args.config.endswith(".yaml") else HERE / "configs" / f"{args.config}.yaml"
        config, name = load_tts_config(path, args.set), path.stem
        run_dir = HERE / "exp" / name
        tc = config.train

        t = stage(f"1. synthesize the corpus: one eSpeak NG voice ({config.corpus.voice}), phonemes and alignments")
        corpus_dir = Path(tc.train_manifest).parent
        synthesize_tts_corpus(corpus_dir, config.corpus)
        meta = json.loads((corpus_dir / "corpus.json").read_text())
        print(f"{corpus_dir}: {meta['sentences']} sentences, hours {meta['hours']}; "
              f"{len(meta['dropped_no_alignment'])} dropped (phonemizer and synthesizer disagreed)")
        timings["corpus"] = time.perf_counter() - t

        t = stage("2. validate the manifests")
        manifests = {split: getattr(tc, f"{split}_manifest") for split in ("train", "dev", "test")}
        for split, manifest in manifests.items():
            print(f"{manifest}: {len(read_tts_manifest(manifest))} sentences OK")
        timings["validate"] = time.perf_counter() - t

        t = stage("3. train the duration LSTM, then the acoustic BiLSTM")
        summary = train_tts(config, run_dir, force=args.force)
        print(json.dumps(summary, indent=1))
        timings["train"] = time.perf_counter() - t

        t = stage("4. speak the test sentences and score them")
        synthesizer = Synthesizer(run_dir)
        test = read_tts_manifest(manifests["test"])
        ev = EVAL.get(name, EVAL["default"])
        recognizer = RECOGNIZER if (RECOGNIZER / "saved_model.pb").exists() else None
        if recognizer is None:
            print(f"(no sentences recognizer at {RECOGNIZER}: run recipes/sentences/run.py to add its WER)")
        results = evaluate_tts(synthesizer, test, run_dir / "test", limit=ev["limit"], recognizer=recognizer)
        print(json.dumps({k: v for k, v in results.items() if k != "utterances"}, indent=1))
        timings["evaluate"] = time.perf_counter() - t
    except SpeechLSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    t = stage("5. a mel-spectrogram figure, and a new sentence from the command line")
    first = test[0]
    ref_mel = log_mel(load_audio(first["audio_filepath"], sample_rate=synthesizer.sample_rate), synthesizer.mel_spec)
    result = synthesizer(first["text"])
    ref_d = frame_durations(np.asarray(first["starts"]), synthesizer.mel_spec.hop_length, len(ref_mel))
    marks = [[(f, p) for f, p in zip(np.concatenate([[0], np.cumsum(d)[:-1]]), phonemes) if p != "^"]
             for d, phonemes in ((ref_d, first["phonemes"]), (result.durations, result.phonemes))]
    png = plot_mel_comparison(ref_mel, result.mel, run_dir / "mel_comparison.png", synthesizer.mel_spec.hop_seconds,
                              title=f"\u201c{first['text']}\u201d", boundaries=marks)
    out_wav = run_dir / "new_sentence.wav"
    command = [sys.executable, "-m", "speech_lstm", "tts", "synthesize", "--model", str(run_dir)]
    t_cli = time.perf_counter()
    proc = subprocess.run([*command, NEW_SENTENCE, "--out", str(out_wav)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    cli = {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_seconds": time.perf_counter() - t_cli}
    text_file = run_dir / "more_sentences.txt"
    text_file.write_text("\n".join(MORE_SENTENCES) + "\n")
    t_cli = time.perf_counter()
    proc = subprocess.run([*command, "--text-file", str(text_file), "--out", str(run_dir / "more_sentences")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    spoken = [json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    cli["batch"] = {"sentences": len(spoken), "seconds": round(sum(x["seconds"] for x in spoken), 2),
                    "wall_seconds": round(time.perf_counter() - t_cli, 2),
                    "real_time_factor_after_first": round(
                        sum(sum(x["synthesis_seconds"].values()) for x in spoken[1:])
                        / max(sum(x["seconds"] for x in spoken[1:]), 1e-9), 3)}
    print(f"{png}\n{out_wav}: {cli['seconds']} s of speech, {cli['wall_seconds']:.1f} s from the command line "
          f"(in-process RTF {cli['real_time_factor']}); {cli['batch']}")
    timings["figure_and_cli"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    _write_report(run_dir, name, summary, results, timings, cli)
    (run_dir / "recipe_timings.json").write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=1))
    print(f"\n=== summary ===\n{(run_dir / 'RESULTS.md').read_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
