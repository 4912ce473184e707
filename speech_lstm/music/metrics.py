"""Evaluation of polyphonic piano-roll music models: frame NLL, frame accuracy, baselines, sample statistics.

Conventions (those of the JSB Chorales benchmark of Boulanger-Lewandowski et al. 2012, "Modeling
temporal dependencies in high-dimensional sequences", ICML):

* A **piano roll** is a numpy bool or 0/1 array ``[frames, 88]``; column ``k`` is MIDI pitch
  ``21 + k`` (A0..C8). A corpus is a list of rolls, one per piece (a 3-D array
  ``[pieces, frames, 88]`` is accepted too).
* Model outputs ``probs[i]`` have the same shape as ``rolls[i]``; ``probs[i][t, k]`` is the
  model's probability that key ``k`` is on in frame ``t`` *given frames 0..t-1 of that piece*.
  Row 0 has nothing to condition on and is **ignored** (never scored, may hold anything in
  [0, 1]); frames ``1..T-1`` are scored. A model that reads ``roll[:-1]`` and emits one output per
  input step produces ``out[:T-1]``; align it with ``probs = np.concatenate([any_row, out])``.

Every time is in quarter notes where a statistic needs musical time. Rolls carry no tempo, so
the sample statistics take ``frames_per_quarter`` (default 1: the JSB pickle is quantised to
quarter notes).

Pure numpy; nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from speech_lstm.errors import ParameterError

__all__ = [
    "NUM_KEYS",
    "LOWEST_PITCH",
    "PROB_CLIP",
    "STEPS_PER_QUARTER",
    "frame_nll",
    "frame_accuracy",
    "UnigramBaseline",
    "MarkovBaseline",
    "notes_from_roll",
    "pitch_class_histogram",
    "note_length_histogram",
    "pitch_class_entropy",
    "scale_consistency",
    "pitch_range",
    "polyphony",
    "empty_frame_rate",
    "note_density",
    "groove_consistency",
    "repetition_rate",
    "piece_statistics",
    "histogram_overlap",
    "compare_statistics",
    "format_report",
]

NUM_KEYS = 88
LOWEST_PITCH = 21  # MIDI pitch of key 0 (A0)
PROB_CLIP = 1e-7  # p is clipped to [PROB_CLIP, 1 - PROB_CLIP] before taking logs
STEPS_PER_QUARTER = 4  # sample statistics are computed on a 16th-note grid
BAR_QUARTERS = 4  # bars of 4/4
STEPS_PER_BAR = STEPS_PER_QUARTER * BAR_QUARTERS
MAX_LENGTH_STEPS = STEPS_PER_BAR  # note-length histogram: 16th .. whole note (longer ones capped)

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
_SCALES = np.array([[(pc - root) % 12 in steps for pc in range(12)]
                    for steps in (_MAJOR, _MINOR) for root in range(12)])  # [24, 12] bool


# --------------------------------------------------------------------------- validation


def _check_roll(roll, name: str) -> np.ndarray:
    """``roll`` as a bool array [frames, 88]; ParameterError unless it is 2-D, 88 wide and 0/1."""
    arr = np.asarray(roll)
    if arr.ndim != 2 or arr.shape[1] != NUM_KEYS:
        raise ParameterError(f"{name} has shape {arr.shape}, expected [frames, {NUM_KEYS}]")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise ParameterError(f"{name} must hold only 0/1 (or bool) values")
        arr = arr.astype(bool)
    return arr


def _check_probs(p, shape, name: str) -> np.ndarray:
    """``p`` as float64 of exactly ``shape``, finite and within [0, 1]."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != shape:
        raise ParameterError(f"{name} has shape {arr.shape}, expected {shape} (the shape of the roll)")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ParameterError(f"{name} must hold finite probabilities in [0, 1]")
    return arr


def _corpus(rolls, name: str = "rolls") -> list[np.ndarray]:
    """A non-empty list of validated rolls from a list of [frames, 88] arrays or a [pieces, frames, 88] array."""
    if isinstance(rolls, np.ndarray) and rolls.ndim != 3:
        raise ParameterError(f"{name} must be a list of [frames, {NUM_KEYS}] rolls or a "
                             f"[pieces, frames, {NUM_KEYS}] array, got an array of shape {rolls.shape}")
    rolls = list(rolls)
    if not rolls:
        raise ParameterError(f"{name} is empty")
    return [_check_roll(r, f"{name}[{i}]") for i, r in enumerate(rolls)]


