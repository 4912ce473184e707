"""Tests of speech_lstm.music.metrics: frame NLL / accuracy, baselines, sample statistics, report."""

import math

import numpy as np
import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.music.metrics import (
    MarkovBaseline,
    UnigramBaseline,
    compare_statistics,
    empty_frame_rate,
    format_report,
    frame_accuracy,
    frame_nll,
    groove_consistency,
    histogram_overlap,
    note_density,
    note_length_histogram,
    notes_from_roll,
    piece_statistics,
    pitch_class_entropy,
    pitch_class_histogram,
    pitch_range,
    polyphony,
    repetition_rate,
    scale_consistency,
)

# cost of an off key predicted with p = 0 (clipped to 1e-7): -log(1 - 1e-7)
OFF_COST = -math.log(1 - 1e-7)


def roll_of(frames, on):
    """A [frames, 88] bool roll with keys on at the (frame, key) pairs in ``on``."""
    r = np.zeros((frames, 88), dtype=bool)
    for t, k in on:
        r[t, k] = True
    return r


def probs_of(frames, values):
    """A [frames, 88] probability array, 0 except at {(frame, key): p}."""
    p = np.zeros((frames, 88))
    for (t, k), v in values.items():
        p[t, k] = v
    return p


@pytest.fixture
def two_pieces():
    # piece A, 3 frames: key 0 on in frames 0, 1; key 1 on in frame 2
    roll_a = roll_of(3, [(0, 0), (1, 0), (2, 1)])
    probs_a = probs_of(3, {(0, 0): 0.5, (1, 0): 0.8, (1, 1): 0.3, (2, 0): 0.4, (2, 1): 0.6})
    # piece B, 2 frames: key 5 on in frame 1
    roll_b = roll_of(2, [(1, 5)])
    probs_b = probs_of(2, {(1, 5): 0.5})
    return [roll_a, roll_b], [probs_a, probs_b]


def hand_frame_losses():
    a1 = -math.log(0.8) - math.log(1 - 0.3) + 86 * OFF_COST  # A frame 1: key0 on p=.8, key1 off p=.3
    a2 = -math.log(1 - 0.4) - math.log(0.6) + 86 * OFF_COST  # A frame 2: key0 off p=.4, key1 on p=.6
    b1 = -math.log(0.5) + 87 * OFF_COST  # B frame 1: key5 on p=.5
    return a1, a2, b1


# --------------------------------------------------------------------------- frame_nll


def test_frame_nll_hand_computed(two_pieces):
    rolls, probs = two_pieces
    a1, a2, b1 = hand_frame_losses()
    out = frame_nll(rolls, probs)
    assert out["frames"] == 3 and out["pieces"] == 2
    assert out["nll"] == pytest.approx((a1 + a2 + b1) / 3, rel=1e-9)


def test_frame_nll_is_frame_weighted_not_piece_weighted(two_pieces):
    rolls, probs = two_pieces
    a1, a2, b1 = hand_frame_losses()
    piece_weighted = ((a1 + a2) / 2 + b1) / 2
    nll = frame_nll(rolls, probs)["nll"]
    assert abs(nll - piece_weighted) > 0.01
    assert nll == pytest.approx((a1 + a2 + b1) / 3)


def test_frame_nll_ignores_first_frame(two_pieces):
    rolls, probs = two_pieces
    base = frame_nll(rolls, probs)["nll"]
    bad = [p.copy() for p in probs]
    bad[0][0] = 0.0  # key 0 is on in frame 0 but predicted with p = 0: would cost 16 nats if scored
    bad[1][0] = 1.0
    assert frame_nll(rolls, bad)["nll"] == pytest.approx(base, rel=1e-12)
    # changing a scored frame does change it
    bad[1][1, 5] = 0.9
    assert frame_nll(rolls, bad)["nll"] != pytest.approx(base)


