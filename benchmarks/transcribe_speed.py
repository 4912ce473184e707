#!/usr/bin/env python
"""The exported recognizer against PocketSphinx 5 on the same utterances and the same 2 cores.

    python benchmarks/transcribe_speed.py --model recipes/digits/exp/default/export \
        --manifest recipes/digits/data/digits/test.jsonl

Each engine runs in a fresh subprocess, one after the other, so neither's memory or threads
touch the other's figures:

- **speech_lstm**: the SavedModel (in-graph MFCC, BiLSTM, CTC greedy decoding) through
  ``speech_lstm.transcribe.transcribe_files`` in batch mode (files read, batched by length,
  transcribed; TensorFlow uses both cores).
- **PocketSphinx 5**: its bundled en-us acoustic model and dictionary with a JSGF grammar of
  digit words only (``benchmarks/pocketsphinx_digits.py``), one decoder process per core.

Printed for both: real-time factor (wall seconds / audio seconds, model loading and a warm-up
excluded), utterances per second, peak resident memory of the process doing the work (MB) and
WER; each engine runs ``--repeat`` times (alternating) and the run with the median RTF is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_speech_lstm(model: str, manifest: Path, limit: int | None, batch_size: int) -> dict:
    """In this process: transcribe the manifest's files with the export; the figures as a dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import jiwer

    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.transcribe import load_recognizer, transcribe_files

    entries = read_manifest(manifest)[:limit]
    recognizer = load_recognizer(model)
    list(transcribe_files(recognizer, [e["audio_filepath"] for e in entries[:batch_size]], batch_size=batch_size,
                          progress=False))  # warm up (PocketSphinx's decoders are built before timing, too)
    t0 = time.perf_counter()
    results = list(transcribe_files(recognizer, [e["audio_filepath"] for e in entries], batch_size=batch_size,
                                    progress=False))
    wall = time.perf_counter() - t0
    failed = [str(r) for _, r in results if not hasattr(r, "text")]
    if failed:
        raise SystemExit(f"error: {len(failed)} files failed, e.g. {failed[0]}")
    audio = sum(float(e["duration"]) for e in entries)
    return {
        "engine": f"speech_lstm export ({Path(model).name}, batch {batch_size})", "utterances": len(entries),
        "audio_seconds": round(audio, 2), "wall_seconds": round(wall, 3), "rtf": round(wall / audio, 5),
        "utterances_per_second": round(len(entries) / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "wer": round(jiwer.wer([e["text"] for e in entries], [r.text for _, r in results]), 5),
    }


def _subprocess(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: {' '.join(args[:2])} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="recipes/digits/exp/default/export", help="exported SavedModel directory")
    parser.add_argument("--manifest", type=Path, default=Path("recipes/digits/data/digits/test.jsonl"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="PocketSphinx decoder processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the median is shown")
    parser.add_argument("--engine", choices=["both", "speech_lstm"], default="both", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.manifest.exists():
        print(f"error: manifest {args.manifest} not found (run the digits recipe first: make demo)", file=sys.stderr)
        return 2
    if args.engine == "speech_lstm":  # the child process
        print(json.dumps(run_speech_lstm(args.model, args.manifest, args.limit, args.batch_size)))
        return 0
    limit = ["--limit", str(args.limit)] if args.limit else []
    runs = {"speech_lstm": [], "pocketsphinx": []}
    for _ in range(max(1, args.repeat)):
        runs["speech_lstm"].append(_subprocess([
            __file__, "--engine", "speech_lstm", "--model", args.model, "--manifest", str(args.manifest),
            "--batch-size", str(args.batch_size), *limit]))
        runs["pocketsphinx"].append(_subprocess([
            str(HERE / "pocketsphinx_digits.py"), "--manifest", str(args.manifest), "--workers", str(args.workers),
            "--json", *limit]))
    rows = [sorted(r, key=lambda x: x["rtf"])[len(r) // 2] for r in runs.values()]
    for name, r in runs.items():
        print(f"{name} RTF over {len(r)} runs: {', '.join(format(x['rtf'], '.4f') for x in r)}")
    print(f"\n{rows[0]['utterances']} utterances, {rows[0]['audio_seconds']:.0f} s of audio, {os.cpu_count()} cores\n")
    print(f"{'engine':52s} {'RTF':>8s} {'utt/s':>7s} {'peak MB':>8s} {'WER %':>7s}")
    for r in rows:
        print(f"{r['engine'][:52]:52s} {r['rtf']:8.4f} {r['utterances_per_second']:7.1f} {r['peak_rss_mb']:8.0f} "
              f"{100 * r['wer']:7.2f}")
    print(f"\nspeech_lstm is {rows[1]['rtf'] / rows[0]['rtf']:.1f}x faster (real-time factor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
