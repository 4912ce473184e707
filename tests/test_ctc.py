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
