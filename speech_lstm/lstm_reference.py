"""The LSTM cell written as the textbook equations, in NumPy, on a trained Keras layer's weights.

For input x_t and the previous hidden state h_{t-1} and cell state C_{t-1}, with
[h_{t-1}, x_t] the two vectors concatenated:

    f_t  = sigmoid(W_f · [h_{t-1}, x_t] + b_f)      forget gate: how much of C_{t-1} is kept
    i_t  = sigmoid(W_i · [h_{t-1}, x_t] + b_i)      input gate: how much of the candidate is written
    C~_t = tanh(W_c · [h_{t-1}, x_t] + b_c)         candidate values
    o_t  = sigmoid(W_o · [h_{t-1}, x_t] + b_o)      output gate: how much of the cell is shown
    C_t  = f_t * C_{t-1} + i_t * C~_t               cell state
    h_t  = o_t * tanh(C_t)                          hidden state (the layer's output)

How Keras stores the same weights (``keras.layers.LSTM``, and each direction of a
``keras.layers.Bidirectional``): ``kernel`` [input_dim, 4·units] multiplies x_t,
``recurrent_kernel`` [units, 4·units] multiplies h_{t-1}, ``bias`` [4·units]; the four column
blocks are the gates in the order **i, f, c, o**. So W_g = [recurrent_kernel[:, g]ᵀ | kernel[:, g]ᵀ]
([units, units + input_dim], the h part first, as in [h_{t-1}, x_t]) and b_g = bias[g], where g
is the g-th block of ``units`` columns. :meth:`LSTMWeights.from_keras` does exactly this, and
the tests check that :func:`run_lstm` reproduces the Keras layer's outputs.

A backward layer (``go_backwards``, the second half of a ``Bidirectional``) reads the sequence
from its last frame to its first; :func:`run_lstm` stores every quantity at the time index of
the frame it was computed on, which is how ``Bidirectional`` lines the two directions up.

This is for understanding and inspection (:mod:`speech_lstm.gates`), not for speed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from speech_lstm.errors import ParameterError

__all__ = ["GATE_ORDER_KERAS", "LSTMWeights", "LSTMStep", "lstm_step", "run_lstm", "run_bidirectional", "sigmoid"]

GATE_ORDER_KERAS = ("i", "f", "c", "o")  # column blocks of kernel, recurrent_kernel and bias


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@dataclasses.dataclass(frozen=True)
class LSTMWeights:
    """One LSTM's weights in the textbook form: W_g [units, units + input_dim] acting on
    [h_{t-1}, x_t], b_g [units], for the forget, input, candidate and output gates."""

    W_f: np.ndarray
    W_i: np.ndarray
    W_c: np.ndarray
    W_o: np.ndarray
    b_f: np.ndarray
    b_i: np.ndarray
    b_c: np.ndarray
    b_o: np.ndarray
    go_backwards: bool = False

    @property
    def units(self) -> int:
        return self.W_f.shape[0]

    @property
    def input_dim(self) -> int:
        return self.W_f.shape[1] - self.units

    @classmethod
    def from_keras(cls, layer) -> "LSTMWeights":
        """From a built ``keras.layers.LSTM`` (or subclass) with tanh / sigmoid activations."""
        import keras

        if not isinstance(layer, keras.layers.LSTM):
            raise ParameterError(f"expected a keras.layers.LSTM, got {type(layer).__name__} {layer.name!r}")
        cell = layer.cell
        if cell.activation is not keras.activations.tanh or cell.recurrent_activation is not keras.activations.sigmoid:
            raise ParameterError(f"LSTM {layer.name!r} does not use tanh / sigmoid; the textbook equations "
                                 "assume them")
        kernel = np.asarray(cell.kernel, np.float64)  # [input_dim, 4u]
        recurrent = np.asarray(cell.recurrent_kernel, np.float64)  # [u, 4u]
        units = recurrent.shape[0]
        bias = np.asarray(cell.bias, np.float64) if cell.use_bias else np.zeros(4 * units)
        blocks = {}
        for k, gate in enumerate(GATE_ORDER_KERAS):
            cols = slice(k * units, (k + 1) * units)
            blocks["W_" + gate] = np.concatenate([recurrent[:, cols].T, kernel[:, cols].T], axis=1)
            blocks["b_" + gate] = bias[cols]
        return cls(**blocks, go_backwards=bool(layer.go_backwards))


@dataclasses.dataclass(frozen=True)
class LSTMStep:
    """Everything one step computes (each [units])."""

    f: np.ndarray
    i: np.ndarray
    c_tilde: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray


def lstm_step(w: LSTMWeights, x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray) -> LSTMStep:
    """One step of the equations in this module's docstring. x_t [..., input_dim], h_prev and
    c_prev [..., units] (leading axes, such as a batch, are carried through)."""
    hx = np.concatenate([h_prev, x_t], axis=-1)  # [h_{t-1}, x_t]
    f = sigmoid(hx @ w.W_f.T + w.b_f)  # = W_f · [h_{t-1}, x_t] + b_f for each row
    i = sigmoid(hx @ w.W_i.T + w.b_i)
    c_tilde = np.tanh(hx @ w.W_c.T + w.b_c)
    o = sigmoid(hx @ w.W_o.T + w.b_o)
    c = f * c_prev + i * c_tilde
    h = o * np.tanh(c)
    return LSTMStep(f=f, i=i, c_tilde=c_tilde, o=o, c=c, h=h)


def run_lstm(w: LSTMWeights, x: np.ndarray, h0=None, c0=None) -> dict[str, np.ndarray]:
    """Run over ``x`` [T, input_dim] from zero (or the given) state.

    Returns {"f", "i", "c_tilde", "o", "c", "h"} each [T, units], row t computed on frame t
    (a backward LSTM visits the rows from T-1 down to 0).
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != w.input_dim:
        raise ParameterError(f"expected inputs [frames, {w.input_dim}], got {list(x.shape)}")
    h = np.zeros(w.units) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros(w.units) if c0 is None else np.asarray(c0, np.float64)
    out = {k: np.zeros((len(x), w.units)) for k in ("f", "i", "c_tilde", "o", "c", "h")}
    order = range(len(x) - 1, -1, -1) if w.go_backwards else range(len(x))
    for t in order:
        s = lstm_step(w, x[t], h, c)
        h, c = s.h, s.c
        for k in out:
            out[k][t] = getattr(s, k)
    return out


def run_bidirectional(layer, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Both directions of a ``keras.layers.Bidirectional`` over an LSTM on ``x`` [T, input_dim]:
    {"forward": run_lstm(...), "backward": run_lstm(...)}. With ``merge_mode="concat"`` the
    layer's output is concatenate([forward["h"], backward["h"]], axis=-1)."""
    return {"forward": run_lstm(LSTMWeights.from_keras(layer.forward_layer), x),
            "backward": run_lstm(LSTMWeights.from_keras(layer.backward_layer), x)}
