#!/usr/bin/env python
"""PocketSphinx 5 on a digits manifest: real-time factor, utterances per second, peak memory and WER.

    python benchmarks/pocketsphinx_digits.py --manifest recipes/digits/data/digits/test.jsonl [--workers 2] [--json]

The decoder (:mod:`speech_lstm.sphinx`, pocketsphinx 5.1.1, a main dependency) is PocketSphinx's
bundled en-us acoustic model and CMUdict, searching a JSGF grammar of one or more of the words
"zero oh one two three four five six seven eight nine"; PocketSphinx itself adds optional silence
and noise fillers at every grammar state. Audio is read as 16 kHz mono int16 PCM (other rates or
channel counts are mixed down and resampled with soxr).

``workers`` processes each build one Decoder and transcribe a share of the files, so every core
is busy (the same cores a TensorFlow model gets). What is measured:

- ``wall_seconds``: from the moment every worker has built its Decoder (model loading is not
  counted) until the last transcript is back: reading audio, decoding and moving results.
- ``rtf``: wall_seconds / audio_seconds, with audio_seconds the sum of the manifest durations.
- ``utterances_per_second``: utterances / wall_seconds.
- ``peak_rss_mb``: the larger of this process's peak resident memory and that of its largest
  worker (``getrusage`` SELF and CHILDREN), so it is one process's peak: with N workers the
  decoders together hold about N times the figure.
- ``wer``: ``jiwer.wer`` of the transcripts against the manifest's ``text``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

from speech_lstm.errors import SpeechLSTMError
from speech_lstm.sphinx import decode_all, decoder_pool

DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GRAMMAR = f"""#JSGF V1.0;
grammar digits;
public <digits> = <digit>+;
<digit> = {" | ".join(DIGIT_WORDS)};
"""


def load_entries(manifest: Path, limit: int | None) -> list[dict]:
    """The manifest's first ``limit`` entries; SystemExit(2) naming the problem if unusable."""
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.errors import ManifestError

    try:
        entries = read_manifest(manifest)[:limit]
    except ManifestError as e:
        _fail(str(e))
    missing = [e["audio_filepath"] for e in entries if not Path(e["audio_filepath"]).is_file()]
    if missing:
        _fail(f"{manifest}: {len(missing)} audio file(s) not found, first: {missing[0]}")
    if any(e.get("offset", 0.0) for e in entries):
        _fail(f"{manifest}: entries with an offset are not supported, whole files are decoded")
    return entries


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def peak_rss_mb() -> float:
    """Peak resident memory of this process or its largest finished child, in MB (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def benchmark(entries: list[dict], workers: int) -> dict:
    """Decode every entry and return the figures described in the module docstring."""
    import jiwer  # here, not at the top: spawned workers re-import this module and do not need it

    with decoder_pool(workers, GRAMMAR) as pool:
        start = time.perf_counter()
        hyps = decode_all(pool, [e["audio_filepath"] for e in entries])
        wall = time.perf_counter() - start
    audio = sum(e["duration"] for e in entries)
    return {
        "engine": f"pocketsphinx {version('pocketsphinx')}",
        "workers": workers,
        "utterances": len(entries),
        "audio_seconds": round(audio, 2),
        "wall_seconds": round(wall, 3),
        "rtf": round(wall / audio, 5),
        "utterances_per_second": round(len(entries) / wall, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "wer": round(jiwer.wer([e["text"] for e in entries], hyps), 4),
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("recipes/digits/data/digits/test.jsonl"),
                        help="JSONL manifest: audio_filepath (relative to its folder), text, duration")
    parser.add_argument("--limit", type=_positive_int, default=None, help="only the first N utterances")
    parser.add_argument("--workers", type=_positive_int, default=2, help="decoder processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        result = benchmark(load_entries(args.manifest, args.limit), args.workers)
    except SpeechLSTMError as e:  # pocketsphinx missing, an unreadable file
        _fail(str(e))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value}")


if __name__ == "__main__":
    main()
