"""Transcript normalisation and the output vocabularies: characters, or whole words for closed
tasks (CTC blank = index 0)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from speech_lstm.errors import ParameterError

__all__ = ["normalize_text", "Vocabulary", "WordVocabulary", "vocabulary_from_json", "vocabulary_from_symbols", "BLANK", "DEFAULT_CHARS"]

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

    is_words = False

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
            return vocabulary_from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ParameterError(f"{path}: not a vocabulary JSON with a 'chars' or 'words' list ({e})") from e

    @classmethod
    def from_texts(cls, texts) -> "Vocabulary":
        """The characters used in ``texts`` (sorted), e.g. to build a vocabulary from a manifest."""
        chars = sorted({c for t in texts for c in t})
        return cls(chars)


class WordVocabulary(Vocabulary):
    """Whole words <-> ids for a word-level CTC output (index 0 the blank, words from 1).

    For closed-vocabulary tasks such as digits: the model can only ever output these words.
    Each word's symbol is the word plus a space (:attr:`chars`), so joining symbols and
    squeezing spaces gives the transcript, exactly as for characters (the exported graph
    relies on that). ``encode`` names words outside the vocabulary.
    """

    is_words = True

    def __init__(self, words):
        words = [w.strip() for w in words]
        if not words or any(not w or " " in w for w in words):
            raise ParameterError(f"a word vocabulary needs non-empty single words, got {words!r}")
        if len(set(words)) != len(words):
            raise ParameterError("vocabulary words must be unique")
        self.words = words
        self.chars = [w + " " for w in words]
        self._index = {w: i + 1 for i, w in enumerate(words)}

    def __eq__(self, other):
        return isinstance(other, WordVocabulary) and other.words == self.words

    def unknown_chars(self, text: str) -> set:
        """The words of ``text`` outside the vocabulary (named like unknown characters)."""
        return {w for w in text.split() if w not in self._index}

    def encode(self, text: str) -> np.ndarray:
        bad = self.unknown_chars(text)
        if bad:
            raise ParameterError(f"words not in the vocabulary: {sorted(bad)} in {text!r}")
        return np.array([self._index[w] for w in text.split()], dtype=np.int32)

    def decode(self, ids) -> str:
        return " ".join(self.words[i - 1] for i in (int(x) for x in ids) if 0 < i <= len(self.words))

    def decode_words(self, ids) -> str:
        return self.decode(ids)

    def id_to_char(self, i: int) -> str:
        return BLANK if i == 0 else self.words[i - 1]

    def to_json(self) -> dict:
        return {"blank": 0, "words": self.words}


def vocabulary_from_json(data: dict) -> Vocabulary:
    """The vocabulary of a ``to_json`` dict: ``{"chars": [...]}`` or ``{"words": [...]}``."""
    return WordVocabulary(data["words"]) if "words" in data else Vocabulary(data["chars"])


def vocabulary_from_symbols(symbols) -> Vocabulary:
    """The vocabulary a model stores as its list of output symbols: single characters, or
    words each followed by a space (:class:`WordVocabulary`)."""
    symbols = list(symbols)
    if symbols and all(len(s) > 1 and s.endswith(" ") for s in symbols):
        return WordVocabulary([s[:-1] for s in symbols])
    return Vocabulary(symbols)
