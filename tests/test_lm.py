"""Word n-gram LMs (ARPA estimation), LM and hot-word beam search, and their command line."""

import json
from pathlib import Path

import numpy as np
import pytest

from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import ctc_lm_decode, decode_logits, parse_hot_words
from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.lm import build_arpa, read_arpa_header
from speech_lstm.text import Vocabulary, WordVocabulary

kenlm = pytest.importorskip("kenlm")
TEXT = ["the cat sat on the mat", "the cat ate", "a dog sat on a log", "the dog ate the cat food",
        "my cap is red", "the cat is black"]


def _prob_mass(model, context, vocab):
    state = kenlm.State()
    model.BeginSentenceWrite(state)
    for w in context:
        out = kenlm.State()
        model.BaseScore(state, w, out)
        state = out
    return sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_arpa_is_a_distribution_in_every_context(tmp_path, order):
    info = build_arpa(TEXT, tmp_path / "lm.arpa", order=order)
    assert info["order"] == order and info["sentences"] == len(TEXT)
    assert read_arpa_header(tmp_path / "lm.arpa") == {n + 1: c for n, c in enumerate(info["ngrams"])}
    model = kenlm.Model(str(tmp_path / "lm.arpa"))
    vocab = sorted({w for t in TEXT for w in t.split()}) + ["</s>", "<unk>"]
    for context in ([], ["the"], ["the", "cat"], ["on", "a"], ["unseen", "words"]):
        assert _prob_mass(model, context, vocab) == pytest.approx(1.0, abs=1e-4)
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")
    assert list(tmp_path.iterdir()) == [tmp_path / "lm.arpa"]  # written atomically, no leftovers


def test_arpa_pruning_and_bad_input(tmp_path):
    full = build_arpa(TEXT * 2 + ["a rare one"], tmp_path / "a.arpa", order=3)
    pruned = build_arpa(TEXT * 2 + ["a rare one"], tmp_path / "b.arpa", order=3, min_count=2)
    assert pruned["ngrams"][2] < full["ngrams"][2] and pruned["ngrams"][:2] == full["ngrams"][:2]
    with pytest.raises(ParameterError, match="order"):
        build_arpa(TEXT, tmp_path / "c.arpa", order=1)
    with pytest.raises(ParameterError, match="no text"):
        build_arpa(["", "  "], tmp_path / "c.arpa")
    (tmp_path / "not.arpa").write_text("hello\n")
    with pytest.raises(ParameterError, match="not an ARPA"):
        read_arpa_header(tmp_path / "not.arpa")


def _spell(vocab, text, blur=None):
    """Peaky logits that spell ``text`` (a blank after each character); ``blur``: {position:
    (other char, its log-prob, the written char's log-prob)} makes one character ambiguous."""
    rows = []
    for i, c in enumerate(text):
        row = np.full(vocab.size, -9.0, np.float32)
        row[vocab.encode(c)[0]] = 0.0
        if blur and i in blur:
            other, lp_other, lp_own = blur[i]
            row[vocab.encode(c)[0]], row[vocab.encode(other)[0]] = lp_own, lp_other
        blank = np.full(vocab.size, -9.0, np.float32)
        blank[0] = 0.0
        rows += [row, blank]
    return np.stack(rows)[None]


def test_the_language_model_changes_a_decision(tmp_path):
    vocab = Vocabulary()
    lm = tmp_path / "lm.arpa"
    build_arpa(["the cat sat"] * 5 + ["my cap"], lm, order=3)
    # acoustics lean to "the cap sat" (p over t at the last letter of the 2nd word)
    logits = _spell(vocab, "the cap sat", blur={6: ("t", -0.9, -0.5)})
    lengths = [logits.shape[1]]
    assert decode_logits(logits, lengths, vocab, DecodeOptions("beam", 16)) == ["the cap sat"]
    with_lm = DecodeOptions("beam", 16, lm=str(lm), alpha=1.0, beta=0.0)
    assert decode_logits(logits, lengths, vocab, with_lm) == ["the cat sat"]
    hyps = ctc_lm_decode(logits, lengths, vocab, str(lm), 1.0, 0.0, beam_width=16, top_paths=2)[0]
    assert vocab.decode(hyps[0].ids) == "the cat sat" and len(hyps[0].frames) == len("the cat sat")


