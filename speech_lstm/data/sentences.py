"""English text for the sentences corpus: sentence-like word sequences over the most frequent
English words, with numbers, dates and times spelled out as words.

The word list is ``wordfreq``'s English frequency list (its ``top_n_list``), kept to words that
are spoken as written: letters and apostrophes only, with a vowel (``"nfl"``, ``"mr"``, ``"3d"``
and ``"e.g"`` go; eSpeak NG would spell them out or expand them). Numbers come from
``num2words`` (cardinals, ordinals, years), so what eSpeak NG reads is exactly the transcript.

Sentences are drawn from templates of English function words with slots, or are plain word
runs; every slot draws either the next word of a shuffled pass over the whole list (so that a
corpus of a few thousand sentences covers every word) or a word drawn by frequency. All of it is
deterministic from the seed.
"""

from __future__ import annotations

import re

import numpy as np

from speech_lstm.errors import ParameterError
from speech_lstm.text import normalize_text

__all__ = ["SentenceText", "english_words", "spell_number", "spell_date", "spell_time"]

_SPOKEN = re.compile(r"[a-z]+('[a-z]+)?")
_VOWEL = re.compile(r"[aeiouy]")
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# Templates: words are literal; W a word slot, N a number, Y a year, D a date, T a time, O an ordinal.
TEMPLATES = [
    "the W W is W", "i think the W W W", "we W the W of the W", "there is a W in the W", "can you W the W",
    "it was W and W", "my W W at T", "the W W on D", "they W N W", "please W the W W", "do not W the W",
    "why did the W W", "this W has N W", "he said that the W W W", "she W W to the W", "on D the W W W",
    "at T we W W", "it costs N dollars", "the W was W in Y", "I W W W W", "you can W W for the W",
    "how many W W W", "what is the W of W", "meet me at T on D", "the O W W the W", "in Y W W W W",
    "we have N W and N W", "is it W or W", "W W W W W", "W W W W W W W", "the W W W W W W",
    "a W W of W", "if you W the W W W", "when will the W W", "there were N W in Y", "call me at T",
    "the W and the W W W", "all W W are W", "W the W W W", "she was born on D Y", "the W W the O W",
]
_CONTRACTION_OK = ("'s", "'t", "'re", "'ve", "'ll", "'d", "'m")


def english_words(n: int = 10000) -> list[str]:
    """The ``n`` most frequent English words (wordfreq) that are spoken as written, most frequent first."""
    from wordfreq import top_n_list

    if n < 100:
        raise ParameterError(f"the word list needs at least 100 words, got {n}")
    words, seen = [], set()
    for w in top_n_list("en", int(n * 1.2) + 500):
        w = w.replace("\u2019", "'")
        ok = (_SPOKEN.fullmatch(w) and _VOWEL.search(w) and (len(w) > 1 or w in ("a", "i"))
              and ("'" not in w or w.endswith(_CONTRACTION_OK)))
        if ok and w not in seen:
            seen.add(w)
            words.append(w)
            if len(words) == n:
                return words
    raise ParameterError(f"wordfreq offers fewer than {n} spoken English words")


def _words(text: str) -> str:
    return normalize_text(text.replace("-", " ").replace(",", " "))


def spell_number(n: int) -> str:
    """``1234`` -> ``"one thousand two hundred and thirty four"`` (num2words, hyphens as spaces)."""
    from num2words import num2words

    return _words(num2words(int(n)))


def spell_ordinal(n: int) -> str:
    from num2words import num2words

    return _words(num2words(int(n), to="ordinal"))


def spell_year(y: int) -> str:
    """``1984`` -> ``"nineteen eighty four"``, ``2005`` -> ``"two thousand and five"``."""
    from num2words import num2words

    return _words(num2words(int(y), to="year"))


def spell_date(rng: np.random.Generator) -> str:
    """A spoken date: ``"march third"``, ``"the third of march"`` or ``"monday the third of march"``."""
    month, day = MONTHS[int(rng.integers(12))], spell_ordinal(int(rng.integers(1, 29)))
    style = int(rng.integers(3))
    if style == 0:
        return f"{month} {day}"
    if style == 1:
        return f"the {day} of {month}"
    return f"{DAYS[int(rng.integers(7))]} the {day} of {month}"


