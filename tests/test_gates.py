"""The textbook LSTM equations reproduce Keras's layers, and the gate inspector's CLI writes
readable figures and arrays for a trained recognizer and a trained music model."""

import dataclasses
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.lstm_reference import LSTMWeights, lstm_step, run_bidirectional, run_lstm


def _randomize(layer, seed):
    """Weights unlike any initializer's (so a mixed-up gate order cannot pass by symmetry)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32) for w in layer.get_weights()])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_reference_cell_reproduces_a_keras_lstm(go_backwards):
    x = np.random.default_rng(0).normal(size=(1, 23, 5)).astype(np.float32)
    layer = keras.layers.LSTM(7, return_sequences=True, go_backwards=go_backwards)
    layer(x)
    _randomize(layer, 1)
    keras_out = np.asarray(layer(x))[0]
    ours = run_lstm(LSTMWeights.from_keras(layer), x[0])
    # Keras returns a backward layer's outputs in the order it computed them (last frame first)
    expected = keras_out[::-1] if go_backwards else keras_out
    np.testing.assert_allclose(ours["h"], expected, atol=1e-5)
    assert ours["f"].shape == (23, 7) and 0 < ours["f"].min() and ours["f"].max() < 1
    np.testing.assert_allclose(ours["c"][1:], ours["f"][1:] * ours["c"][:-1] + ours["i"][1:] * ours["c_tilde"][1:],
                               atol=1e-12) if not go_backwards else None


def test_one_step_by_hand():
    """A one-unit LSTM whose gates are worked out on paper from W·[h, x] + b."""
    layer = keras.layers.LSTM(1)
    layer(np.zeros((1, 1, 1), np.float32))
    # Keras blocks i, f, c, o: kernel (x) [1, 4], recurrent (h) [1, 4], bias [4]
    layer.set_weights([np.array([[0.5, -1.0, 2.0, 1.0]], np.float32), np.array([[1.0, 0.5, -0.5, 0.0]], np.float32),
                       np.array([0.0, 1.0, 0.0, -1.0], np.float32)])
    w = LSTMWeights.from_keras(layer)
    np.testing.assert_allclose(w.W_f, [[0.5, -1.0]])  # [h part, x part]
    np.testing.assert_allclose(w.W_c, [[-0.5, 2.0]])
    s = lstm_step(w, np.array([2.0]), np.array([1.0]), np.array([0.5]))

    def sig(z):
        return 1 / (1 + np.exp(-z))

    f, i, ct, o = sig(0.5 - 2.0 + 1.0), sig(1.0 + 1.0), np.tanh(-0.5 + 4.0), sig(0.0 + 2.0 - 1.0)
    np.testing.assert_allclose([s.f[0], s.i[0], s.c_tilde[0], s.o[0]], [f, i, ct, o])
    np.testing.assert_allclose(s.c[0], f * 0.5 + i * ct)
    np.testing.assert_allclose(s.h[0], o * np.tanh(f * 0.5 + i * ct))


def test_reference_reproduces_a_keras_bidirectional_layer():
    x = np.random.default_rng(2).normal(size=(1, 17, 4)).astype(np.float32)
    layer = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))
    layer(x)
    _randomize(layer, 3)
    both = run_bidirectional(layer, x[0])
    np.testing.assert_allclose(np.concatenate([both["forward"]["h"], both["backward"]["h"]], -1),
                               np.asarray(layer(x))[0], atol=1e-5)


def test_reference_refuses_other_layers_and_shapes():
    with pytest.raises(ParameterError, match="LSTM"):
        LSTMWeights.from_keras(keras.layers.GRU(3))
    layer = keras.layers.LSTM(3)
    layer(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ParameterError, match=r"\[frames, 4\]"):
        run_lstm(LSTMWeights.from_keras(layer), np.zeros((5, 3)))


def _cli(*args, subprocess_run=False, capsys=None):
    """The command line: as a real process, or in this one (same code, no TensorFlow start-up)."""
    if subprocess_run:
        return subprocess.run([sys.executable, "-m", "speech_lstm", *map(str, args)], capture_output=True, text=True)
    from speech_lstm.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.mark.slow
def test_gates_of_a_trained_recognizer(digits_corpus, speech_wav, tmp_path, capsys):
    from test_training import tiny_config

    from speech_lstm.training import train

    run_dir = tmp_path / "run"
    config = tiny_config(digits_corpus, run_dir)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, lstm_layers=2),
                                 train=dataclasses.replace(config.train, epochs=2))
    train(config, run_dir, progress=False)
    for layer in (0, 1):
        r = _cli("gates", run_dir, speech_wav, "--layer", layer, "--direction", "backward", "--top", 8,
                 "--out", tmp_path / f"gates{layer}.png", subprocess_run=layer == 1, capsys=capsys)
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout.strip().splitlines()[-1])
        assert info["reference_max_abs_diff"] < 1e-5 and info["directions"] == ["forward", "backward"]
        assert (tmp_path / f"gates{layer}.png").stat().st_size > 20000
    r = _cli("gates", run_dir, speech_wav, "--out", tmp_path / "g.npz", capsys=capsys)
    assert r.returncode == 0, r.stderr
    arrays = np.load(tmp_path / "g.npz")
    steps = json.loads(r.stdout.strip().splitlines()[-1])["steps"]
    assert arrays["forward_f"].shape == arrays["backward_c"].shape == (steps, 16)
    assert arrays["inputs"].shape[0] in (2 * steps - 1, 2 * steps)  # subsampled by 2
    bad = _cli("gates", run_dir, speech_wav, "--layer", 2, "--out", tmp_path / "x.png", capsys=capsys)
    assert bad.returncode == 2 and "--layer 2" in bad.stderr and "0..1" in bad.stderr
    bad = _cli("gates", run_dir, speech_wav, "--units", "1,x", "--out", tmp_path / "x.png", capsys=capsys)
    assert bad.returncode == 2 and "--units" in bad.stderr


def test_gates_of_a_trained_music_model(tmp_path, capsys):
    from music21 import corpus
    from test_music_model import _pieces

    from speech_lstm.music.corpus import parse_score_file, piano_roll, score_to_chorale
    from speech_lstm.music.model import MusicModelConfig, train_music_model

    pieces = _pieces(6)
    train_music_model(pieces, pieces[:2], MusicModelConfig(units=8, layers=2, epochs=1, batch_size=4), tmp_path / "run",
                      progress=False)
    chorale = str(corpus.getComposer("bach")[0])  # a real chorale from the music21 wheel
    r = _cli("gates", tmp_path / "run", chorale, "--layer", 1, "--out", tmp_path / "gates.png", capsys=capsys)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["reference_max_abs_diff"] < 1e-5 and info["directions"] == ["forward"]
    frames = len(piano_roll(score_to_chorale(parse_score_file(chorale), "c")))
    assert info["steps"] == frames and (tmp_path / "gates.png").stat().st_size > 20000
    bad = _cli("gates", tmp_path / "run", chorale, "--direction", "backward", "--out", tmp_path / "x.png", capsys=capsys)
    assert bad.returncode == 2 and "forward" in bad.stderr
    bad = _cli("gates", tmp_path / "run", tmp_path / "gates.png", "--out", tmp_path / "x.png", capsys=capsys)
    assert bad.returncode == 2 and "gates.png" in bad.stderr and "score" in bad.stderr


def test_units_ranked_by_variance_or_by_change():
    from speech_lstm.gates import GateTrace, select_units

    t = np.arange(50.0)
    cell = np.stack([t / 5, np.sin(t) * 2, np.zeros(50), np.sin(t) * 0.5], axis=1)  # a counter, reacting units, a dead one
    trace = GateTrace(kind="music", source="x", layer="lstm_0", inputs=np.zeros((50, 88)), input_name="piano roll",
                      input_fps=1.0, step_fps=1.0, directions={"forward": {"c": cell}}, labels=[], text="",
                      max_abs_diff=0.0)
    assert list(select_units(trace, top=2)) == [0, 1]
    assert list(select_units(trace, top=2, sort="change")) == [1, 3]
    assert list(select_units(trace, units=[2, 0])) == [2, 0]
    with pytest.raises(ParameterError, match="0..3"):
        select_units(trace, units=[4])
    with pytest.raises(ParameterError, match="sort"):
        select_units(trace, sort="loud")
