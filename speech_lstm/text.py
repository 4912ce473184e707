"""Transcript normalisation and the character vocabulary (CTC blank = index 0)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from speech_lstm.errors import ParameterError

__all__ = ["normalize_text", "Vocabulary", "BLANK", "DEFAULT_CHARS"]

BLANK = "<blank>"
DEFAULT_CHARS = " '" + "abcdefghijklmnopqrstuvwxyz"

_ALLOWED = set(DEFAULT_CHARS)
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lowercase, strip accents, keep ``[a-z' ]``, squeeze spaces.

    Whitespace, punctuation and symbols (hyphens, commas, ...) become spaces; any other
    character (digits, non-Latin letters) is dropped. Curly apostrophes become ``'``.
    """
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    out = []
    for c in text.lower():
        if c in _ALLOWED:
            out.append(c)
        elif c.isspace() or unicodedata.category(c)[0] in "PSZ":
            out.append(" ")
    return _SPACES.sub(" ", "".join(out)).strip()


class Vocabulary:
    """Characters <-> integer ids for CTC. Index 0 is the blank; characters start at 1.

    chars: the symbols, in id order from 1.  ``encode`` rejects characters outside the
    vocabulary (naming them) rather than dropping them silently.
    """

    def __init__(self, chars=DEFAULT_CHARS):
        chars = list(chars)
        if len(set(chars)) != len(chars):
            raise ParameterError("vocabulary characters must be unique")
        if any(len(c) != 1 for c in chars):
            raise ParameterError("vocabulary entries must be single characters")
        self.chars = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @property
    def size(self) -> int:
        """Number of classes including the blank."""
        return len(self.chars) + 1

    blank_id = 0

    def __len__(self):
        return self.size

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and other.chars == self.chars

    def unknown_chars(self, text: str) -> set:
        return {c for c in text if c not in self._index}

    def encode(self, text: str) -> np.ndarray:
        """int32 [len(text)] ids in 1..size-1."""
        bad = self.unknown_chars(text)
        if bad:
            raise ParameterError(f"characters not in the vocabulary: {''.join(sorted(bad))!r} in {text!r}")
        return np.array([self._index[c] for c in text], dtype=np.int32)

    def decode(self, ids) -> str:
        """Ids -> text, skipping blanks (no CTC collapsing; see speech_lstm.ctc)."""
        return "".join(self.chars[i - 1] for i in (int(x) for x in ids) if 0 < i <= len(self.chars))

    def decode_words(self, ids) -> str:
        """Like :meth:`decode`, with runs of spaces squeezed and the ends stripped (a transcript)."""
        return " ".join(self.decode(ids).split())

    def id_to_char(self, i: int) -> str:
        return BLANK if i == 0 else self.chars[i - 1]

    def to_json(self) -> dict:
        return {"blank": 0, "chars": self.chars}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path) -> "Vocabulary":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            if data.get("blank", 0) != 0:
                raise ParameterError(f"{path}: blank must be index 0, got {data.get('blank')}")
            return cls(data["chars"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ParameterError(f"{path}: not a vocabulary JSON with a 'chars' list ({e})") from e

    @classmethod
    def from_texts(cls, texts) -> "Vocabulary":
        """The characters used in ``texts`` (sorted), e.g. to build a vocabulary from a manifest."""
        chars = sorted({c for t in texts for c in t})
        return cls(chars)