def spell_time(rng: np.random.Generator) -> str:
    """A spoken clock time: ``"seven thirty"``, ``"half past four"``, ``"ten o'clock in the morning"``..."""
    hour, minute = int(rng.integers(1, 13)), int(rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 7, 12, 48]))
    h = spell_number(hour)
    style = int(rng.integers(4))
    if style == 0 or minute in (7, 12, 48):
        text = f"{h} {spell_number(minute)}" if minute >= 10 else (f"{h} oh {spell_number(minute)}" if minute
                                                                     else f"{h} o'clock")
    elif minute == 0:
        text = f"{h} o'clock"
    elif minute == 30:
        text = f"half past {h}"
    elif minute == 15:
        text = f"quarter past {h}"
    elif minute == 45:
        text = f"quarter to {spell_number(hour % 12 + 1)}"
    elif minute < 30:
        text = f"{spell_number(minute)} past {h}"
    else:
        text = f"{spell_number(60 - minute)} to {spell_number(hour % 12 + 1)}"
    if rng.random() < 0.3:
        text += (" in the morning", " in the afternoon", " in the evening", " at night")[int(rng.integers(4))]
    return text


class SentenceText:
    """Draws sentences over the ``vocab_size`` most frequent English words, deterministic from ``seed``.

    ``coverage``: chance that a word slot takes the next word of a shuffled pass over the whole
    list (the rest are drawn by frequency, flattened by ``zipf_power``), so every word turns up
    once per pass. ``number_prob``: chance that a plain word run gets a number, date or time.
    """

    def __init__(self, vocab_size: int = 10000, seed: int = 0, coverage: float = 0.5, zipf_power: float = 0.7,
                 number_prob: float = 0.25, min_words: int = 4, max_words: int = 14):
        if not 0 <= coverage <= 1 or not 0 <= number_prob <= 1:
            raise ParameterError("coverage and number_prob must be in [0, 1]")
        if not 1 <= min_words <= max_words:
            raise ParameterError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
        self.words = english_words(vocab_size)
        self.rng = np.random.default_rng(seed)
        weights = (1.0 / np.arange(1, len(self.words) + 1)) ** zipf_power
        self._cdf = np.cumsum(weights / weights.sum())
        self.coverage, self.number_prob = coverage, number_prob
        self.min_words, self.max_words = min_words, max_words
        self._pass, self._pos = [], 0

    def _coverage_word(self) -> str:
        if self._pos >= len(self._pass):
            self._pass, self._pos = list(self.rng.permutation(len(self.words))), 0
        self._pos += 1
        return self.words[self._pass[self._pos - 1]]

    def word(self) -> str:
        if self.rng.random() < self.coverage:
            return self._coverage_word()
        return self.words[min(int(np.searchsorted(self._cdf, self.rng.random())), len(self.words) - 1)]

    def _slot(self, slot: str) -> str:
        rng = self.rng
        if slot == "W":
            return self.word()
        if slot == "N":
            return spell_number(int(np.exp(rng.uniform(0, np.log(1_000_000)))) if rng.random() < 0.8
                                else int(rng.integers(0, 20)))
        if slot == "Y":
            return spell_year(int(rng.integers(1900, 2040)))
        if slot == "D":
            return spell_date(rng)
        if slot == "T":
            return spell_time(rng)
        if slot == "O":
            return spell_ordinal(int(rng.integers(1, 40)))
        return slot.lower()

    def sentence(self) -> str:
        """One normalized sentence (``[a-z' ]`` words)."""
        rng = self.rng
        if rng.random() < 0.6:
            tokens = TEMPLATES[int(rng.integers(len(TEMPLATES)))].split()
        else:
            tokens = ["W"] * int(rng.integers(self.min_words, self.max_words + 1))
            if rng.random() < self.number_prob:
                tokens.insert(int(rng.integers(len(tokens) + 1)), "NYDTO"[int(rng.integers(5))])
        return normalize_text(" ".join(self._slot(t) for t in tokens))

    def sentences(self, n: int) -> list[str]:
        return [self.sentence() for _ in range(n)]
