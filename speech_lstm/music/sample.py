"""Generate piano rolls from a trained music LSTM: a primer, then frame by frame sampling.

``kind="roll"`` models give 88 independent key probabilities per frame; ``kind="pitch"``
models are sampled key by key inside each frame, so the keys of a frame are drawn jointly.
Sampling steps the LSTMs one frame (and one key) at a time with their trained weights in numpy
(Keras gate order i, f, c, o), instead of re-running the model over the whole piece per step.
Temperature divides the logits; ``max_notes`` keeps the most likely keys of a frame when an
independent draw turns on too many (chorales have 4 voices).
"""

from __future__ import annotations

import numpy as np

from speech_lstm.errors import ParameterError
from speech_lstm.music.model import KEYS

__all__ = ["sample_roll"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class _Cell:
    """A Keras LSTM layer's weights, stepped in numpy."""

    def __init__(self, layer):
        kernel, recurrent, bias = (np.asarray(w) for w in layer.get_weights())
        self.kernel, self.recurrent, self.bias = kernel, recurrent, bias
        self.units = recurrent.shape[0]

    def zero(self, batch=1):
        return np.zeros((batch, self.units), np.float32), np.zeros((batch, self.units), np.float32)

    def step(self, x, state):
        h, c = state
        z = x @ self.kernel + h @ self.recurrent + self.bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        return h, (h, c)


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
            p = _sigmoid(_dense(model.get_layer("keys"), h)[0] / temperature)
            frame = rng.random(KEYS) < p
            if max_notes is not None and frame.sum() > max_notes:
                frame = np.isin(np.arange(KEYS), np.argsort(-(p * frame))[:max_notes])
        roll.append(frame.astype(np.float32))
    return np.asarray(roll) > 0.5


def sample_frame_jointly(model, h, previous, temperature=1.0, rng=None, forced=None):
    """One frame from a pitch model: key k drawn given the keys below it already drawn.

    h: the time LSTM's output [1, units] after the previous frame; previous: that frame [88].
    ``forced``: a frame [88] to replay instead of drawing (to read off its probabilities).
    Returns (frame bool [88], the probability each key had of being on [88])."""
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
        probs[k] = _sigmoid((_dense(layer.out, out)[0, 0] + bias[k]) / temperature)
        frame[k] = forced[k] if forced is not None else rng.random() < probs[k]
    return frame, probs
