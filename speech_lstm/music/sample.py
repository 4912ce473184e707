"""Generate piano rolls from a trained music LSTM: a primer, then frame by frame sampling.

``kind="roll"`` models give 88 independent key probabilities per frame; ``kind="pitch"`` and
``"nade"`` models are sampled key by key inside each frame, so the keys of a frame are drawn
jointly. ``kind="token"`` models write 16th-note voice token streams (:func:`sample_tokens`).
Sampling steps the LSTMs one frame (and one key) at a time with their trained weights in numpy
(:mod:`speech_lstm.lstm_reference`), instead of re-running the model over the whole piece per step.
Temperature divides the logits; ``max_notes`` keeps the most likely keys of a frame when an
independent draw turns on too many (chorales have 4 voices).
"""

from __future__ import annotations

import numpy as np

from speech_lstm.errors import ParameterError
from speech_lstm.lstm_reference import LSTMWeights, lstm_step, sigmoid
from speech_lstm.music.model import KEYS

__all__ = ["filter_distribution", "primer_tokens", "sample_roll", "sample_tokens", "soprano_tokens"]


class _Cell:
    """A Keras LSTM layer stepped in numpy with the textbook equations (:mod:`speech_lstm.lstm_reference`)."""

    def __init__(self, layer):
        self.weights = LSTMWeights.from_keras(layer)
        self.units = self.weights.units

    def zero(self, batch=1):
        return np.zeros((batch, self.units)), np.zeros((batch, self.units))

    def step(self, x, state):
        s = lstm_step(self.weights, x, *state)
        return s.h, (s.h, s.c)


def _dense(layer, x, activation=None):
    w, b = (np.asarray(v) for v in layer.get_weights())
    y = x @ w + b
    return np.tanh(y) if activation == "tanh" else y


def sample_roll(model, primer: np.ndarray, frames: int, temperature: float = 1.0, seed: int = 0,
                max_notes: int | None = 4) -> np.ndarray:
    """Continue ``primer`` (bool [p, 88], p >= 1) by ``frames`` frames: bool [p + frames, 88]."""
    primer = np.asarray(primer, bool)
    if primer.ndim != 2 or primer.shape[1] != KEYS or len(primer) < 1:
        raise ParameterError(f"primer must be a [frames >= 1, {KEYS}] roll, got shape {primer.shape}")
    if frames < 1 or not temperature > 0:
        raise ParameterError(f"need frames >= 1 and temperature > 0, got {frames}, {temperature}")
    rng = np.random.default_rng(seed)
    cells = [_Cell(layer) for layer in model.layers if layer.name.startswith("lstm_")]
    states = [c.zero() for c in cells]
    joint = len(model.inputs) == 2
    roll = [row.astype(np.float32) for row in primer]
    for t in range(len(primer) - 1 + frames):
        h = roll[t][None]
        for i, cell in enumerate(cells):
            h, states[i] = cell.step(h, states[i])
        if t < len(primer) - 1:
            continue  # still reading the primer
        if joint:
            frame, _ = sample_frame_jointly(model, h, roll[t], temperature, rng)
        else:
            p = sigmoid(_dense(model.get_layer("keys"), h)[0] / temperature)
            frame = rng.random(KEYS) < p
            if max_notes is not None and frame.sum() > max_notes:
                frame = np.isin(np.arange(KEYS), np.argsort(-(p * frame))[:max_notes])
        roll.append(frame.astype(np.float32))
    return np.asarray(roll) > 0.5


def sample_frame_jointly(model, h, previous, temperature=1.0, rng=None, forced=None):
    """One frame from a pitch or NADE model: key k drawn given the keys below it already drawn.

    h: the time LSTM's output [1, units] after the previous frame; previous: that frame [88].
    ``forced``: a frame [88] to replay instead of drawing (to read off its probabilities).
    Returns (frame bool [88], the probability each key had of being on [88])."""
    if "nade" in [layer.name for layer in model.layers]:
        w, v = (np.asarray(x) for x in model.get_layer("nade").get_weights())
        a = _dense(model.get_layer("hidden_bias"), h)[0]
        bias = _dense(model.get_layer("keys"), h)[0]
        frame, probs = np.zeros(KEYS, bool), np.zeros(KEYS)
        for k in range(KEYS):
            probs[k] = sigmoid((bias[k] + sigmoid(a) @ v[k]) / temperature)
            frame[k] = forced[k] if forced is not None else rng.random() < probs[k]
            if frame[k]:
                a = a + w[k]
        return frame, probs
    layer = model.get_layer("pitch_lstm")
    context = _dense(model.get_layer("context"), h, "tanh")[0]
    bias = _dense(model.get_layer("keys"), h)[0]
    cell = _Cell(layer.lstm)
    embed = np.asarray(layer.keys.get_weights()[0])
    w = layer.window
    padded = np.pad(previous, (w, w))
    state = cell.zero()
    frame, probs = np.zeros(KEYS, bool), np.zeros(KEYS)
    for k in range(KEYS):
        x = np.concatenate([context, [frame[k - 1] if k else 0.0], padded[k: k + 2 * w + 1], embed[k]])
        out, state = cell.step(x.astype(np.float32)[None], state)
        probs[k] = sigmoid((_dense(layer.out, out)[0, 0] + bias[k]) / temperature)
        frame[k] = forced[k] if forced is not None else rng.random() < probs[k]
    return frame, probs


