"""PocketSphinx 5 transcription: a reference recogniser independent of this package's models.

PocketSphinx's bundled en-us acoustic model and CMUdict decode 16 kHz mono int16 PCM, either
open-vocabulary (its bundled en-us trigram language model, ``grammar=None``) or restricted to a
JSGF grammar. :func:`transcribe_pocketsphinx` spreads files over spawned worker processes, one
Decoder each; ``benchmarks/pocketsphinx_digits.py`` times it on the digits test set and the TTS
evaluation (:func:`speech_lstm.tts.metrics.intelligibility`) uses it to score synthesized speech.

pocketsphinx is imported when a decoder is built, not with this module, so the module imports
without it; a missing package raises :class:`ParameterError` naming the pip command.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import Pool
from multiprocessing.synchronize import Barrier

import numpy as np
import soundfile as sf
import soxr

from speech_lstm.errors import AudioLoadError, ParameterError, SpeechLSTMError

__all__ = [
    "SAMPLE_RATE",
    "build_decoder",
    "clean_hypothesis",
    "read_pcm16",
    "decode_pcm",
    "decoder_pool",
    "decode_all",
    "transcribe_pocketsphinx",
]

SAMPLE_RATE = 16000  # the bundled en-us acoustic model's rate
WORKER_START_TIMEOUT_S = 120
CHUNKSIZE = 4  # files per task: small, so both workers stay busy to the end
_PIP = "pip install pocketsphinx==5.1.1"
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")  # <sil>, <s>, [NOISE], ++NOISE++
_ALTERNATE = re.compile(r"\(\d+\)$")  # two(2) -> two

_decoder = None  # one per worker process, built by _init_worker


def _pocketsphinx():
    try:
        import pocketsphinx
    except ImportError as e:
        raise ParameterError(f"PocketSphinx transcription needs the pocketsphinx package: {_PIP}") from e
    return pocketsphinx


def build_decoder(grammar: str | None = None):
    """A ``pocketsphinx.Decoder`` with the bundled en-us acoustic model and CMUdict, at 16 kHz.

    ``grammar``: None searches the bundled en-us trigram language model (``en-us/en-us.lm.bin``),
    i.e. open-vocabulary English limited to CMUdict's words; a JSGF string (``#JSGF V1.0;`` header,
    one public rule) restricts the search to that grammar, with optional silence and noise fillers
    at every grammar state. ParameterError if pocketsphinx is missing or the grammar does not parse.
    """
    ps = _pocketsphinx()
    model = dict(
        hmm=ps.get_model_path("en-us/en-us"),
        dict=ps.get_model_path("en-us/cmudict-en-us.dict"),
        samprate=SAMPLE_RATE,
        loglevel="ERROR",
    )
    if grammar is None:
        return ps.Decoder(lm=ps.get_model_path("en-us/en-us.lm.bin"), **model)
    decoder = ps.Decoder(
        lm=None,
        fsgusefiller=True,
        # The lattice best path (the default) can leave the grammar: on the digits test set it
        # returned only silence for 81 of 600 files. Take the grammar search's own Viterbi result.
        bestpath=False,
        **model,
    )
    try:
        decoder.add_jsgf_string("grammar", grammar)
    except (RuntimeError, ValueError) as e:
        first = grammar.strip().splitlines()[0] if grammar.strip() else ""
        raise ParameterError(f"grammar is not valid JSGF ({e}); it starts {first!r}") from e
    decoder.activate_search("grammar")
    return decoder


def clean_hypothesis(hypstr: str) -> str:
    """Lowercase words joined by single spaces, without fillers or alternate-pronunciation marks."""
    return " ".join(_ALTERNATE.sub("", w).lower() for w in hypstr.split() if not _FILLER.match(w))


def read_pcm16(path: str | os.PathLike) -> bytes:
    """The file as 16 kHz mono int16 PCM bytes, the format the decoder expects.

    Other rates or channel counts are mixed down and resampled with soxr. AudioLoadError naming the
    file if it is missing or not readable audio.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioLoadError(path, "file not found")
    try:
        audio, rate = sf.read(path, dtype="int16", always_2d=True)
    except Exception as e:  # libsndfile raises LibsndfileError / RuntimeError
        lines = str(e).strip().splitlines()
        raise AudioLoadError(path, f"not a readable audio file ({lines[-1] if lines else type(e).__name__})") from e
    if rate == SAMPLE_RATE and audio.shape[1] == 1:
        return audio.tobytes()
    mono = audio.mean(axis=1, dtype=np.float32)
    resampled = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.rint(resampled), -32768, 32767).astype(np.int16).tobytes()


def decode_pcm(decoder, pcm: bytes) -> str:
    """Transcript of one whole utterance (16 kHz mono int16 bytes), independent of what the
    decoder heard before: lowercase words, fillers removed, "" when nothing was recognised."""
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


def _init_worker(ready: Barrier, grammar: str | None) -> None:
    global _decoder
    try:
        _decoder = build_decoder(grammar)
    except BaseException:
        ready.abort()  # the parent stops waiting at once and reports the error
        raise
    ready.wait()


def _transcribe_file(path: str) -> str:
    return decode_pcm(_decoder, read_pcm16(path))


@contextmanager
def decoder_pool(workers: int = 2, grammar: str | None = None) -> Iterator[Pool]:
    """A pool of ``workers`` processes, yielded once every one of them has built its Decoder
    (``grammar`` as in :func:`build_decoder`), so model loading is over before the first file.

    Workers are spawned, so a calling script needs the usual ``if __name__ == "__main__":`` guard.
    """
    _check_workers(workers)
    _pocketsphinx()  # a missing package is reported here, not as a worker that never starts
    ctx = multiprocessing.get_context("spawn")  # clean workers: safe beside TF threads, honest RSS
    ready = ctx.Barrier(workers + 1)
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(ready, grammar))
    try:
        try:
            ready.wait(timeout=WORKER_START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pool.terminate()
            build_decoder(grammar)  # raises the workers' error here, where it can be read
            raise SpeechLSTMError(
                f"PocketSphinx workers did not build their decoders within {WORKER_START_TIMEOUT_S} s") from None
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def decode_all(pool: Pool, paths: Sequence[str | os.PathLike]) -> list[str]:
    """Transcripts of ``paths``, in order, decoded by the pool's workers (see :func:`decoder_pool`)."""
    return pool.map(_transcribe_file, [os.fspath(p) for p in paths], chunksize=CHUNKSIZE)


def transcribe_pocketsphinx(paths: Sequence[str | os.PathLike], grammar: str | None = None,
                            workers: int = 2) -> list[str]:
    """Transcribe audio files with PocketSphinx on up to ``workers`` processes, in order.

    ``paths``: any format libsndfile reads (resampled to 16 kHz mono). ``grammar``: None for
    open-vocabulary English, or a JSGF string (see :func:`build_decoder`). Returns one transcript
    per file: lowercase words joined by spaces, "" when nothing was recognised. AudioLoadError
    names the first unreadable file. Workers are spawned, so a calling script needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    _check_workers(workers)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        return []
    with decoder_pool(min(workers, len(paths)), grammar) as pool:
        return decode_all(pool, paths)


def _check_workers(workers) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers must be an int >= 1, got {workers!r}")
