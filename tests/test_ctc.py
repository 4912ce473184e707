import numpy as np
import pytest

from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import ctc_beam_decode, ctc_greedy_decode, ctc_loss, decode_logits
from speech_lstm.errors import ParameterError
from speech_lstm.text import Vocabulary

V = Vocabulary()


def peaked(path, classes=V.size, peak=8.0):
    """Logits [1, T, C] whose argmax follows ``path`` (class ids, 0 = blank)."""
    x = np.zeros((1, len(path), classes), np.float32)
    x[0, np.arange(len(path)), path] = peak
    return x


def ids(text):
    return list(V.encode(text))


def test_greedy_merges_repeats_and_drops_blanks():
    a, b = ids("a")[0], ids("b")[0]
    path = [0, a, a, 0, a, b, b, 0, 0]
    (h,) = ctc_greedy_decode(peaked(path), [len(path)])
    assert h.ids == [a, a, b]
    assert h.frames == [1, 4, 5]
    assert all(0.9 < c <= 1.0 for c in h.confidences)


def test_greedy_respects_true_lengths():
    a, b = ids("ab")
    path = [a, 0, b, b]
    (h,) = ctc_greedy_decode(peaked(path), [2])
    assert h.ids == [a]


def test_greedy_errors():
    with pytest.raises(ParameterError, match=r"logits must be \[batch, frames, classes\]"):
        ctc_greedy_decode(np.zeros((3, 4)), [3])
    with pytest.raises(ParameterError, match="lengths has 2 entries for a batch of 1"):
        ctc_greedy_decode(np.zeros((1, 4, 5)), [3, 3])


def test_beam_agrees_with_greedy_on_peaked_logits_and_gives_nbest():
    path = [0] + sum(([i, 0] for i in ids("seven")), [])
    logits = peaked(path, peak=5.0)
    (hyps,) = ctc_beam_decode(logits, [len(path)], beam_width=8, top_paths=3)
    assert V.decode(hyps[0].ids) == "seven"
    assert len(hyps) == 3 and hyps[0].score >= hyps[1].score >= hyps[2].score
    assert decode_logits(logits, [len(path)], V, DecodeOptions("beam", beam_width=4)) == ["seven"]
    assert decode_logits(logits, [len(path)], V) == ["seven"]


def test_beam_can_beat_greedy():
    # Greedy picks blank in each frame, but the summed probability of "a" paths is larger.
    a = ids("a")[0]
    probs = np.full((1, 2, V.size), 1e-6, np.float32)
    probs[0, :, 0] = 0.4
    probs[0, :, a] = 0.35
    probs[0, :, ids("b")[0]] = 0.25
    logits = np.log(probs)
    assert decode_logits(logits, [2], V) == [""]
    assert decode_logits(logits, [2], V, DecodeOptions("beam", beam_width=8)) == ["a"]


def test_loss_prefers_the_right_labels_and_ignores_padding():
    target = ids("one")
    path = [0, target[0], 0, target[1], 0, target[2], 0]
    logits = peaked(path, peak=6.0)
    good = np.array([target + [0, 0]], np.int32)
    bad = np.array([ids("two") + [0, 0]], np.int32)
    lg = float(ctc_loss(good, logits, np.array([3]), np.array([7]))[0])
    lb = float(ctc_loss(bad, logits, np.array([3]), np.array([7]))[0])
    assert np.isfinite(lg) and lg < 1.0 < lb
    # Extra padded frames beyond the true length do not change the loss.
    padded = np.concatenate([logits, peaked([ids("z")[0]] * 5, peak=9.0)], axis=1)
    lp = float(ctc_loss(good, padded, np.array([3]), np.array([7]))[0])
    assert abs(lp - lg) < 1e-4


DIGITS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _spell(text):
    """A blank-separated CTC path spelling ``text``."""
    return [0] + sum(([i, 0] for i in ids(text)), [])


def test_lexicon_decoding_turns_a_non_word_into_the_nearest_word():
    from speech_lstm.ctc import Lexicon, ctc_lexicon_decode

    path = _spell("xfive two")
    probs = np.full((1, len(path), V.size), 1e-4, np.float32)
    probs[0, np.arange(len(path)), path] = 0.9
    logits = np.log(probs)
    assert decode_logits(logits, [len(path)], V) == ["xfive two"]  # greedy spells a non-word
    lexicon = Lexicon(DIGITS, V)
    (hyps,) = ctc_lexicon_decode(logits, [len(path)], lexicon, beam_width=8, top_paths=2)
    assert V.decode_words(hyps[0].ids) == "five two" and all(hyps[0].score >= h.score for h in hyps)
    assert hyps[0].frames == [3, 5, 7, 9, 11, 13, 15, 17]  # f i v e, space, t w o: where each was spelled
    assert decode_logits(logits, [len(path)], V, DecodeOptions("beam", beam_width=8, words=DIGITS)) == ["five two"]


def test_lexicon_decoding_never_emits_a_word_outside_the_list():
    rng = np.random.default_rng(0)
    words = ("one", "two", "ten", "tent")
    for trial in range(30):
        logits = rng.normal(0, 3, (2, 25, V.size)).astype(np.float32)
        for text in decode_logits(logits, [25, 18], V, DecodeOptions("beam", beam_width=6, words=words)):
            assert set(text.split()) <= set(words), text
    with pytest.raises(ParameterError, match="outside the vocabulary"):
        from speech_lstm.ctc import Lexicon

        Lexicon(["nine", "ni9e"], V)
    from speech_lstm.errors import ConfigError

    with pytest.raises(ConfigError, match="needs strategy='beam'"):
        DecodeOptions(words=("one",))


def test_forced_alignment_frames_and_confidences():
    from speech_lstm.ctc import ctc_align, log_softmax

    a, b = ids("ab")
    path = [0, a, a, 0, b, 0]
    logp = log_softmax(peaked(path)[0])
    frames, confs = ctc_align(logp, [a, b])
    assert frames == [1, 4] and all(c > 0.9 for c in confs)
    aa = ctc_align(log_softmax(peaked([a, 0, a])[0]), [a, a])[0]
    assert aa == [0, 2]
    assert ctc_align(logp, []) == ([], [])
