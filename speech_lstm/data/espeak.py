"""eSpeak NG through the ``espeakng-loader`` wheel (ctypes; no system espeak needed).

The library keeps global state, so one :class:`ESpeak` per process; use a process pool to
synthesize in parallel.  :meth:`ESpeak.synthesize_with_words` also returns eSpeak NG's word
events (where each word of the text starts in the audio), for time-aligned references.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from speech_lstm.errors import SynthesisError

__all__ = ["ESpeak", "WordEvent", "english_accents", "voice_variants"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1

# (text_position: 1-based character index, length: characters, start: seconds from the start of the audio)
WordEvent = tuple[int, int, float]


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h; the callback gets an array ending in type 0."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


def _loader():
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise SynthesisError("espeakng-loader is not installed (pip install espeakng-loader)") from e
    return espeakng_loader


def _data_path() -> Path:
    return Path(_loader().get_data_path())


def english_accents() -> list[str]:
    """English voices (accents) shipped with the wheel, by the file names eSpeak NG selects them by.

    The Shavian-script voice is left out: it does not read Latin-script English.
    """
    names = sorted(f.name.lower() for f in (_data_path() / "lang" / "gmw").glob("en*") if f.is_file())
    return [n for n in names if n != "en-shaw"]


def voice_variants() -> list[str]:
    """Voice variant names (voices/!v): timbre, formants, pitch, Klatt synthesis, whisper, ..."""
    return sorted(p.name for p in (_data_path() / "voices" / "!v").iterdir() if p.is_file())


class ESpeak:
    """A handle on the eSpeak NG library in synchronous mode; audio is int16 at :attr:`sample_rate`."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:  # eSpeak NG is a process-wide singleton
            cls._instance = super().__new__(cls)
            cls._instance._init()
        return cls._instance

    def _init(self):
        loader = _loader()
        try:
            self._lib = ctypes.CDLL(loader.get_library_path())
        except OSError as e:
            raise SynthesisError(f"cannot load libespeak-ng from espeakng-loader: {e}") from e
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(_data_path()).encode(), 0)
        if rate <= 0:
            raise SynthesisError(f"espeak_Initialize failed (returned {rate})")
        self.sample_rate = int(rate)
        self._chunks = []
        self._words = None  # a list while synthesize_with_words runs: word events are collected
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events):
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        if self._words is not None and events:
            self._words.extend(_word_events(events))
        return 0

    def set_voice(self, name: str) -> None:
        """Select a voice such as ``"en-us"`` or ``"en-gb-scotland+klatt2"`` (accent + variant)."""
        err = self._lib.espeak_SetVoiceByName(name.encode())
        if err != 0:
            raise SynthesisError(f"unknown eSpeak NG voice {name!r} (error {err})")

    def set_params(self, rate: int | None = None, pitch: int | None = None, range: int | None = None,
                   wordgap: int | None = None, volume: int | None = None) -> None:
        """rate: words per minute (80-450).  pitch, range: 0-100.  wordgap: units of 10 ms.  volume: 0-200."""
        for key, value in (("rate", rate), ("pitch", pitch), ("range", range), ("wordgap", wordgap), ("volume", volume)):
            if value is not None:
                self._lib.espeak_SetParameter(_PARAMS[key], int(value), 0)

    def set_random_seed(self, seed: int) -> None:
        """Seed eSpeak NG's noise generator (breathy and whispered voice variants).

        The library seeds it from the clock otherwise, so those voices differ from run to run.
        """
        fn = getattr(self._lib, "espeak_ng_SetRandSeed", None)
        if fn is None:  # pragma: no cover - eSpeak NG < 1.52
            raise SynthesisError("this libespeak-ng has no espeak_ng_SetRandSeed (needs eSpeak NG >= 1.52)")
        fn.argtypes, fn.restype = [ctypes.c_long], None
        fn(int(seed))

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text`` with the current voice and parameters: int16 [samples] at :attr:`sample_rate`."""
        data = text.encode("utf-8")
        self._chunks = []
        err = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise SynthesisError(f"espeak_Synth failed for {text!r} (error {err})")
        self._lib.espeak_Synchronize()
        if not self._chunks:
            raise SynthesisError(f"eSpeak NG produced no audio for {text!r}")
        return np.concatenate(self._chunks)

    def synthesize_with_words(self, text: str) -> tuple[np.ndarray, list[WordEvent]]:
        """Like :meth:`synthesize`, plus one ``(text_position, length, start_seconds)`` per spoken word.

        ``text_position`` is 1-based in characters, so ``text[pos - 1 : pos - 1 + length]`` is the
        word; ``start_seconds`` comes from eSpeak NG's ``audio_position`` (1 ms resolution) and
        marks the start of the word's first phoneme (for a stop such as /t/, its silent closure).
        """
        self._words = []
        try:
            audio = self.synthesize(text)
            words = self._words
        finally:
            self._words = None
        return audio, words


def _word_events(events) -> list[WordEvent]:
    """The WORD events of a callback's event array (address of ``espeak_EVENT[]``, type-0 terminated)."""
    array = ctypes.cast(events, ctypes.POINTER(_Event))
    found = []
    i = 0
    while array[i].type != _EVENT_LIST_TERMINATED:
        ev = array[i]
        if ev.type == _EVENT_WORD:
            found.append((int(ev.text_position), int(ev.length), ev.audio_position / 1000.0))
        i += 1
    return found
