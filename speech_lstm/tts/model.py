"""The two TTS models, in the classic parametric style that LSTMs made work:

- **duration model**: phoneme tokens -> frames per token. Embeddings of the phoneme, its
  stress and its word position -> BiLSTM layers -> one number per token, log(1 + frames).
- **acoustic model**: phoneme tokens and their durations -> log-mel frames. A BiLSTM encoder
  over the tokens; :class:`LengthRegulator` repeats each token's encoding over its frames and
  adds where in the token a frame lies; BiLSTM layers over the frames (``reduction`` frames per
  step: the frame LSTMs run at 1/r of the frame rate and predict r frames at a time) -> the
  normalised log-mel; an optional convolutional post-net adds a residual.

Targets carry their mask as an extra last channel, so the losses (:func:`masked_mae`,
:func:`masked_mse`) ignore padding with plain Keras ``fit``.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers, ops

from speech_lstm.errors import ConfigError

__all__ = ["TTSModelConfig", "LengthRegulator", "build_duration_model", "build_acoustic_model", "masked_mae",
           "masked_mse", "CUSTOM_OBJECTS"]


@dataclasses.dataclass(frozen=True)
class TTSModelConfig:
    """Sizes of both models.

    phoneme_dim / feature_dim: embedding sizes of the phoneme and of stress and word position.
    duration_units / duration_layers: the duration BiLSTM.  encoder_units: the acoustic
    model's token BiLSTM (one layer).  decoder_units / decoder_layers: its frame BiLSTMs.
    reduction: frames predicted per frame-LSTM step (1 = every frame).  postnet_layers /
    postnet_channels / postnet_kernel: the post-net (0 layers = none).  dropout: between layers.
    """

    phoneme_dim: int = 64
    feature_dim: int = 8
    duration_units: int = 64
    duration_layers: int = 2
    encoder_units: int = 128
    decoder_units: int = 192
    decoder_layers: int = 2
    reduction: int = 2
    postnet_layers: int = 3
    postnet_channels: int = 128
    postnet_kernel: int = 5
    dropout: float = 0.1

    def __post_init__(self):
        for name in ("phoneme_dim", "feature_dim", "duration_units", "duration_layers", "encoder_units",
                     "decoder_units", "decoder_layers", "reduction", "postnet_channels", "postnet_kernel"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.postnet_layers < 0:
            raise ConfigError(f"model.postnet_layers must be >= 0, got {self.postnet_layers}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


def _token_embedding(tokens, inventory_size: int, config: TTSModelConfig, prefix: str):
    """Embeddings of [B, N, 3] token ids (phoneme, stress, word position), concatenated."""
    phoneme = layers.Embedding(inventory_size, config.phoneme_dim, name=f"{prefix}_phoneme")(tokens[..., 0])
    stress = layers.Embedding(3, config.feature_dim, name=f"{prefix}_stress")(tokens[..., 1])
    position = layers.Embedding(5, config.feature_dim, name=f"{prefix}_word_position")(tokens[..., 2])
    return layers.Concatenate(name=f"{prefix}_embed")([phoneme, stress, position])


@keras.saving.register_keras_serializable(package="speech_lstm")
class TokenMask(layers.Layer):
    """bool [B, N]: True where the token is not padding (phoneme id > 0)."""

    def call(self, tokens):
        return ops.greater(tokens[..., 0], 0)


@keras.saving.register_keras_serializable(package="speech_lstm")
class EndMask(layers.Layer):
    """Identity that drops the Keras mask (after the masked frame LSTMs; the loss masks padding)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x):
        return x + 0.0  # a new tensor: the input's mask is not carried along

    def compute_mask(self, x, mask=None):
        return None