def filter_distribution(probs: np.ndarray, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Keep the ``top_k`` most likely entries and/or the smallest set whose mass reaches
    ``top_p`` (nucleus sampling), renormalised. The most likely entry always survives."""
    probs = np.asarray(probs, np.float64)
    if top_k is not None and top_k < 1 or top_p is not None and not 0 < top_p <= 1:
        raise ParameterError(f"need top_k >= 1 and 0 < top_p <= 1, got {top_k}, {top_p}")
    keep = probs > 0
    order = np.argsort(-probs, kind="stable")
    if top_k is not None:
        keep[order[top_k:]] = False
    if top_p is not None:
        mass = np.cumsum(probs[order]) / probs.sum()
        cut = int(np.searchsorted(mass, top_p - 1e-12)) + 1  # entries needed to reach top_p
        keep[order[cut:]] = False
    keep[order[0]] = True
    out = np.where(keep, probs, 0.0)
    return out / out.sum()


def sample_tokens(model, primer, steps: int, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, seed: int = 0, soprano=None) -> list[int]:
    """Continue a token stream by ``steps`` 16th-note steps with a ``token`` model.

    ``primer``: token ids starting with BOS, ending at a step boundary (``1 + s*(V+1)``
    tokens, as :func:`primer_tokens` makes). The grammar of the stream is enforced: STEP where
    a step starts, then one voice token per voice (HOLD only while the voice sounds); the model
    chooses among the allowed tokens, with temperature, top-k and top-p. ``soprano``: voice-0
    tokens, one per generated step (:func:`soprano_tokens`), forced instead of sampled, so the
    model harmonises a given melody (each step's soprano comes before the lower voices, which
    are drawn knowing it). Returns the whole stream, primer included, ending with EOS."""
    from speech_lstm.music.corpus import TokenVocabulary

    vocab = TokenVocabulary()
    V = vocab.num_voices
    primer = [int(t) for t in primer]
    if not primer or primer[0] != vocab.BOS or (len(primer) - 1) % (V + 1):
        raise ParameterError(f"primer must start with BOS and end at a step boundary (1 + k*{V + 1} tokens), "
                             f"got {len(primer)} tokens")
    if steps < 1 or not temperature > 0:
        raise ParameterError(f"need steps >= 1 and temperature > 0, got {steps}, {temperature}")
    if soprano is not None and len(soprano) < steps:
        raise ParameterError(f"soprano has {len(soprano)} steps, fewer than the {steps} to generate")
    rng = np.random.default_rng(seed)
    embed = np.asarray(model.get_layer("embed").get_weights()[0])
    cells = [_Cell(layer) for layer in model.layers if layer.name.startswith("lstm_")]
    states = [c.zero() for c in cells]
    out_layer = model.get_layer("logits")
    sounding = [False] * V
    for v in range(V):  # which voices sound at the end of the primer
        last = primer[len(primer) - V + v] if len(primer) > 1 else vocab.REST
        sounding[v] = last != vocab.REST

    def advance(token):
        h = embed[token][None]
        for i, cell in enumerate(cells):
            h, states[i] = cell.step(h, states[i])
        return h

    for t in primer[:-1]:
        advance(t)
    tokens, last = list(primer), primer[-1]
    for s in range(steps):
        for slot in range(V + 1):
            h = advance(last)
            if slot == 0:
                last = vocab.STEP
            elif slot == 1 and soprano is not None:
                last = int(soprano[s])
            else:
                logits = _dense(out_layer, h)[0] / temperature
                allowed = np.zeros(vocab.size, bool)
                allowed[vocab.NOTE_OFFSET:] = True
                allowed[vocab.REST] = True
                allowed[vocab.HOLD] = sounding[slot - 1]
                z = np.where(allowed, logits, -np.inf)
                p = np.exp(z - z.max())
                last = int(rng.choice(vocab.size, p=filter_distribution(p / p.sum(), top_k, top_p)))
            if slot:
                sounding[slot - 1] = last != vocab.REST
            tokens.append(last)
    return tokens + [vocab.EOS]


def primer_tokens(tokens, quarters: int) -> list[int]:
    """The first ``quarters`` quarter notes of a token stream (BOS included), as a primer."""
    from speech_lstm.music.corpus import TokenVocabulary

    vocab = TokenVocabulary()
    n = 1 + quarters * vocab.steps_per_quarter * (vocab.num_voices + 1)
    return [int(t) for t in tokens[:n]]


def soprano_tokens(notes, steps: int | None = None) -> list[int]:
    """Voice-0 tokens (NOTE/HOLD/REST per 16th step) of a melody given as (pitch, onset,
    duration) notes in quarters, or as (voice, pitch, onset, duration) notes whose voice 0 is
    taken; padded with REST (or cut) to ``steps`` when given."""
    from speech_lstm.music.corpus import TokenVocabulary, encode_tokens

    vocab = TokenVocabulary()
    notes = [n if len(n) == 4 else (0, *n) for n in notes]
    melody = [n for n in notes if n[0] == 0]
    if not melody:
        raise ParameterError("the soprano line has no notes")
    stream = encode_tokens(melody, vocab)
    grid = np.asarray(stream[1:-1]).reshape(-1, vocab.num_voices + 1)[:, 1].tolist()
    if steps is not None:
        grid = (grid + [vocab.REST] * steps)[:steps]
    return grid