def _pairs(rolls, probs):
    """Validated (roll [T, 88] bool, probs [T, 88] float64) pairs, one per piece."""
    rolls = _corpus(rolls)
    probs = list(probs)
    if len(probs) != len(rolls):
        raise ParameterError(f"probs has {len(probs)} pieces but rolls has {len(rolls)}")
    return [(r, _check_probs(p, r.shape, f"probs[{i}]")) for i, (r, p) in enumerate(zip(rolls, probs))]


# --------------------------------------------------------------------------- likelihood and accuracy


def frame_nll(rolls, probs) -> dict:
    """Negative log-likelihood in nats per frame, as in the JSB benchmark (Boulanger-Lewandowski 2012).

    rolls: list of [frames, 88] 0/1 rolls. probs: list of [frames, 88] probabilities, same
    shapes, ``probs[i][t]`` predicting ``rolls[i][t]`` from frames < t; row 0 of each piece is
    ignored. For every scored frame t >= 1 the loss is the sum over the 88 keys of the Bernoulli
    log-loss ``-[y log p + (1 - y) log(1 - p)]``, with p clipped to ``[1e-7, 1 - 1e-7]`` (so p = 0
    or 1 costs at most ``-log(1e-7)`` = 16.12 nats per key instead of infinity). The result is the
    mean over all scored frames of all pieces (frame-weighted: a long piece counts more than a
    short one). A one-frame piece contributes nothing.

    Returns ``{"nll": nats per frame, "frames": scored frames, "pieces": pieces}``. The published
    "log-likelihood" figures are ``-nll``.
    """
    total, frames = 0.0, 0
    pairs = _pairs(rolls, probs)
    for roll, p in pairs:
        y, q = roll[1:], np.clip(p[1:], PROB_CLIP, 1.0 - PROB_CLIP)
        total += float(-np.where(y, np.log(q), np.log1p(-q)).sum())
        frames += len(y)
    if frames == 0:
        raise ParameterError("no frame to score: every piece has fewer than 2 frames")
    return {"nll": total / frames, "frames": frames, "pieces": len(pairs)}


def frame_accuracy(rolls, probs, threshold: float = 0.5) -> float:
    """Frame-level accuracy TP / (TP + FP + FN) (Bay et al. 2009, as reported in the RNN-RBM paper).

    Same inputs and alignment as :func:`frame_nll` (row 0 of each piece ignored). A key is
    predicted on when ``p >= threshold``; TP, FP and FN are counted over all scored frames and
    keys of all pieces (true negatives do not enter). When there is nothing to count (no key on
    and none predicted on anywhere) the prediction has no error and the accuracy is 1.0.
    """
    if not 0.0 < threshold <= 1.0:
        raise ParameterError(f"threshold must be in (0, 1], got {threshold}")
    tp = fp = fn = 0
    pairs = _pairs(rolls, probs)
    if sum(len(r) - 1 for r, _ in pairs) <= 0:
        raise ParameterError("no frame to score: every piece has fewer than 2 frames")
    for roll, p in pairs:
        y, on = roll[1:], p[1:] >= threshold
        tp += int((y & on).sum())
        fp += int((~y & on).sum())
        fn += int((y & ~on).sum())
    denom = tp + fp + fn
    return 1.0 if denom == 0 else tp / denom


# --------------------------------------------------------------------------- baselines


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and alpha > 0 and math.isfinite(alpha)):
        raise ParameterError(f"alpha must be a positive number, got {alpha!r}")
    return float(alpha)


