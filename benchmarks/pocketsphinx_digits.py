#!/usr/bin/env python
"""PocketSphinx 5 on a digits manifest: real-time factor, utterances per second, peak memory and WER.

    python benchmarks/pocketsphinx_digits.py --manifest recipes/digits/data/digits/test.jsonl [--workers 2] [--json]

Needs the ``bench`` extra (``pip install -e ".[bench]"``). The decoder is PocketSphinx's bundled
en-us acoustic model and CMUdict, searching a JSGF grammar of one or more of the words "zero oh
one two three four five six seven eight nine"; PocketSphinx itself adds optional silence and
noise fillers at every grammar state. Audio is read as 16 kHz mono int16 PCM (other rates or
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
import multiprocessing
import os
import re
import resource
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from multiprocessing.pool import Pool
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import NoReturn

import numpy as np
import soundfile as sf
import soxr
from pocketsphinx import Decoder, get_model_path

SAMPLE_RATE = 16000
DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GRAMMAR = f"""#JSGF V1.0;
grammar digits;
public <digits> = <digit>+;
<digit> = {" | ".join(DIGIT_WORDS)};
"""
WORKER_START_TIMEOUT_S = 120
CHUNKSIZE = 4  # files per task: small, so both workers stay busy to the end
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")  # <sil>, <s>, [NOISE], ++NOISE++
_ALTERNATE = re.compile(r"\(\d+\)$")  # two(2) -> two

_decoder: Decoder | None = None  # one per worker process, built by _init_worker


def build_decoder() -> Decoder:
    """A Decoder with the bundled en-us model and dictionary, searching the digits grammar."""
    decoder = Decoder(
        hmm=get_model_path("en-us/en-us"),
        dict=get_model_path("en-us/cmudict-en-us.dict"),
        lm=None,
        samprate=SAMPLE_RATE,
        fsgusefiller=True,
        # The lattice best path (the default) can leave the grammar: on the digits test set it
        # returned only silence for 81 of 600 files. Take the grammar search's own Viterbi result.
        bestpath=False,
        loglevel="ERROR",
    )
    decoder.add_jsgf_string("digits", GRAMMAR)
    decoder.activate_search("digits")
    return decoder


def clean_hypothesis(hypstr: str) -> str:
    """Lowercase words joined by single spaces, without fillers or alternate-pronunciation marks."""
    return " ".join(_ALTERNATE.sub("", w).lower() for w in hypstr.split() if not _FILLER.match(w))


def read_pcm16(path: str) -> bytes:
    """The file as 16 kHz mono int16 PCM bytes, the format the decoder expects."""
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    if rate == SAMPLE_RATE and audio.shape[1] == 1:
        return audio.tobytes()
    mono = audio.mean(axis=1, dtype=np.float32)
    resampled = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.rint(resampled), -32768, 32767).astype(np.int16).tobytes()


def decode_pcm(decoder: Decoder, pcm: bytes) -> str:
    """Transcript of one whole utterance, independent of what the decoder heard before."""
    # The model's noise removal keeps its noise estimate from file to file: without this reset,
    # 43 of the first 300 test transcripts changed with the order the files were decoded in.
    # pocketsphinx 5.1.1 calls start_stream() deprecated and unnecessary; it is needed here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        decoder.start_stream()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return clean_hypothesis(hyp.hypstr) if hyp else ""


def _init_worker(ready: Barrier) -> None:
    global _decoder
    _decoder = build_decoder()
    ready.wait()


def _transcribe_file(path: str) -> str:
    return decode_pcm(_decoder, read_pcm16(path))


@contextmanager
def decoder_pool(workers: int) -> Iterator[Pool]:
    """A pool of ``workers`` processes, yielded once every one of them has built its Decoder."""
    ctx = multiprocessing.get_context("spawn")  # clean workers: safe beside TF threads, honest RSS
    ready = ctx.Barrier(workers + 1)
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(ready,))
    try:
        ready.wait(timeout=WORKER_START_TIMEOUT_S)
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def decode_all(pool: Pool, paths: Sequence[str | os.PathLike]) -> list[str]:
    """Transcripts of ``paths``, in order, decoded by the pool's workers."""
    return pool.map(_transcribe_file, [os.fspath(p) for p in paths], chunksize=CHUNKSIZE)


def transcribe_pocketsphinx(paths: Sequence[str | os.PathLike], workers: int = 2) -> list[str]:
    """Transcribe audio files with the digits grammar on ``workers`` processes, in order.

    Workers are spawned, so a calling script needs the usual ``if __name__ == "__main__":`` guard.
    """
    with decoder_pool(workers) as pool:
        return decode_all(pool, paths)


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

    with decoder_pool(workers) as pool:
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
    result = benchmark(load_entries(args.manifest, args.limit), args.workers)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value}")


if __name__ == "__main__":
    main()
