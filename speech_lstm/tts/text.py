"""Text -> phoneme tokens for the TTS models, with eSpeak NG's own phonemizer.

A token is an eSpeak NG phoneme mnemonic with its stress mark (``"'aU"`` primary, ``",oU"``
secondary, ``"@"`` none), or one of the :data:`SPECIALS`: ``"^"`` (the silence before the
first phoneme) and one pause per clause end, named by the clause's punctuation (``"_,"``,
``"_."``, ``"_?"``, ...). Each token comes with its word position (:data:`WORD_POSITIONS`).
The model sees three ids per token (:meth:`PhonemeInventory.encode`): the phoneme without
stress, the stress, and the word position. The inventory is saved with the model.

:func:`align_events` puts eSpeak NG's phoneme events (where each phoneme starts in the audio it
made) on the phonemizer's tokens, which gives the duration targets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech_lstm.errors import ConfigError, ParameterError

__all__ = ["Phonemizer", "PhonemeInventory", "Token", "align_events", "frame_durations", "SPECIALS",
           "WORD_POSITIONS"]

START = "^"
PAUSES = ("_,", "_.", "_?", "_!", "_;", "_:")
SPECIALS = (START, *PAUSES)
STRESS = {"": 0, "'": 1, ",": 2}
WORD_POSITIONS = ("none", "initial", "medial", "final", "single")  # "none": silence and pauses
_PUNCTUATION = {",": "_,", ".": "_.", "?": "_?", "!": "_!", ";": "_;", ":": "_:"}


@dataclass(frozen=True)
class Token:
    phoneme: str  # eSpeak NG mnemonic with its stress mark, or a special
    word_position: int  # index in WORD_POSITIONS

    @property
    def base(self) -> str:
        return self.phoneme[1:] if self.phoneme[:1] in ("'", ",") and len(self.phoneme) > 1 else self.phoneme

    @property
    def stress(self) -> int:
        return STRESS.get(self.phoneme[:1], 0) if len(self.phoneme) > 1 else 0


def _pause(clause_text: str) -> str:
    """The pause token ending a clause: its last punctuation mark (eSpeak NG's clause text
    reaches a character or two into the next clause, never past its punctuation), else "."."""
    marks = [c for c in clause_text if c in _PUNCTUATION]
    return _PUNCTUATION[marks[-1]] if marks else "_."


class Phonemizer:
    """Text -> :class:`Token` list with eSpeak NG (``espeak_TextToPhonemes``) in ``voice``'s
    accent. One per process (eSpeak NG is a process-wide library)."""

    def __init__(self, voice: str = "en-us"):
        from speech_lstm.data.espeak import ESpeak

        self.voice = voice
        self._engine = ESpeak()

    def __call__(self, text: str) -> list[Token]:
        self._engine.set_voice(self.voice)
        clauses = self._engine.text_to_phonemes(text)
        if not clauses:
            raise ParameterError(f"eSpeak NG finds nothing to say in {text!r}")
        tokens = [Token(START, 0)]
        for clause_text, words in clauses:
            for word in words:
                # "_": a short in-word break (a roman numeral's); its time joins the phoneme
                # before it, as align_events drops it from the events too
                word = [p for p in word if p != "_"]
                for i, phoneme in enumerate(word):
                    position = 4 if len(word) == 1 else 1 if i == 0 else 3 if i == len(word) - 1 else 2
                    tokens.append(Token(phoneme, position))
            tokens.append(Token(_pause(clause_text), 0))
        return tokens


class PhonemeInventory:
    """The phonemes (without stress marks) a model knows, in id order from 1 (0 pads).

    Built from training tokens (:meth:`from_tokens`), saved as JSON with the model. A phoneme
    it has not seen maps to the id of ``"@"`` (schwa) with a warning count in
    :attr:`unknown_seen`, so a rare accent phoneme does not stop synthesis.
    """

    def __init__(self, phonemes):
        phonemes = list(phonemes)
        if len(set(phonemes)) != len(phonemes) or not phonemes:
            raise ParameterError("a phoneme inventory needs unique, non-empty phoneme names")
        self.phonemes = phonemes
        self._index = {p: i + 1 for i, p in enumerate(phonemes)}
        self.unknown_seen = 0

    @classmethod
    def from_tokens(cls, token_lists) -> PhonemeInventory:
        found = {t.base for tokens in token_lists for t in tokens}
        return cls(list(SPECIALS) + sorted(found - set(SPECIALS)))

    @property
    def size(self) -> int:
        """Number of ids including the padding id 0."""
        return len(self.phonemes) + 1

    def encode(self, tokens) -> np.ndarray:
        """int32 [len(tokens), 3]: phoneme id (1..), stress (0..2), word position (0..4)."""
        fallback = self._index.get("@", 1)
        ids = []
        for t in tokens:
            i = self._index.get(t.base)
            if i is None:
                self.unknown_seen += 1
                i = fallback
            ids.append((i, t.stress, t.word_position))
        return np.asarray(ids, dtype=np.int32).reshape(-1, 3)

    def save(self, path) -> None:
        from speech_lstm.files import atomic_write

        with atomic_write(path) as f:
            json.dump({"phonemes": self.phonemes}, f, indent=1)

    @classmethod
    def load(cls, path) -> PhonemeInventory:
        try:
            return cls(json.loads(Path(path).read_text())["phonemes"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}: not a phoneme inventory ({e})") from e


def align_events(tokens: list[Token], events, num_samples: int) -> np.ndarray | None:
    """Start sample of every token, from eSpeak NG's phoneme events for the same text
    (:meth:`speech_lstm.data.espeak.ESpeak.synthesize_with_phonemes`), or None when the two
    disagree (the phonemizer and the synthesizer may differ on a rare word).

    The events' zero-length ``"_"`` markers are dropped (their time joins the pause before
    them); every clause pause ``"_:"`` takes the place of the token's pause; ``"^"`` starts at 0.
    Returns int64 [len(tokens) + 1], the last entry ``num_samples``, non-decreasing.
    """
    spoken = [(name, int(sample)) for name, sample in events if name != "_"]
    if len(spoken) != len(tokens) - 1:
        return None
    starts = [0]
    for token, (name, sample) in zip(tokens[1:], spoken):
        expected = "_:" if token.phoneme in PAUSES else token.phoneme
        if name != expected:
            return None
        starts.append(min(max(sample, starts[-1]), num_samples))
    starts.append(num_samples)
    return np.asarray(starts, dtype=np.int64)


def frame_durations(starts: np.ndarray, hop_length: int, num_frames: int) -> np.ndarray:
    """Frames per token from token start samples (:func:`align_events`): each boundary goes to
    the nearest frame, so the durations are >= 0 and sum to exactly ``num_frames``."""
    bounds = np.rint(np.asarray(starts, dtype=np.float64) / hop_length).astype(np.int64)
    bounds = np.clip(bounds, 0, num_frames)
    bounds[0], bounds[-1] = 0, num_frames
    bounds = np.maximum.accumulate(bounds)
    return np.diff(bounds).astype(np.int32)
