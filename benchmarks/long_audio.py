#!/usr/bin/env python
"""Long-audio transcription: speed, peak memory and word-timing accuracy on a long recording.

    python benchmarks/long_audio.py --model recipes/digits/exp/default/export --minutes 30

Builds (once) a recording of eSpeak NG digit strings joined by pauses whose word start times are
known (``speech_lstm.data.long_recording``, seed 0; the recipe calibrates timings on seed 1), then
transcribes it in this process with ``transcribe_files`` and prints: wall seconds and real-time
factor (loading the model excluded), segments, WER, the start error of every correctly
recognised word (mean, largest, how many are off by more than 0.2 s), the same for word ends, and
this process's peak resident memory (``getrusage``; includes TensorFlow itself).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="export directory, run directory or .keras file")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--recording", default=None, help="WAV to use or create (default data/long/test_<N>min.wav)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    from speech_lstm.data.long_recording import build_long_recording, words_json_path
    from speech_lstm.evaluate import recording_timing_report
    from speech_lstm.transcribe import load_recognizer, transcribe_files

    wav = Path(args.recording or f"data/long/test_{args.minutes:g}min.wav")
    if not wav.exists():
        build_long_recording(wav, args.minutes, seed=0)
    ref = json.loads(words_json_path(wav).read_text())
    recognizer = load_recognizer(args.model)
    t0 = time.perf_counter()
    (_, tr), = transcribe_files(recognizer, [wav], batch_size=args.batch_size)
    wall = time.perf_counter() - t0
    if not hasattr(tr, "words"):
        print(f"error: {tr}", file=sys.stderr)
        return 1
    figures = {
        "recording": str(wav), "audio_seconds": ref["duration"], "wall_seconds": round(wall, 2),
        "rtf": round(wall / ref["duration"], 5), "emission_lag": recognizer.emission_lag,
        **recording_timing_report(ref, tr),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:30s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
