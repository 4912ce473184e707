"""The piano-roll LSTM: shapes and alignment of its predictions, transposition, training that
learns and resumes."""

import json

import numpy as np
import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.music.metrics import frame_nll
from speech_lstm.music.model import MusicModelConfig, build_music_model, predict_rolls, train_music_model, transpose_roll


def _pieces(n, seed=0):
    """Four held voices moving by small steps: easy to beat a fresh model on."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        frames = int(rng.integers(12, 30))
        roll = np.zeros((frames, 88), bool)
        for v in range(4):
            p = 30 + 8 * v
            for t in range(frames):
                p += int(rng.integers(-1, 2)) if rng.random() < 0.3 else 0
                roll[t, p] = True
        out.append(roll)
    return out


def test_predictions_are_aligned_with_the_rolls():
    model = build_music_model(MusicModelConfig(units=8))
    rolls = _pieces(3)
    probs = predict_rolls(model, rolls, batch_size=2)
    assert [p.shape for p in probs] == [r.shape for r in rolls]
    assert (probs[0][0] == 0.5).all() and ((probs[1] > 0) & (probs[1] < 1)).all()
    # frame t's prediction depends only on frames < t
    changed = [r.copy() for r in rolls[:1]]
    changed[0][-1] = ~changed[0][-1]
    np.testing.assert_allclose(predict_rolls(model, changed)[0], probs[0], atol=1e-6)


def test_transpose_keeps_notes_on_the_keyboard():
    roll = np.zeros((2, 88), bool)
    roll[0, 0] = roll[1, 87] = True
    assert transpose_roll(roll, 1) is None and transpose_roll(roll, -1) is None
    roll[1, 87] = False
    assert transpose_roll(roll, 3)[0, 3] and transpose_roll(roll, 0) is roll
    with pytest.raises(ParameterError):
        MusicModelConfig(units=0)


def test_training_learns_and_resumes(tmp_path):
    train, valid = _pieces(16), _pieces(4, seed=1)
    config = MusicModelConfig(units=16, epochs=2, batch_size=4, learning_rate=1e-2, transpose=2, patience=5)
    first = train_music_model(train, valid, config, tmp_path, progress=False)
    assert first["epoch"] == 2 and (tmp_path / "best.keras").exists()
    more = train_music_model(train, valid, config.__class__(**{**config.__dict__, "epochs": 4}), tmp_path,
                            progress=False)
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2, 3, 4] and more["epoch"] == 4
    assert log[-1]["valid_nll"] < log[0]["valid_nll"] < 88 * np.log(2) + 1
    import keras

    from speech_lstm.music.model import frame_loss

    best = keras.saving.load_model(tmp_path / "best.keras", custom_objects={"frame_loss": frame_loss})
    assert frame_nll(valid, predict_rolls(best, valid))["nll"] == pytest.approx(more["best"], rel=1e-4)
    assert train_music_model(train, valid, config.__class__(**{**config.__dict__, "epochs": 4}), tmp_path,
                            progress=False) == more  # finished: nothing redone
    from speech_lstm.errors import ConfigError

    with pytest.raises(ConfigError, match="different config"):
        train_music_model(train, valid, config.__class__(**{**config.__dict__, "units": 32}), tmp_path, progress=False)


@pytest.mark.parametrize("kind", ["pitch", "nade"])
def test_joint_models_see_only_lower_keys_of_their_frame_and_earlier_frames(kind):
    model = build_music_model(MusicModelConfig(kind=kind, units=8, pitch_units=8))
    roll = _pieces(1)[0]
    base = predict_rolls(model, [roll])[0]
    changed = roll.copy()
    k = int(np.flatnonzero(changed[5])[0])
    changed[5, k] = ~changed[5, k]
    moved = np.abs(predict_rolls(model, [changed])[0] - base) > 1e-7
    assert not moved[:5].any() and not moved[5, : k + 1].any() and moved[5, k + 1:].any() and moved[6:].any()


@pytest.mark.parametrize("kind", ["pitch", "nade"])
def test_joint_models_train(tmp_path, kind):
    train, valid = _pieces(8), _pieces(2, seed=1)
    state = train_music_model(train, valid, MusicModelConfig(kind=kind, units=8, pitch_units=8, epochs=2,
                                                           batch_size=4, learning_rate=1e-2), tmp_path, progress=False)
    assert state["epoch"] == 2 and state["best"] < 88 * np.log(2)
    with pytest.raises(ParameterError, match="kind"):
        MusicModelConfig(kind="rbm")


@pytest.mark.parametrize("kind", ["roll", "pitch", "nade"])
def test_numpy_stepping_matches_the_keras_model(kind):
    """Sampling steps the trained weights in numpy: its probabilities must be the model's."""
    from speech_lstm.music import sample

    model = build_music_model(MusicModelConfig(kind=kind, units=8, pitch_units=8, layers=2))
    roll = _pieces(1)[0][:6]
    probs = predict_rolls(model, [roll])[0]  # probs[t] for frame t given frames < t (and keys below)
    cells = [sample._Cell(layer) for layer in model.layers if layer.name.startswith("lstm_")]
    states = [c.zero() for c in cells]
    for t in range(len(roll) - 1):
        h = roll[t].astype(np.float32)[None]
        for i, cell in enumerate(cells):
            h, states[i] = cell.step(h, states[i])
        if kind == "roll":
            p = sample.sigmoid(sample._dense(model.get_layer("keys"), h)[0])
        else:
            _, p = sample.sample_frame_jointly(model, h, roll[t].astype(np.float32), forced=roll[t + 1])
        np.testing.assert_allclose(p, probs[t + 1], atol=1e-5)
    out = sample.sample_roll(model, roll[:2], 3, seed=1)
    assert out.shape == (5, 88) and (out[:2] == roll[:2]).all()


