import numpy as np
import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.text import Vocabulary, normalize_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello, World!", "hello world"),
        ("It’s  a   TEST", "it's a test"),
        ("café-au-lait", "cafe au lait"),
        ("room 101", "room"),
        ("  \t\n", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_vocabulary_blank_is_zero_and_round_trip(tmp_path):
    v = Vocabulary()
    assert v.blank_id == 0 and v.size == 29 and v.id_to_char(0) == "<blank>"
    ids = v.encode("seven oh")
    assert ids.dtype == np.int32 and ids.min() >= 1
    assert v.decode(ids) == "seven oh"
    assert v.decode([0, *ids, 0]) == "seven oh"
    v.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == v


def test_vocabulary_errors(tmp_path):
    v = Vocabulary()
    with pytest.raises(ParameterError, match="not in the vocabulary: '7'"):
        v.encode("route 7")
    with pytest.raises(ParameterError, match="unique"):
        Vocabulary("aab")
    (tmp_path / "bad.json").write_text('{"blank": 3, "chars": ["a"]}')
    with pytest.raises(ParameterError, match="blank must be index 0"):
        Vocabulary.load(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text("not json")
    with pytest.raises(ParameterError, match="bad2.json: not a vocabulary JSON"):
        Vocabulary.load(tmp_path / "bad2.json")


def test_from_texts_and_decode_words():
    v = Vocabulary.from_texts(["ab", "ba c"])
    assert v.chars == [" ", "a", "b", "c"]
    assert Vocabulary().decode_words(Vocabulary().encode("  one  two ")) == "one two"
