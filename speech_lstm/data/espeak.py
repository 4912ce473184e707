"""eSpeak NG through the ``espeakng-loader`` wheel (ctypes; no system espeak needed).

The library keeps global state, so one :class:`ESpeak` per process; use a process pool to
synthesize in parallel.  :meth:`ESpeak.synthesize_with_words` also returns eSpeak NG's word
events (where each word of the text starts in the audio), for time-aligned references;
:meth:`ESpeak.synthesize_with_phonemes` its phoneme events (each phoneme and the sample it
starts at), and :meth:`ESpeak.text_to_phonemes` its phonemizer alone (no audio).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
from pathlib import Path

import numpy as np

from speech_lstm.errors import ParameterError, SynthesisError

__all__ = ["ESpeak", "PhonemeEvent", "WordEvent", "english_accents", "random_variant", "voice_bank", "voice_variants"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_INITIALIZE_PHONEME_EVENTS = 0x0001  # espeak_Initialize option: PHONEME events in the callback

# (text_position: 1-based character index, length: characters, start: seconds from the start of the audio)
WordEvent = tuple[int, int, float]
# (phoneme: eSpeak NG's mnemonic with its stress mark, e.g. "'aU", "t#", "_:"; start: sample index)
PhonemeEvent = tuple[str, int]


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


def random_variant(rng, name: str) -> str:
    """The text of a random eSpeak NG voice variant file (the format of ``voices/!v``): gender,
    pitch range, the frequency, height and width of formants 0-8 (a vocal-tract scale plus
    per-formant jitter), and at random the Klatt synthesizer, roughness, breathiness, voicing and
    consonant strength, pitch flutter and a spectral tone curve. A continuum of timbres around
    the ~100 hand-made variants eSpeak NG ships."""
    female = rng.random() < 0.5
    low = int(rng.uniform(140, 210) if female else rng.uniform(70, 130))
    lines = [f"name {name}", "language variant", f"gender {'female' if female else 'male'}",
             f"pitch {low} {low + int(rng.uniform(30, 120))}"]
    scale = rng.uniform(1.0, 1.22) if female else rng.uniform(0.86, 1.08)
    for n in range(9):
        lines.append(f"formant {n} {int(100 * scale * rng.uniform(0.93, 1.07))} {int(rng.uniform(60, 150))} "
                     f"{int(rng.uniform(60, 220))}")
    if rng.random() < 0.3:
        lines.append(f"klatt {int(rng.integers(1, 7))}")
    if rng.random() < 0.4:
        lines.append(f"roughness {int(rng.integers(0, 6))}")
    if rng.random() < 0.25:
        lines.append("breath " + " ".join(str(int(rng.integers(0, 5))) for _ in range(8)))
    if rng.random() < 0.4:
        lines.append(f"voicing {int(rng.uniform(40, 160))}")
    if rng.random() < 0.5:
        lines.append(f"consonants {int(rng.uniform(50, 150))} {int(rng.uniform(50, 150))}")
    if rng.random() < 0.4:
        lines.append(f"flutter {int(rng.uniform(0, 40))}")
    if rng.random() < 0.4:
        lines.append("tone " + " ".join(f"{f} {int(rng.uniform(20, 255))}" for f in (600, 1200, 2000, 3000)))
    return "\n".join(lines) + "\n"


MAX_RANDOM_VARIANTS = 200  # eSpeak NG's voice list holds 349 files: English accents + shipped variants + these


def voice_bank(root, count: int, seed: int = 0) -> tuple[Path, list[str]]:
    """An eSpeak NG data folder under ``root`` whose variants are the wheel's plus ``count``
    random ones (:func:`random_variant`, named ``rv000``...) and only the English accents (the
    library lists at most 349 voice files); the rest of the data is linked, not copied. Returns (data path for ``ESpeak(data_path)``, the random variants' names).
    Idempotent: an existing bank of the same count and seed is reused."""
    import numpy as np

    if not 0 < count <= MAX_RANDOM_VARIANTS:
        raise ParameterError(f"a voice bank holds 1..{MAX_RANDOM_VARIANTS} random variants, asked for {count}")
    root = Path(root).resolve()
    data = root / "espeak-ng-data"
    names = [f"rv{i:03d}" for i in range(count)]
    stamp = {"count": count, "seed": seed, "format": 2}
    marker = root / "voice_bank.json"
    if marker.exists() and json.loads(marker.read_text()) == stamp and data.is_dir():
        return data, names
    tmp = root / "espeak-ng-data.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    source = _data_path()
    tmp.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name not in ("voices", "lang"):
            os.symlink(entry, tmp / entry.name)
    # eSpeak NG lists at most 349 voice files: keep only the English ones beside the variants
    (tmp / "lang" / "gmw").mkdir(parents=True)
    for entry in (source / "lang" / "gmw").glob("en*"):
        os.symlink(entry, tmp / "lang" / "gmw" / entry.name)
    (tmp / "voices").mkdir()
    for entry in (source / "voices").iterdir():
        if entry.name != "!v":
            os.symlink(entry, tmp / "voices" / entry.name)
    variants = tmp / "voices" / "!v"
    variants.mkdir()
    for entry in (source / "voices" / "!v").iterdir():
        os.symlink(entry, variants / entry.name)
    rng = np.random.default_rng(seed)
    for name in names:
        (variants / name).write_text(random_variant(rng, name))
    marker.unlink(missing_ok=True)
    shutil.rmtree(data, ignore_errors=True)
    tmp.rename(data)
    marker.write_text(json.dumps(stamp))
    return data, names


class ESpeak:
    """A handle on the eSpeak NG library in synchronous mode; audio is int16 at :attr:`sample_rate`.

    ``data_path``: an eSpeak NG data folder, e.g. from :func:`voice_bank`; asking for another
    folder than the loaded one re-initializes the library. None: the loaded folder (the wheel's
    when none is loaded yet).
    """

    _instance = None

    def __new__(cls, data_path=None):
        if cls._instance is not None and data_path is None:
            return cls._instance  # whatever folder is loaded (a voice bank holds the wheel's voices too)
        data_path = str(Path(data_path).resolve()) if data_path else str(_data_path())
        if cls._instance is None:  # eSpeak NG is a process-wide singleton
            cls._instance = super().__new__(cls)
            cls._instance._init(data_path)
        elif cls._instance.data_path != data_path:
            cls._instance._lib.espeak_Terminate()
            cls._instance._init(data_path)
        return cls._instance

    def _init(self, data_path: str):
        loader = _loader()
        try:
            self._lib = ctypes.CDLL(loader.get_library_path())
        except OSError as e:
            raise SynthesisError(f"cannot load libespeak-ng from espeakng-loader: {e}") from e
        self.data_path = data_path
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                           _INITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise SynthesisError(f"espeak_Initialize failed (returned {rate})")
        self.sample_rate = int(rate)
        self._chunks = []
        self._words = None  # a list while synthesize_with_words runs: word events are collected
        self._phonemes = None  # likewise for synthesize_with_phonemes
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events):
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        if self._words is not None and events:
            self._words.extend(_word_events(events))
        if self._phonemes is not None and events:
            self._phonemes.extend(_phoneme_events(events))
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


    def synthesize_with_phonemes(self, text: str) -> tuple[np.ndarray, list[PhonemeEvent]]:
        """Like :meth:`synthesize`, plus eSpeak NG's phoneme events: ``(phoneme, start_sample)``
        for every phoneme it spoke, in order, pauses included (``"_:"`` after a clause, and a
        zero-length ``"_"``). A phoneme lasts until the next one starts; the last one until the
        end of the audio. The same mnemonics as :meth:`text_to_phonemes`."""
        self._phonemes = []
        try:
            audio = self.synthesize(text)
            phonemes = self._phonemes
        finally:
            self._phonemes = None
        return audio, phonemes

    def text_to_phonemes(self, text: str) -> list[tuple[str, list[list[str]]]]:
        """eSpeak NG's phonemizer (``espeak_TextToPhonemes``) with the current voice, no audio
        made: one ``(clause_text, words)`` per clause eSpeak NG found, ``words`` a list of
        phoneme-mnemonic lists (the names :meth:`synthesize_with_phonemes` reports) and
        ``clause_text`` the part of ``text`` the clause came from (with its punctuation)."""
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        start = ctypes.addressof(buffer)
        pointer = ctypes.c_char_p(start)
        clauses, consumed = [], 0
        while pointer.value:
            # textmode 1: UTF-8; phonememode: mnemonics (not IPA), a space between phonemes
            result = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, ord(" ") << 8)
            end = ctypes.cast(pointer, ctypes.c_void_p).value
            end = len(data) if end is None else end - start
            words = [w.split() for w in (result or b"").decode("utf-8").split("  ") if w.strip()]
            if words:
                clauses.append((data[consumed:end].decode("utf-8", "replace").strip(), words))
            consumed = end
        return clauses


def _events(events):
    """The events of a callback's event array (address of ``espeak_EVENT[]``, type-0 terminated)."""
    array = ctypes.cast(events, ctypes.POINTER(_Event))
    i = 0
    while array[i].type != _EVENT_LIST_TERMINATED:
        yield array[i]
        i += 1


def _phoneme_events(events) -> list[PhonemeEvent]:
    return [(bytes(ev.id.string).split(b"\0")[0].decode("ascii", "replace"), int(ev.sample))
            for ev in _events(events) if ev.type == _EVENT_PHONEME]


def _word_events(events) -> list[WordEvent]:
    return [(int(ev.text_position), int(ev.length), ev.audio_position / 1000.0)
            for ev in _events(events) if ev.type == _EVENT_WORD]