@keras.saving.register_keras_serializable(package="speech_lstm")
class LengthRegulator(layers.Layer):
    """Token encodings [B, N, D] and durations [B, N] (frames) -> frame-step inputs
    [B, T, D + 2] and their mask [B, T], T = ceil(max total frames / reduction).

    Step t stands for frames t*r .. t*r + r - 1; it takes the token its middle frame falls in,
    plus two numbers: how far into the token that frame is (0..1) and log(1 + token frames) / 4.
    """

    def __init__(self, reduction: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)

    def call(self, encodings, durations):
        r = self.reduction
        durations = ops.cast(durations, "float32")
        ends = ops.cumsum(durations, axis=1)
        starts = ends - durations
        total = ends[:, -1]
        steps = ops.cast(ops.ceil(ops.max(total) / r), "int32")
        centre = ops.cast(ops.arange(steps), "float32") * r + (r - 1) / 2.0  # [T] in frames
        index = ops.sum(ops.cast(ends[:, None, :] <= centre[None, :, None], "int32"), axis=-1)
        index = ops.minimum(index, ops.shape(durations)[1] - 1)  # [B, T]
        picked = ops.take_along_axis(encodings, index[..., None], axis=1)
        start = ops.take_along_axis(starts, index, axis=1)
        length = ops.take_along_axis(durations, index, axis=1)
        where = ops.clip((centre[None, :] - start + 0.5) / ops.maximum(length, 1.0), 0.0, 1.0)
        features = ops.concatenate([picked, where[..., None], (ops.log1p(length) / 4.0)[..., None]], axis=-1)
        mask = centre[None, :] < total[:, None]
        return features, mask

    def compute_mask(self, encodings, durations=None, mask=None):
        return None  # the frame mask is an output of its own

    def compute_output_spec(self, encodings, durations):
        b, d = encodings.shape[0], encodings.shape[-1]
        return (keras.KerasTensor((b, None, d + 2), "float32"), keras.KerasTensor((b, None), "bool"))

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="speech_lstm")
def masked_mae(y_true, y_pred):
    """Mean absolute error over the unpadded frames: ``y_true`` [B, T, C + 1], its last channel
    the mask (1 real, 0 padding); ``y_pred`` [B, T', C] with T' >= T cut to T."""
    target, mask = y_true[..., :-1], y_true[..., -1:]
    y_pred = y_pred[:, : ops.shape(target)[1]]
    return ops.sum(ops.abs(target - y_pred) * mask) / ops.maximum(ops.sum(mask) * ops.shape(target)[-1], 1.0)


@keras.saving.register_keras_serializable(package="speech_lstm")
def masked_mse(y_true, y_pred):
    """Mean squared error over the unpadded tokens: ``y_true`` [B, N, 2] (target, mask), ``y_pred`` [B, N, 1]."""
    target, mask = y_true[..., :1], y_true[..., 1:]
    return ops.sum(ops.square(target - y_pred) * mask) / ops.maximum(ops.sum(mask), 1.0)


def build_duration_model(config: TTSModelConfig, inventory_size: int) -> keras.Model:
    """tokens int32 [B, N, 3] -> log(1 + frames) float32 [B, N, 1]."""
    tokens = keras.Input((None, 3), dtype="int32", name="tokens")
    mask = TokenMask(name="duration_mask")(tokens)
    x = _token_embedding(tokens, inventory_size, config, "duration")
    for i in range(config.duration_layers):
        x = layers.Bidirectional(layers.LSTM(config.duration_units, return_sequences=True),
                                 name=f"duration_bilstm_{i}")(x, mask=mask)
        x = layers.Dropout(config.dropout, name=f"duration_dropout_{i}")(x)
    out = layers.Dense(1, name="log_frames")(x)
    return keras.Model(tokens, out, name="duration_model")


def build_acoustic_model(config: TTSModelConfig, inventory_size: int, n_mels: int) -> keras.Model:
    """tokens int32 [B, N, 3], durations int32 [B, N] (frames) -> normalised log-mel
    [B, T, n_mels] before and after the post-net (two outputs; T a multiple of ``reduction``,
    at least the total of the durations)."""
    tokens = keras.Input((None, 3), dtype="int32", name="tokens")
    durations = keras.Input((None,), dtype="int32", name="durations")
    mask = TokenMask(name="encoder_mask")(tokens)
    x = _token_embedding(tokens, inventory_size, config, "encoder")
    x = layers.Bidirectional(layers.LSTM(config.encoder_units, return_sequences=True),
                             name="encoder_bilstm")(x, mask=mask)
    x = EndMask(name="encoder_out")(x)  # the token mask does not apply to frames
    frames, frame_mask = LengthRegulator(config.reduction, name="length_regulator")(x, durations)
    h = frames
    for i in range(config.decoder_layers):
        h = layers.Bidirectional(layers.LSTM(config.decoder_units, return_sequences=True),
                                 name=f"decoder_bilstm_{i}")(h, mask=frame_mask)
        h = layers.Dropout(config.dropout, name=f"decoder_dropout_{i}")(h)
    h = EndMask(name="frames")(h)
    h = layers.Dense(n_mels * config.reduction, name="mel_projection")(h)
    mel = layers.Reshape((-1, n_mels), name="mel")(h)
    post = mel
    if config.postnet_layers:
        r = mel
        for i in range(config.postnet_layers):
            last = i == config.postnet_layers - 1
            r = layers.Conv1D(n_mels if last else config.postnet_channels, config.postnet_kernel, padding="same",
                              activation=None if last else "tanh", name=f"postnet_conv_{i}")(r)
        post = layers.Add(name="mel_postnet")([mel, r])
    return keras.Model({"tokens": tokens, "durations": durations}, {"mel": mel, "mel_postnet": post},
                       name="acoustic_model")


CUSTOM_OBJECTS = {"TokenMask": TokenMask, "EndMask": EndMask, "LengthRegulator": LengthRegulator, "masked_mae": masked_mae,
                  "masked_mse": masked_mse}