def test_hot_words_change_a_decision_and_boosts_are_per_word():
    vocab = Vocabulary()
    logits = _spell(vocab, "the cat sat", blur={6: ("p", -0.9, -0.5)})
    lengths = [logits.shape[1]]
    assert decode_logits(logits, lengths, vocab, DecodeOptions("beam", 16)) == ["the cat sat"]
    boosted = DecodeOptions("beam", 16, hot_words=parse_hot_words("cap:4,dog:4"))
    assert decode_logits(logits, lengths, vocab, boosted) == ["the cap sat"]
    weak = DecodeOptions("beam", 16, hot_words=parse_hot_words("cap:0.1,cat:0"))
    assert decode_logits(logits, lengths, vocab, weak) == ["the cat sat"]


def test_hot_word_parsing_and_option_conflicts(tmp_path):
    assert parse_hot_words("Kubernetes:10, lstm ,New York:2") == (("kubernetes", 10.0), ("lstm", 8.0), ("new", 2.0),
                                                                   ("york", 2.0))
    with pytest.raises(ParameterError, match="must be a number"):
        parse_hot_words("cat:lots")
    with pytest.raises(ParameterError):
        parse_hot_words(" , ")
    with pytest.raises(ConfigError, match="conflict"):
        DecodeOptions("beam", 8, words=("cat",), lm="x.arpa")
    with pytest.raises(ConfigError, match="strategy='beam'"):
        DecodeOptions(lm="x.arpa")
    words = WordVocabulary(["cat", "dog"])
    with pytest.raises(ParameterError, match="character models"):
        ctc_lm_decode(np.zeros((1, 4, words.size), np.float32), [4], words, None, hot_words=(("cat", 1.0),))


def test_lm_command_line(tmp_path, tiny_model_path, tiny_export, digits_corpus, speech_wav):
    from speech_lstm.cli import main

    text = tmp_path / "text.txt"
    text.write_text("Three oh five.\nnine nine one\n", encoding="utf-8")
    lm = tmp_path / "digits.arpa"
    assert main(["lm", "build", "--text", str(text), str(digits_corpus["train"]), "--out", str(lm)]) == 0
    assert read_arpa_header(lm)[1] > 5
    assert main(["lm", "build", "--text", str(tmp_path / "missing.txt"), "--out", str(lm)]) == 2
    out = tmp_path / "tune.json"
    assert main(["lm", "tune", "--model", str(tiny_model_path), "--manifest", str(digits_corpus["dev"]),
                 "--lm", str(lm), "--alphas", "0.5,1", "--betas", "0", "--beam-width", "4", "--out", str(out),
                 "--quiet"]) == 0
    tuned = json.loads(out.read_text())
    assert len(tuned["grid"]) == 2 and tuned["best"] in tuned["grid"] and tuned["utterances"] == 6
    for model in (tiny_model_path, tiny_export):  # the Keras model and the exported SavedModel (beam width 4)
        for width in ([], ["--beam-width", "8"]):  # the LM search runs on the logits, at any width
            out = tmp_path / f"{Path(model).stem}{len(width)}.json"
            assert main(["transcribe", str(speech_wav), "--model", str(model), "--lm", str(lm), "--alpha", "0.8",
                         "--hot-words", "nine:3", *width, "--format", "json", "--quiet", "--output-dir",
                         str(tmp_path / out.stem)]) == 0
            assert len(list((tmp_path / out.stem).rglob("*.json"))) == 1
    assert main(["transcribe", str(speech_wav), "--model", str(tiny_model_path), "--alpha", "1"]) == 2
    assert main(["transcribe", str(speech_wav), "--model", str(tiny_model_path), "--lm", str(tmp_path / "no.arpa")]) == 2
    assert main(["transcribe", str(speech_wav), "--model", str(tiny_model_path), "--lm", str(lm),
                 "--words", "one,two"]) == 2