class UnigramBaseline:
    """Independent keys, no memory: each key on with a fixed probability.

    ``fit`` counts, over every frame of every training roll (frame 0 included), how often key k
    is on: ``p_k = (on_k + alpha) / (frames + 2 alpha)`` (add-alpha / Laplace smoothing, alpha = 1
    by default, so no key gets probability 0 or 1). ``predict`` repeats ``p`` on every row.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = _check_alpha(alpha)
        self.p_on: np.ndarray | None = None  # [88]

    def fit(self, rolls) -> "UnigramBaseline":
        """Estimate ``p_on`` [88] from a list of [frames, 88] rolls; returns self."""
        rolls = _corpus(rolls)
        on = sum(r.sum(axis=0) for r in rolls).astype(np.float64)
        frames = sum(len(r) for r in rolls)
        self.p_on = (on + self.alpha) / (frames + 2 * self.alpha)
        return self

    def predict(self, roll) -> np.ndarray:
        """Probabilities [frames, 88] for ``roll`` [frames, 88] (every row equal to ``p_on``)."""
        if self.p_on is None:
            raise ParameterError("UnigramBaseline.predict called before fit()")
        roll = _check_roll(roll, "roll")
        return np.tile(self.p_on, (len(roll), 1))


class MarkovBaseline:
    """Independent keys, each a first-order Markov chain over frames.

    ``fit`` counts, for each key k and each pair of consecutive frames (t-1, t) within a training
    piece, the transitions off->on and on->on, and smooths them add-alpha (alpha = 1 by default):
    ``p(on_t | off_{t-1}) = (n_off->on + alpha) / (n_off + 2 alpha)`` and
    ``p(on_t | on_{t-1}) = (n_on->on + alpha) / (n_on + 2 alpha)``, where ``n_off`` / ``n_on``
    count the frames t-1 (of all pairs) in which key k is off / on. ``predict(roll)`` gives row t
    (t >= 1) from ``roll[t-1]``; row 0, which is not scored, holds the smoothed marginal
    ``(on_k + alpha) / (frames + 2 alpha)`` over all training frames (the UnigramBaseline value).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = _check_alpha(alpha)
        self.p_on_after_off: np.ndarray | None = None  # [88]
        self.p_on_after_on: np.ndarray | None = None  # [88]
        self.p_initial: np.ndarray | None = None  # [88]

    def fit(self, rolls) -> "MarkovBaseline":
        """Estimate the two transition probabilities per key from [frames, 88] rolls; returns self."""
        rolls = _corpus(rolls)
        n_off = np.zeros(NUM_KEYS)
        n_on = np.zeros(NUM_KEYS)
        off_on = np.zeros(NUM_KEYS)
        on_on = np.zeros(NUM_KEYS)
        for r in rolls:
            prev, cur = r[:-1], r[1:]
            n_on += prev.sum(axis=0)
            n_off += (~prev).sum(axis=0)
            on_on += (prev & cur).sum(axis=0)
            off_on += (~prev & cur).sum(axis=0)
        a = self.alpha
        self.p_on_after_off = (off_on + a) / (n_off + 2 * a)
        self.p_on_after_on = (on_on + a) / (n_on + 2 * a)
        self.p_initial = UnigramBaseline(a).fit(rolls).p_on
        return self

    def predict(self, roll) -> np.ndarray:
        """Probabilities [frames, 88]: row t >= 1 conditioned on ``roll[t-1]``, row 0 the marginal."""
        if self.p_on_after_on is None:
            raise ParameterError("MarkovBaseline.predict called before fit()")
        roll = _check_roll(roll, "roll")
        out = np.empty(roll.shape, dtype=np.float64)
        if len(roll):
            out[0] = self.p_initial
            out[1:] = np.where(roll[:-1], self.p_on_after_on, self.p_on_after_off)
        return out


# --------------------------------------------------------------------------- sample statistics


def notes_from_roll(roll, frames_per_quarter: float = 1) -> np.ndarray:
    """Notes [n, 3] = (MIDI pitch, onset, duration), times in quarters, from a [frames, 88] roll.

    Each run of consecutive on frames of a key is one note (a roll cannot tell a held note from
    repeated ones, so repeated notes merge). Sorted by onset, then pitch.
    """
    roll = _check_roll(roll, "roll")
    fpq = _check_fpq(frames_per_quarter)
    padded = np.zeros((len(roll) + 2, NUM_KEYS), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0)  # +1 at onset frame, -1 at the frame after the end
    on_t, on_k = np.nonzero(edges == 1)
    off_t, off_k = np.nonzero(edges == -1)
    # np.nonzero is row-major; reorder both by (key, time) so runs pair up
    a, b = np.lexsort((on_t, on_k)), np.lexsort((off_t, off_k))
    on_t, on_k, off_t = on_t[a], on_k[a], off_t[b]
    notes = np.stack([on_k + LOWEST_PITCH, on_t / fpq, (off_t - on_t) / fpq], axis=1).astype(np.float64)
    return notes[np.lexsort((notes[:, 0], notes[:, 1]))] if len(notes) else notes.reshape(0, 3)