def test_frame_nll_clips_zero_and_one():
    roll = roll_of(2, [(1, 0)])
    # key 0 on with p = 0, key 1 off with p = 1: each clipped to 1e-7 away from the edge
    probs = probs_of(2, {(1, 1): 1.0})
    out = frame_nll([roll], [probs])
    expected = -math.log(1e-7) + -math.log(1e-7) + 86 * OFF_COST
    assert math.isfinite(out["nll"])
    assert out["nll"] == pytest.approx(expected, rel=1e-6)


def test_one_frame_pieces_contribute_nothing(two_pieces):
    rolls, probs = two_pieces
    rolls = rolls + [roll_of(1, [(0, 3)])]
    probs = probs + [np.zeros((1, 88))]
    out = frame_nll(rolls, probs)
    assert out["frames"] == 3 and out["pieces"] == 3
    with pytest.raises(ParameterError, match="no frame to score"):
        frame_nll([roll_of(1, [])], [np.zeros((1, 88))])


def test_perfect_predictor():
    rng = np.random.default_rng(0)
    rolls = [rng.random((n, 88)) < 0.05 for n in (5, 9, 2)]
    probs = [r.astype(float) for r in rolls]
    assert frame_nll(rolls, probs)["nll"] == pytest.approx(0.0, abs=1e-4)
    assert frame_accuracy(rolls, probs) == 1.0


def test_accepts_3d_array():
    rolls = np.zeros((2, 4, 88), dtype=np.int8)
    rolls[:, :, 10] = 1
    probs = np.full((2, 4, 88), 0.5)
    out = frame_nll(rolls, probs)
    assert out["frames"] == 6 and out["nll"] == pytest.approx(88 * math.log(2))


# --------------------------------------------------------------------------- frame_accuracy


def test_frame_accuracy_hand_case():
    roll = roll_of(3, [(0, 7), (1, 0), (1, 1), (2, 3)])
    # frame 0 (ignored): key 7 on, predicted off; frame 1: predict keys 0 and 2 -> TP 1, FP 1, FN 1
    # frame 2: predict key 3 with p exactly at the threshold -> TP 1. Total 2 / (2 + 1 + 1)
    probs = probs_of(3, {(0, 9): 0.9, (1, 0): 0.7, (1, 1): 0.49, (1, 2): 0.6, (2, 3): 0.5})
    assert frame_accuracy([roll], [probs]) == pytest.approx(2 / 4)
    # a higher threshold drops key 0 of frame 1 and key 3 of frame 2: TP 0, FP 0, FN 3
    assert frame_accuracy([roll], [probs], threshold=0.8) == 0.0


def test_frame_accuracy_nothing_to_count_is_one():
    assert frame_accuracy([roll_of(3, [])], [np.zeros((3, 88))]) == 1.0


# --------------------------------------------------------------------------- baselines


@pytest.fixture
def tiny_rolls():
    # piece 1: key 0 on, on, off, off; piece 2: key 0 on, off. Key 1 never on.
    return [roll_of(4, [(0, 0), (1, 0)]), roll_of(2, [(0, 0)])]


def test_unigram_baseline(tiny_rolls):
    model = UnigramBaseline().fit(tiny_rolls)
    assert model.p_on[0] == pytest.approx((3 + 1) / (6 + 2))  # 3 of 6 frames on, Laplace
    assert model.p_on[1] == pytest.approx((0 + 1) / (6 + 2))
    pred = model.predict(roll_of(3, []))
    assert pred.shape == (3, 88)
    np.testing.assert_allclose(pred, np.tile(model.p_on, (3, 1)))
    assert UnigramBaseline(alpha=0.5).fit(tiny_rolls).p_on[0] == pytest.approx(3.5 / 7)


