"""The bidirectional-LSTM CTC recognizer.

Input  ``{"features": float32 [B, T, F], "feature_lengths": int32 [B]}``
Output ``logits: float32 [B, T', vocab_size]`` with T' = ceil(T / subsample_factor);
``output_lengths(feature_lengths)`` gives the true T' per example. Padded frames are
masked in every LSTM, so the backward direction starts at each utterance's true end.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from speech_lstm.config import ModelConfig
from speech_lstm.ctc import ctc_loss
from speech_lstm.errors import ParameterError

__all__ = ["FrameSubsampling", "ProjectedLSTM", "CTCASRModel", "build_ctc_asr"]


@keras.saving.register_keras_serializable(package="speech_lstm")
class FrameSubsampling(layers.Layer):
    """Reduce the frame rate by ``factor``: strided Conv1D ("conv"), frame stacking ("stack") or "none".

    [B, T, F] -> [B, ceil(T / factor), F'] with F' = filters (conv), F * factor (stack), F (none).
    """

    def __init__(self, mode="conv", factor=2, filters=192, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("conv", "stack", "none"):
            raise ParameterError(f"mode must be 'conv', 'stack' or 'none', got {mode!r}")
        self.mode, self.factor, self.filters, self.kernel_size = mode, int(factor), int(filters), int(kernel_size)
        self.conv = None
        if mode == "conv":
            self.conv = layers.Conv1D(
                filters, kernel_size, strides=factor, padding="same", activation="relu", name="conv"
            )
            self.norm = layers.LayerNormalization(name="norm")

    def build(self, input_shape):
        if self.conv is not None:
            self.conv.build(input_shape)
            self.norm.build((input_shape[0], None, self.filters))
        self.built = True

    def call(self, x):
        if self.mode == "conv":
            return self.norm(self.conv(x))
        if self.mode == "stack" and self.factor > 1:
            t = ops.shape(x)[1]
            pad = (-t) % self.factor
            x = ops.pad(x, [[0, 0], [0, pad], [0, 0]])
            f = x.shape[-1]
            return ops.reshape(x, (ops.shape(x)[0], -1, f * self.factor))
        return x

    def output_dim(self, input_dim):
        return {"conv": self.filters, "stack": input_dim * self.factor, "none": input_dim}[self.mode]

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "factor": self.factor,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
        }


@keras.saving.register_keras_serializable(package="speech_lstm")
class CTCASRModel(keras.Model):
    """Subsampling -> N x Bidirectional(LSTM) -> Dense logits, trained with CTC on true lengths.

    feature_dim: F of the input features.  vocab_size: classes including blank (index 0).
    feature_config: FeatureConfig as a dict; vocabulary: the characters of ids 1.. (metadata
    saved with the model). The remaining arguments are the fields of :class:`ModelConfig`.
    """

    def __init__(
        self,
        feature_dim,
        vocab_size,
        subsample="conv",
        subsample_factor=2,
        conv_filters=192,
        conv_kernel=5,
        lstm_layers=2,
        lstm_units=128,
        dropout=0.1,
        feature_config=None,
        vocabulary=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The front end and the characters travel inside the model file, so a .keras file
        # alone is enough to featurize and decode exactly as in training.
        self.feature_config = dict(feature_config) if feature_config else None
        self.vocabulary = list(vocabulary) if vocabulary else None
        self.model_config = ModelConfig(
            subsample=subsample,
            subsample_factor=subsample_factor,
            conv_filters=conv_filters,
            conv_kernel=conv_kernel,
            lstm_layers=lstm_layers,
            lstm_units=lstm_units,
            dropout=dropout,
        )
        self.feature_dim = int(feature_dim)
        self.vocab_size = int(vocab_size)
        factor = subsample_factor if subsample != "none" else 1
        self.subsampler = FrameSubsampling(subsample, factor, conv_filters, conv_kernel, name="subsample")
        self.bilstms = [
            layers.Bidirectional(ProjectedLSTM(lstm_units, return_sequences=True, name=f"lstm_{i}"), name=f"bilstm_{i}")
            for i in range(lstm_layers)
        ]
        self.dropouts = [layers.Dropout(dropout, name=f"dropout_{i}") for i in range(lstm_layers)]
        self.classifier = layers.Dense(vocab_size, name="logits")

    @property
    def subsample_factor(self):
        return self.subsampler.factor if self.subsampler.mode != "none" else 1

    def output_lengths(self, feature_lengths):
        """True output frames per example: ceil(feature_lengths / subsample_factor), int32 [B]."""
        f = self.subsample_factor
        return ops.cast((ops.cast(feature_lengths, "int32") + f - 1) // f, "int32")

    def build(self, input_shape=None):
        f = self.feature_dim
        self.subsampler.build((None, None, f))
        d = self.subsampler.output_dim(f)
        for lstm in self.bilstms:
            lstm.build((None, None, d))
            d = 2 * self.model_config.lstm_units
        self.classifier.build((None, None, d))
        self.built = True

    def call(self, inputs, training=False):
        x = inputs["features"]
        x = self.subsampler(x)
        lengths = self.output_lengths(inputs["feature_lengths"])
        mask = ops.arange(ops.shape(x)[1])[None, :] < lengths[:, None]
        for lstm, drop in zip(self.bilstms, self.dropouts):
            x = lstm(x, mask=mask, training=training)
            x = drop(x, training=training)
        return self.classifier(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        per_example = ctc_loss(
            y["labels"], y_pred, y["label_lengths"], self.output_lengths(x["feature_lengths"])
        )
        replicas = _replica_context()
        if replicas is None:
            loss = ops.mean(per_example)
        else:
            # Under tf.distribute the replicas' gradients are summed: each replica contributes its
            # share of the mean over the global batch (an empty slice adds 0, not NaN).
            count = replicas.all_reduce("sum", ops.cast(ops.shape(per_example)[0], "float32"))
            loss = ops.sum(per_example) / ops.maximum(count, 1.0)
        losses = self.losses
        if losses:
            loss = loss + ops.sum(losses) / (1 if replicas is None else replicas.num_replicas_in_sync)
        return loss

    def train_step(self, data):
        logs = super().train_step(data)
        if _multi_worker(self.distribute_strategy):
            # Keras 3.15 reduces a step's logs across workers with strategy.reduce("MEAN", axis=0),
            # which fails on scalars (keras-team/keras#20585): give each one an axis.
            logs = {k: ops.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a model made under a tf.distribute strategy by pulling a first batch and
        # reducing it across replicas: that fails for dict batches under MultiWorkerMirroredStrategy
        # (keras-team/keras#20329, #20585) and, as an extra pass, advances the shuffle. This model is
        # built by build_ctc_asr; only the optimizer may be left to build.
        if getattr(self, "_distribute_strategy", None) is None or not self.built:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def get_config(self):
        import dataclasses

        return {
            "name": self.name,
            "feature_dim": self.feature_dim,
            "vocab_size": self.vocab_size,
            **{k: v for k, v in dataclasses.asdict(self.model_config).items() if k != "words"},
            "feature_config": self.feature_config,
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_ctc_asr(config: ModelConfig, feature_config, vocab) -> CTCASRModel:
    """A built (weights created) CTCASRModel for ``feature_config`` features and ``vocab`` characters."""
    import dataclasses

    model = CTCASRModel(
        feature_config.feature_dim,
        vocab.size,
        name="bilstm_ctc",
        feature_config=dataclasses.asdict(feature_config),
        vocabulary=vocab.chars,
        **{k: v for k, v in dataclasses.asdict(config).items() if k != "words"},  # the words live in `vocabulary`
    )
    model.build()
    return model


@keras.saving.register_keras_serializable(package="speech_lstm")
class ProjectedLSTM(layers.LSTM):
    """``keras.layers.LSTM`` with the input projection hoisted out of the time loop.

    Same weights (kernel, recurrent_kernel, bias; gate order i, f, c, o), same equations and
    outputs as the Keras layer; x_t·W + b is computed for all frames in one matmul before the
    recurrence, so each step does only h_{t-1}·U. On CPU this trains about 1.5x faster.
    Falls back to the Keras implementation where it would use cuDNN or when the cell has
    dropout.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if cell.dropout or cell.recurrent_dropout or _gpu_available():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        projected = ops.matmul(sequences, cell.kernel)
        if cell.use_bias:
            projected = projected + cell.bias
        act, rec_act = cell.activation, cell.recurrent_activation

        def step(z_x, states):
            h_tm1, c_tm1 = states
            z = z_x + ops.matmul(h_tm1, cell.recurrent_kernel)
            z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
            c = rec_act(z_f) * c_tm1 + rec_act(z_i) * act(z_c)
            h = rec_act(z_o) * act(c)
            return h, [h, c]

        return keras.src.backend.rnn(
            step,
            projected,
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state],
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )


def _replica_context():
    """The tf.distribute replica context of a step that runs on several replicas, else None."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _multi_worker(strategy) -> bool:
    """Keras's own test for a MultiWorkerMirroredStrategy over more than one worker."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def _gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))
