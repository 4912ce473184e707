"""eSpeak NG through the ``espeakng-loader`` wheel (ctypes; no system espeak needed).

The library keeps global state, so one :class:`ESpeak` per process; use a process pool to
synthesize in parallel.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from speech_lstm.errors import SynthesisError

__all__ = ["ESpeak", "english_accents", "voice_variants"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


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
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events):
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
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