def test_markov_baseline(tiny_rolls):
    model = MarkovBaseline().fit(tiny_rolls)
    # key 0 transitions: on->on, on->off, off->off (piece 1), on->off (piece 2)
    assert model.p_on_after_on[0] == pytest.approx((1 + 1) / (3 + 2))
    assert model.p_on_after_off[0] == pytest.approx((0 + 1) / (1 + 2))
    # key 1: 4 off->off transitions, never on
    assert model.p_on_after_off[1] == pytest.approx((0 + 1) / (4 + 2))
    assert model.p_on_after_on[1] == pytest.approx(0.5)
    pred = model.predict(roll_of(3, [(0, 0), (2, 0)]))  # key 0: on, off, on
    assert pred.shape == (3, 88)
    assert pred[0, 0] == pytest.approx(4 / 8)  # row 0: smoothed marginal
    assert pred[1, 0] == pytest.approx(2 / 5)  # after on
    assert pred[2, 0] == pytest.approx(1 / 3)  # after off
    assert pred[1, 1] == pred[2, 1] == pytest.approx(1 / 6)


def sticky_rolls(seed, pieces=6, frames=40):
    """Rolls whose keys hold their state (p = 0.9 of staying), as held chord notes do."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(pieces):
        r = np.zeros((frames, 88), dtype=bool)
        r[0] = rng.random(88) < 0.1
        for t in range(1, frames):
            flip = rng.random(88) < np.where(r[t - 1], 0.1, 0.01)
            r[t] = r[t - 1] ^ flip
        out.append(r)
    return out


def test_baselines_score_with_frame_nll():
    train, test = sticky_rolls(0), sticky_rolls(1)
    uni, mark = UnigramBaseline().fit(train), MarkovBaseline().fit(train)
    nll_u = frame_nll(test, [uni.predict(r) for r in test])["nll"]
    nll_m = frame_nll(test, [mark.predict(r) for r in test])["nll"]
    assert 0 < nll_m < nll_u
    assert frame_accuracy(test, [mark.predict(r) for r in test]) > frame_accuracy(test, [uni.predict(r) for r in test])


def test_baseline_errors(tiny_rolls):
    with pytest.raises(ParameterError, match="before fit"):
        UnigramBaseline().predict(tiny_rolls[0])
    with pytest.raises(ParameterError, match="before fit"):
        MarkovBaseline().predict(tiny_rolls[0])
    with pytest.raises(ParameterError, match="alpha"):
        MarkovBaseline(alpha=0)
    with pytest.raises(ParameterError, match=r"expected \[frames, 88\]"):
        UnigramBaseline().fit(tiny_rolls).predict(np.zeros((3, 12)))


# --------------------------------------------------------------------------- sample statistics

C_MAJOR = [(p, i, 1.0) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])]
BAR = [(60, 0.0, 1.0), (64, 1.0, 0.5), (67, 1.5, 0.5), (72, 2.0, 2.0)]


def shifted(notes, quarters):
    return [(p, o + quarters, d) for p, o, d in notes]


def test_c_major_scale():
    assert scale_consistency(C_MAJOR) == 1.0
    assert pitch_class_entropy(C_MAJOR) == pytest.approx(math.log2(7))
    assert pitch_range(C_MAJOR) == 11
    assert polyphony(C_MAJOR) == 1.0
    assert empty_frame_rate(C_MAJOR) == 0.0
    assert note_density(C_MAJOR) == pytest.approx(1.0)
    np.testing.assert_array_equal(pitch_class_histogram(C_MAJOR), [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1])


def test_chromatic_and_single_pitch_class():
    chromatic = [(60 + i, i, 1) for i in range(12)]
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)
    octaves = [(48, 0, 1), (60, 1, 1), (72, 2, 1)]
    assert pitch_class_entropy(octaves) == 0.0
    assert pitch_range(octaves) == 24


def test_polyphony_and_empty_frames_notes_and_roll_agree():
    # C major triad for 2 quarters, 2 quarters rest, one note for 1 quarter: 8 + 8 + 4 sixteenths
    notes = [(60, 0, 2), (64, 0, 2), (67, 0, 2), (62, 4, 1)]
    assert polyphony(notes) == pytest.approx((8 * 3 + 4 * 1) / 12)
    assert empty_frame_rate(notes) == pytest.approx(8 / 20)
    assert note_density(notes) == pytest.approx(4 / 5)
    # the same piece as a roll at 1 frame per quarter (JSB), and at 2 frames per quarter
    roll = roll_of(5, [(t, p - 21) for p in (60, 64, 67) for t in (0, 1)] + [(4, 62 - 21)])
    assert polyphony(roll) == pytest.approx(polyphony(notes))
    assert empty_frame_rate(roll) == pytest.approx(2 / 5)  # frames 2 and 3 of 5
    assert piece_statistics(np.repeat(roll, 2, axis=0), frames_per_quarter=2) == pytest.approx(
        piece_statistics(roll))


def test_notes_from_roll():
    roll = roll_of(5, [(0, 39), (1, 39), (3, 39), (2, 0)])  # key 39 = middle C (MIDI 60)
    np.testing.assert_array_equal(notes_from_roll(roll), [[60, 0, 2], [21, 2, 1], [60, 3, 1]])
    np.testing.assert_array_equal(notes_from_roll(roll, frames_per_quarter=2)[0], [60, 0, 1])
    assert notes_from_roll(roll_of(3, [])).shape == (0, 3)


def test_all_frames_empty():
    silent = roll_of(16, [])
    stats = piece_statistics(silent)
    assert stats["empty_frame_rate"] == 1.0
    assert stats["note_density"] == 0.0
    for name in ("polyphony", "pitch_class_entropy", "scale_consistency", "pitch_range", "repetition_rate"):
        assert math.isnan(stats[name]), name
    assert stats["groove_consistency"] == 1.0  # 4 identical (empty) onset patterns
    assert math.isnan(empty_frame_rate([]))  # a note list with no notes has no length


def test_repetition_of_a_repeated_bar():
    four = sum((shifted(BAR, 4 * i) for i in range(4)), [])
    assert repetition_rate(four) == pytest.approx(3 / 4)
    assert groove_consistency(four) == 1.0
    changed = sum((shifted(BAR, 4 * i) for i in range(3)), []) + shifted([(61, 0, 4)], 12)
    assert repetition_rate(changed) == pytest.approx(2 / 4)
    # an empty bar in between is skipped, not counted as new
    gap = BAR + shifted(BAR, 8)
    assert repetition_rate(gap) == pytest.approx(1 / 2)
    # same rhythm, other pitches: not a repetition
    transposed = BAR + [(p + 2, o + 4, d) for p, o, d in BAR]
    assert repetition_rate(transposed) == 0.0
    assert groove_consistency(transposed) == 1.0


def test_groove_consistency_hand_case():
    quarters = [(60, q, 1) for q in range(4)]  # onsets at 16th steps 0, 4, 8, 12
    eighths = [(60, 4 + e / 2, 0.5) for e in range(8)]  # steps 0, 2, ..., 14: 4 extra onsets
    assert groove_consistency(quarters + eighths) == pytest.approx(1 - 4 / 16)
    assert math.isnan(groove_consistency(quarters))  # one bar


def test_note_length_histogram():
    notes = [(60, 0, 0.25), (62, 1, 1), (64, 2, 1), (65, 3, 6), (67, 9, 0.3)]
    h = note_length_histogram(notes)
    assert h.shape == (16,)
    assert h[0] == 2 and h[3] == 2 and h[15] == 1 and h.sum() == 5


def test_histogram_overlap():
    assert histogram_overlap([1, 1, 0], [0, 2, 2]) == pytest.approx(0.5)
    assert histogram_overlap([3, 1], [6, 2]) == pytest.approx(1.0)
    assert histogram_overlap([1, 0], [0, 1]) == 0.0


def test_compare_statistics_shape():
    real = [C_MAJOR, sum((shifted(BAR, 4 * i) for i in range(3)), [])]
    generated = [roll_of(8, [(t, 39) for t in range(8)]), roll_of(8, [])]
    out = compare_statistics(generated, real)
    scalars = ["pitch_class_entropy", "scale_consistency", "pitch_range", "polyphony", "empty_frame_rate",
               "note_density", "groove_consistency", "repetition_rate"]
    assert set(out) == set(scalars) | {"pitch_class_histogram", "note_length_histogram"}
    for name in scalars:
        assert set(out[name]) == {"generated_mean", "generated_std", "real_mean", "real_std",
                                  "generated_n", "real_n"}
    assert out["empty_frame_rate"]["generated_mean"] == pytest.approx(0.5)
    assert out["empty_frame_rate"]["generated_std"] == pytest.approx(0.5)
    assert out["polyphony"]["generated_n"] == 1  # nan for the silent piece is left out
    assert out["pitch_range"]["real_mean"] == pytest.approx((11 + 12) / 2)
    for name in ("pitch_class_histogram", "note_length_histogram"):
        assert 0.0 <= out[name]["overlap"] <= 1.0
        assert sum(out[name]["real"]) == pytest.approx(1.0)
    same = compare_statistics(real, real)
    assert same["pitch_class_histogram"]["overlap"] == pytest.approx(1.0)
    assert same["polyphony"]["generated_mean"] == same["polyphony"]["real_mean"]


# --------------------------------------------------------------------------- report


def test_format_report():
    table = format_report({"Unigram": {"nll": 11.234567, "frames": 100, "accuracy": 0.1},
                           "Markov": {"nll": 8.5, "frames": 100}})
    lines = table.strip().splitlines()
    assert lines[0] == "| | nll | frames | accuracy |"
    assert lines[2] == "| Unigram | 11.23 | 100 | 0.1 |"
    assert lines[3] == "| Markov | 8.5 | 100 |  |"
    flat = format_report({"nll": 8.5, "frames": 3, "pieces": 2})
    assert "| nll | 8.5 |" in flat and flat.startswith("| metric | value |")
    stats = format_report(compare_statistics([C_MAJOR], [C_MAJOR]))
    assert "| pitch_class_histogram |" in stats and "overlap" in stats.splitlines()[0]
    assert "[" not in stats  # histograms themselves are left out
    with pytest.raises(ParameterError, match="non-empty dict"):
        format_report({})


# --------------------------------------------------------------------------- bad input


def test_bad_shapes_and_values(two_pieces):
    rolls, probs = two_pieces
    with pytest.raises(ParameterError, match=r"rolls\[0\] has shape \(3, 87\), expected \[frames, 88\]"):
        frame_nll([np.zeros((3, 87))], [np.zeros((3, 87))])
    with pytest.raises(ParameterError, match=r"probs\[1\] has shape \(3, 88\).*shape of the roll"):
        frame_nll(rolls, [probs[0], np.zeros((3, 88))])
    with pytest.raises(ParameterError, match="probs has 1 pieces but rolls has 2"):
        frame_accuracy(rolls, probs[:1])
    with pytest.raises(ParameterError, match=r"probabilities in \[0, 1\]"):
        frame_nll(rolls, [probs[0] * 2, probs[1]])
    with pytest.raises(ParameterError, match=r"probabilities in \[0, 1\]"):
        frame_nll(rolls, [probs[0], np.full((2, 88), np.nan)])
    with pytest.raises(ParameterError, match="0/1"):
        frame_nll([rolls[0] * 2], [probs[0]])
    with pytest.raises(ParameterError, match="list of"):
        frame_nll(rolls[0], probs[0])  # one roll, not a list of rolls
    with pytest.raises(ParameterError, match="rolls is empty"):
        frame_nll([], [])
    with pytest.raises(ParameterError, match="threshold"):
        frame_accuracy(rolls, probs, threshold=0)
    with pytest.raises(ParameterError, match=r"notes have shape \(2, 2\)"):
        pitch_range([(60, 0), (62, 1)])
    with pytest.raises(ParameterError, match="MIDI integers"):
        pitch_range([(60.5, 0, 1)])
    with pytest.raises(ParameterError, match=">= 0"):
        polyphony([(60, -1, 1)])
    with pytest.raises(ParameterError, match="frames_per_quarter"):
        polyphony(rolls[0], frames_per_quarter=0)
    with pytest.raises(ParameterError, match="generated is empty"):
        compare_statistics([], [C_MAJOR])
    with pytest.raises(ParameterError, match="1-D of equal length"):
        histogram_overlap([1, 2], [1, 2, 3])