def _check_fpq(fpq) -> float:
    if not (isinstance(fpq, (int, float)) and fpq > 0 and math.isfinite(fpq)):
        raise ParameterError(f"frames_per_quarter must be a positive number, got {fpq!r}")
    return float(fpq)


def _notes_and_length(piece, frames_per_quarter) -> tuple[np.ndarray, float]:
    """(notes [n, 3] float64, length in quarters) of a roll or a list of (pitch, onset, duration) notes.

    A 2-D array 88 wide is a roll (length = frames / frames_per_quarter, trailing silence
    included); anything else is a note list (length = the last note end, 0 when there is none).
    """
    if isinstance(piece, np.ndarray) and piece.ndim == 2 and piece.shape[1] == NUM_KEYS:
        return notes_from_roll(piece, frames_per_quarter), len(piece) / _check_fpq(frames_per_quarter)
    try:
        notes = np.asarray(piece, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("a piece must be a [frames, 88] roll or a list of "
                             "(pitch, onset_quarters, duration_quarters) notes") from None
    if notes.size == 0:
        return notes.reshape(0, 3), 0.0
    if notes.ndim != 2 or notes.shape[1] != 3:
        raise ParameterError(f"notes have shape {notes.shape}, expected [notes, 3] = "
                             "(pitch, onset_quarters, duration_quarters) (or a [frames, 88] roll)")
    if not np.isfinite(notes).all():
        raise ParameterError("notes must be finite")
    pitch, onset, dur = notes.T
    if (pitch != np.round(pitch)).any() or (pitch < 0).any() or (pitch > 127).any():
        raise ParameterError("note pitches must be MIDI integers 0..127")
    if (onset < 0).any() or (dur < 0).any():
        raise ParameterError("note onsets and durations must be >= 0 quarters")
    return notes, float((onset + dur).max())


def _grid(notes: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """(sounding [steps, 128] bool, onsets [steps, 128] bool) on a 16th-note grid.

    Onsets and ends are rounded to the nearest 16th; every note sounds for at least one step.
    Steps cover ``ceil(length * 4)`` (or the last note end if later).
    """
    start = np.round(notes[:, 1] * STEPS_PER_QUARTER).astype(int)
    end = np.maximum(start + 1, np.round((notes[:, 1] + notes[:, 2]) * STEPS_PER_QUARTER).astype(int))
    steps = max(int(math.ceil(length * STEPS_PER_QUARTER - 1e-9)), int(end.max()) if len(end) else 0)
    sounding = np.zeros((steps, 128), dtype=bool)
    onsets = np.zeros((steps, 128), dtype=bool)
    for p, s, e in zip(notes[:, 0].astype(int), start, end):
        sounding[s:e, p] = True
        onsets[s, p] = True
    return sounding, onsets


def pitch_class_histogram(piece, frames_per_quarter: float = 1) -> np.ndarray:
    """Counts [12] of notes per pitch class (C = 0), each note once whatever its length."""
    notes, _ = _notes_and_length(piece, frames_per_quarter)
    return np.bincount(notes[:, 0].astype(int) % 12, minlength=12).astype(np.float64)


def note_length_histogram(piece, frames_per_quarter: float = 1) -> np.ndarray:
    """Counts [16] of note durations in 16ths: bin i holds notes of i+1 sixteenths.

    Durations are rounded to the nearest 16th (at least one) and capped at 4 quarters (bin 15
    also holds every longer note).
    """
    notes, _ = _notes_and_length(piece, frames_per_quarter)
    sixteenths = np.clip(np.round(notes[:, 2] * STEPS_PER_QUARTER).astype(int), 1, MAX_LENGTH_STEPS)
    return np.bincount(sixteenths - 1, minlength=MAX_LENGTH_STEPS).astype(np.float64)


def pitch_class_entropy(piece, frames_per_quarter: float = 1) -> float:
    """Shannon entropy in bits of the normalised pitch-class histogram (MusPy ``pitch_class_entropy``).

    0 for one pitch class, log2(12) = 3.585 for all twelve equally often; nan without notes.
    """
    h = pitch_class_histogram(piece, frames_per_quarter)
    if h.sum() == 0:
        return float("nan")
    p = h[h > 0] / h.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def scale_consistency(piece, frames_per_quarter: float = 1) -> float:
    """Largest fraction of notes inside one of the 24 major / natural-minor scales (MusPy ``scale_consistency``).

    Notes counted once each; nan without notes.
    """
    h = pitch_class_histogram(piece, frames_per_quarter)
    if h.sum() == 0:
        return float("nan")
    return float((_SCALES @ h).max() / h.sum())


def pitch_range(piece, frames_per_quarter: float = 1) -> float:
    """Highest minus lowest MIDI pitch, in semitones (MusPy ``pitch_range``); nan without notes."""
    notes, _ = _notes_and_length(piece, frames_per_quarter)
    if not len(notes):
        return float("nan")
    return float(notes[:, 0].max() - notes[:, 0].min())


def polyphony(piece, frames_per_quarter: float = 1) -> float:
    """Mean number of sounding pitches over the 16th-note steps where at least one sounds (MusPy ``polyphony``).

    nan when nothing sounds.
    """
    sounding, _ = _grid(*_notes_and_length(piece, frames_per_quarter))
    counts = sounding.sum(axis=1)
    counts = counts[counts > 0]
    return float(counts.mean()) if len(counts) else float("nan")


def empty_frame_rate(piece, frames_per_quarter: float = 1) -> float:
    """Fraction of 16th-note steps with nothing sounding.

    The frame-level analogue of MusPy ``empty_beat_rate`` and of the empty-bar rate "EB" of Dong
    et al. 2018 (MuseGAN). A roll's trailing silence counts; a note list ends at its last note.
    On a roll this equals the fraction of empty frames. nan for a zero-length piece.
    """
    sounding, _ = _grid(*_notes_and_length(piece, frames_per_quarter))
    if not len(sounding):
        return float("nan")
    return float((~sounding.any(axis=1)).mean())


def note_density(piece, frames_per_quarter: float = 1) -> float:
    """Note onsets per quarter note: number of notes / piece length in quarters; nan for zero length."""
    notes, length = _notes_and_length(piece, frames_per_quarter)
    return len(notes) / length if length > 0 else float("nan")


def _bars(onsets: np.ndarray) -> np.ndarray:
    """Onsets [steps, 128] as bars [bars, 16, 128] of 4 quarters, the last bar padded with silence."""
    bars = -(-len(onsets) // STEPS_PER_BAR)
    padded = np.zeros((bars * STEPS_PER_BAR, onsets.shape[1]), dtype=bool)
    padded[: len(onsets)] = onsets
    return padded.reshape(bars, STEPS_PER_BAR, onsets.shape[1])


def groove_consistency(piece, frames_per_quarter: float = 1) -> float:
    """1 - mean Hamming distance / 16 between the onset patterns of consecutive bars (MusPy ``groove_consistency``).

    A bar is 4 quarters = 16 sixteenth steps; its onset pattern marks the steps where any note
    starts. 1.0 when every bar has the same rhythm; nan with fewer than 2 bars.
    """
    _, onsets = _grid(*_notes_and_length(piece, frames_per_quarter))
    patterns = _bars(onsets).any(axis=2)  # [bars, 16]
    if len(patterns) < 2:
        return float("nan")
    return float(1.0 - (patterns[1:] != patterns[:-1]).mean())


def repetition_rate(piece, frames_per_quarter: float = 1) -> float:
    """Fraction of non-empty bars whose onset+pitch pattern already occurred earlier in the piece.

    A bar (4 quarters) pattern is the set of (16th step within the bar, pitch) note onsets; bars
    without onsets are skipped. The first occurrence of a pattern does not count as a repetition,
    so a bar played 4 times gives 3/4. (Our definition: an exact 1-bar self-repetition rate in
    the spirit of the self-similarity measures of Yang & Lerch 2018; not a MusPy metric.) nan
    without non-empty bars.
    """
    _, onsets = _grid(*_notes_and_length(piece, frames_per_quarter))
    seen, repeated, counted = set(), 0, 0
    for bar in _bars(onsets):
        if not bar.any():
            continue
        key = np.packbits(bar).tobytes()
        counted += 1
        repeated += key in seen
        seen.add(key)
    return repeated / counted if counted else float("nan")


_STATISTICS = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "pitch_range": pitch_range,
    "polyphony": polyphony,
    "empty_frame_rate": empty_frame_rate,
    "note_density": note_density,
    "groove_consistency": groove_consistency,
    "repetition_rate": repetition_rate,
}


def piece_statistics(piece, frames_per_quarter: float = 1) -> dict:
    """Every scalar statistic of one piece (roll or note list): ``{name: value}`` (nan where undefined)."""
    return {name: fn(piece, frames_per_quarter) for name, fn in _STATISTICS.items()}


def histogram_overlap(a, b) -> float:
    """Overlap area sum(min(a / sum a, b / sum b)) of two histograms: 1 identical, 0 disjoint; nan if one is empty."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ParameterError(f"histograms must be 1-D of equal length, got {a.shape} and {b.shape}")
    if a.sum() <= 0 or b.sum() <= 0:
        return float("nan")
    return float(np.minimum(a / a.sum(), b / b.sum()).sum())


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std()), len(v)


def compare_statistics(generated, real, frames_per_quarter: float = 1) -> dict:
    """Sample statistics of generated pieces against real ones.

    generated, real: non-empty lists of pieces, each a [frames, 88] roll (``frames_per_quarter``
    frames per quarter note) or a list of (pitch, onset_quarters, duration_quarters) notes.

    For each scalar statistic of :func:`piece_statistics`: ``{"generated_mean", "generated_std",
    "real_mean", "real_std", "generated_n", "real_n"}`` over the pieces where it is defined
    (population std; ``*_n`` = pieces counted). For ``"pitch_class_histogram"`` and
    ``"note_length_histogram"``: ``{"overlap", "generated", "real"}``, the histograms pooled over
    all notes of each set, normalised to sum 1 (as lists), and their overlap area.
    """
    sets = {"generated": list(generated), "real": list(real)}
    for name, pieces in sets.items():
        if not pieces:
            raise ParameterError(f"{name} is empty: need at least one piece")
    per_piece = {name: [piece_statistics(p, frames_per_quarter) for p in pieces] for name, pieces in sets.items()}
    out = {}
    for stat in _STATISTICS:
        row = {}
        for name, rows in per_piece.items():
            mean, std, n = _mean_std([r[stat] for r in rows])
            row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_n"] = mean, std, n
        out[stat] = {k: row[k] for k in ("generated_mean", "generated_std", "real_mean", "real_std",
                                         "generated_n", "real_n")}
    for hist_name, fn in (("pitch_class_histogram", pitch_class_histogram),
                          ("note_length_histogram", note_length_histogram)):
        pooled = {name: sum(fn(p, frames_per_quarter) for p in pieces) for name, pieces in sets.items()}
        norm = {name: (h / h.sum() if h.sum() > 0 else h) for name, h in pooled.items()}
        out[hist_name] = {"overlap": histogram_overlap(pooled["generated"], pooled["real"]),
                          "generated": norm["generated"].tolist(), "real": norm["real"].tolist()}
    return out


# --------------------------------------------------------------------------- report


def _cell(value, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{float(value):.{digits}g}"
    return str(value).replace("|", "\\|")


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, np.integer, np.floating, np.bool_))


def format_report(results: Mapping, digits: int = 4) -> str:
    """A Markdown table of ``results`` for a README or RESULTS.md.

    ``results`` is either ``{row: {column: value}}`` (e.g. ``{"Markov": frame_nll(...) | {...}}``
    or the output of :func:`compare_statistics`), giving one row per key and one column per inner
    key (in first-seen order; missing cells blank), or a flat ``{name: value}`` (e.g. one
    :func:`frame_nll` result), giving a two-column metric | value table. Non-scalar cells (lists,
    arrays) are left out. Floats are printed with ``digits`` significant digits.
    """
    if not isinstance(results, Mapping) or not results:
        raise ParameterError("results must be a non-empty dict")
    if all(isinstance(v, Mapping) for v in results.values()):
        columns: list = []
        for row in results.values():
            columns += [c for c, v in row.items() if c not in columns and _scalar(v)]
        lines = ["| | " + " | ".join(str(c) for c in columns) + " |",
                 "|---|" + "---:|" * len(columns)]
        for name, row in results.items():
            lines.append(f"| {_cell(name, digits)} | "
                         + " | ".join(_cell(row.get(c), digits) for c in columns) + " |")
        return "\n".join(lines) + "\n"
    lines = ["| metric | value |", "|---|---:|"]
    lines += [f"| {_cell(k, digits)} | {_cell(v, digits)} |" for k, v in results.items() if _scalar(v)]
    return "\n".join(lines) + "\n"
