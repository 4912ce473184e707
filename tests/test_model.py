import numpy as np
import pytest

import keras

from speech_lstm.config import FeatureConfig, ModelConfig
from speech_lstm.models import CTCASRModel, FrameSubsampling, build_ctc_asr
from speech_lstm.errors import ParameterError
from speech_lstm.text import Vocabulary

FC, V = FeatureConfig(), Vocabulary()


def _inputs(lengths, t=None, seed=0):
    t = t or max(lengths)
    rng = np.random.default_rng(seed)
    x = np.zeros((len(lengths), t, 39), np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.standard_normal((n, 39))
    return {"features": x, "feature_lengths": np.array(lengths, np.int32)}


@pytest.mark.parametrize("mode, factor, dim", [("conv", 2, 16), ("stack", 3, 117), ("none", 1, 39)])
def test_subsampling_shapes(mode, factor, dim):
    layer = FrameSubsampling(mode, factor, filters=16)
    y = layer(np.zeros((2, 11, 39), np.float32))
    assert tuple(y.shape) == (2, -(-11 // factor), dim)
    with pytest.raises(ParameterError, match="mode must be"):
        FrameSubsampling("avg")


@pytest.mark.parametrize("subsample, factor", [("conv", 2), ("stack", 3), ("none", 1)])
def test_logits_shape_and_output_lengths(subsample, factor):
    cfg = ModelConfig(subsample=subsample, subsample_factor=factor, lstm_layers=1, lstm_units=8, conv_filters=8)
    m = build_ctc_asr(cfg, FC, V)
    out = m(_inputs([20, 13]))
    assert tuple(out.shape) == (2, -(-20 // factor), V.size)
    assert list(np.asarray(m.output_lengths(np.array([20, 13])))) == [-(-20 // factor), -(-13 // factor)]


def test_padding_is_masked():
    """Outputs on the true frames do not depend on how much padding follows (both directions)."""
    m = build_ctc_asr(ModelConfig(subsample="stack", subsample_factor=2, lstm_layers=2, lstm_units=8), FC, V)
    short = m(_inputs([12], t=12), training=False).numpy()
    padded = m(_inputs([12], t=40), training=False).numpy()
    np.testing.assert_allclose(short[0, :6], padded[0, :6], atol=1e-5)


def test_save_load_round_trip_keeps_weights_and_metadata(tmp_path):
    m = build_ctc_asr(ModelConfig(lstm_layers=1, lstm_units=8, conv_filters=8), FC, V)
    x = _inputs([30, 22])
    before = m(x).numpy()
    m.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, CTCASRModel)
    np.testing.assert_allclose(loaded(x).numpy(), before, atol=1e-6)
    assert loaded.vocabulary == V.chars and loaded.feature_config["n_mfcc"] == 13
    assert [layer.name for layer in loaded.layers][:2] == ["subsample", "bilstm_0"]
    assert CTCASRModel.from_config(m.get_config()).get_config() == m.get_config()


@pytest.mark.parametrize("go_backwards", [False, True])
def test_projected_lstm_matches_keras_lstm(go_backwards):
    from speech_lstm.models import ProjectedLSTM

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 25, 12)).astype(np.float32)
    mask = np.ones((3, 25), bool)
    mask[1, 17:] = False
    mask[2, 4:] = False
    ref = keras.layers.LSTM(10, return_sequences=True, go_backwards=go_backwards)
    ours = ProjectedLSTM(10, return_sequences=True, go_backwards=go_backwards)
    ref.build(x.shape)
    ours.build(x.shape)
    ours.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in ref.get_weights()])
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x, mask=mask).numpy(), ref(x, mask=mask).numpy(), atol=1e-5)
    last = ProjectedLSTM(10, go_backwards=go_backwards)
    last.build(x.shape)
    last.set_weights(ours.get_weights())
    ref_last = keras.layers.LSTM(10, go_backwards=go_backwards)
    ref_last.build(x.shape)
    ref_last.set_weights(ours.get_weights())
    np.testing.assert_allclose(last(x, mask=mask).numpy(), ref_last(x, mask=mask).numpy(), atol=1e-5)