def test_train_generate_and_render_valid_files(tmp_path):
    import pretty_midi
    import soundfile as sf

    from speech_lstm.music.render import render_roll
    from speech_lstm.music.sample import sample_roll

    train = _pieces(6)
    train_music_model(train, train[:2], MusicModelConfig(units=8, epochs=1, batch_size=4), tmp_path / "run",
                     progress=False)
    import keras

    model = keras.saving.load_model(tmp_path / "run" / "best.keras")
    roll = sample_roll(model, train[0][:3], 12, seed=0, max_notes=4)
    assert roll.shape == (15, 88) and roll[3:].sum(axis=1).max() <= 4
    paths = render_roll(roll, tmp_path / "out" / "sample", primer_frames=3)
    midi = pretty_midi.PrettyMIDI(str(paths["midi"]))
    assert sum(len(i.notes) for i in midi.instruments) > 0
    audio, sr = sf.read(paths["wav"])
    assert sr == 22050 and len(audio) > sr and np.abs(audio).max() > 0.1
    assert paths["png"].stat().st_size > 5000 and "<score-partwise" in paths["musicxml"].read_text()
    with pytest.raises(ParameterError, match="primer"):
        sample_roll(model, np.zeros((0, 88), bool), 4)


def test_moving_average_of_weights_is_what_is_validated_and_kept(tmp_path):
    import keras

    train, valid = _pieces(8), _pieces(3, seed=1)
    config = MusicModelConfig(units=8, epochs=3, batch_size=4, learning_rate=1e-2, ema=0.9)
    state = train_music_model(train, valid, config, tmp_path, progress=False)
    best = keras.saving.load_model(tmp_path / "best.keras")
    last = keras.saving.load_model(tmp_path / "last.keras")
    assert frame_nll(valid, predict_rolls(best, valid))["nll"] == pytest.approx(state["best"], rel=1e-4)
    assert not np.allclose(best.get_layer("keys").get_weights()[0], last.get_layer("keys").get_weights()[0])
