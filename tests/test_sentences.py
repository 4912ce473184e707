"""The sentences text source and corpus, and synthesis that survives a crashing synthesizer."""

import json
import os
import re
import signal

import numpy as np
import pytest

from speech_lstm.data.sentences import SentenceText, english_words, spell_date, spell_number, spell_time, spell_year
from speech_lstm.errors import ParameterError

WORD = re.compile(r"[a-z]+('[a-z]+)?")


def test_word_list_is_the_spoken_top_of_wordfreq():
    words = english_words(10000)
    assert len(words) == len(set(words)) == 10000
    assert words[:5] == ["the", "to", "and", "of", "a"]
    assert all(WORD.fullmatch(w) and re.search("[aeiouy]", w) for w in words)
    for spelled_out in ("nfl", "mr", "3d", "e.g", "tv", "s"):
        assert spelled_out not in words
    with pytest.raises(ParameterError):
        english_words(10)


def test_numbers_dates_and_times_are_words():
    assert spell_number(1234) == "one thousand two hundred and thirty four"
    assert spell_year(1984) == "nineteen eighty four"
    rng = np.random.default_rng(0)
    for _ in range(200):
        for text in (spell_date(rng), spell_time(rng)):
            assert text and all(WORD.fullmatch(w) for w in text.split()), text
    times = {spell_time(rng) for _ in range(300)}
    assert any("past" in t for t in times) and any("o'clock" in t for t in times)


def test_sentences_are_deterministic_and_cover_the_list():
    a, b = SentenceText(300, seed=5), SentenceText(300, seed=5)
    texts = a.sentences(600)
    assert texts == b.sentences(600)
    assert texts != SentenceText(300, seed=6).sentences(600)
    assert all(t and all(WORD.fullmatch(w) for w in t.split()) for t in texts)
    seen = {w for t in texts for w in t.split()}
    assert set(a.words) <= seen  # every word of the list turns up
    assert 4 <= np.mean([len(t.split()) for t in texts]) <= 14


def test_sentence_corpus_splits_by_voice_with_distinct_texts(tmp_path):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.synth import CorpusSpec, synthesize_corpus

    spec = CorpusSpec(num_train=6, num_dev=3, num_test=3, text="sentences", min_words=3, max_words=5, vocab_size=500,
                      noise_prob=0.0, seed=2)
    paths = synthesize_corpus(tmp_path / "s", spec, workers=1, progress=False)
    splits = {k: read_manifest(p) for k, p in paths.items()}
    texts = {k: {e["text"] for e in v} for k, v in splits.items()}
    assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    assert {e["speaker"] for e in splits["train"]}.isdisjoint({e["speaker"] for e in splits["test"]})
    assert all(e["duration"] > 0.5 for v in splits.values() for e in v)
    meta = json.loads((tmp_path / "s" / "corpus.json").read_text())
    assert meta["spec"]["text"] == "sentences" and meta["failed"] == []
    with pytest.raises(ParameterError, match="text must be one of"):
        CorpusSpec(text="poems")


def _crash_on_three(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGSEGV)  # what eSpeak NG does on rare voice/text combinations
    return x * 10


def test_a_crashing_job_does_not_stop_the_batch():
    from speech_lstm.data.synth import map_jobs

    results, crashed = map_jobs(_crash_on_three, list(range(12)), workers=2, progress=False)
    assert crashed == [3]
    assert results == [x * 10 if x != 3 else None for x in range(12)]


def test_synth_sentences_cli(tmp_path):
    from speech_lstm.cli import main

    assert main(["synth-sentences", "--out", str(tmp_path / "c"), "--num-train", "3", "--num-dev", "1",
                 "--num-test", "1", "--vocab-size", "200", "--workers", "1", "--quiet"]) == 0
    lines = (tmp_path / "c" / "train.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert main(["synth-sentences", "--out", str(tmp_path / "d"), "--hours", "1", "--num-train", "3"]) == 2
    assert main(["synth-sentences", "--out", str(tmp_path / "e"), "--engine", "flite", "--hours", "1"]) == 2


@pytest.mark.skipif(__import__("shutil").which("flite") is None, reason="Debian's flite is not installed (make flite)")
def test_flite_sentences_are_a_text_stream_of_their_own(tmp_path):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.data.synth import CorpusSpec, _plan, synthesize_flite_set

    manifest = synthesize_flite_set(tmp_path / "f", num=3, min_words=3, max_words=5, text="sentences",
                                    vocab_size=500, workers=1, progress=False)
    flite = [e["text"] for e in read_manifest(manifest)]
    assert len(flite) == 3 and all(len(t.split()) >= 2 for t in flite)
    jobs, _ = _plan(CorpusSpec(num_train=50, num_dev=10, num_test=10, text="sentences", min_words=3, max_words=5,
                               vocab_size=500), tmp_path / "espeak")
    assert not set(flite) & {j["text"] for j in jobs}
