"""LSTM models of polyphonic music on piano rolls (88 keys, MIDI 21..108).

``RollLSTM``: frames 0..T-2 -> LSTM stack -> 88 independent sigmoids predicting frame t+1
(the JSB Chorales benchmark's "LSTM" row). Training pieces are padded into batches with a
per-frame weight of 0 on padding; the loss is the benchmark's: the sum over keys of the
Bernoulli log-loss, per predicted frame.

``PitchLSTM`` (``kind="pitch"``): the same time LSTM, then a second LSTM that runs up the 88
keys of the predicted frame, key by key, each step seeing the time LSTM's state, whether the key
below is on in that frame, the previous frame around the key and the key's embedding; so the
keys of a frame are modelled jointly, autoregressively (as an RNN-NADE does). With the true frame
fed in (teacher forcing), its per-key probabilities give the exact joint log-likelihood.

``kind="nade"``: the same time LSTM driving a NADE over the 88 keys of the next frame (the
RNN-NADE of Boulanger-Lewandowski et al. 2012 with an LSTM): the LSTM state sets the NADE's
visible and hidden biases; key k's probability depends on the keys below it through NADE's
shared weights, computed for all keys at once with a cumulative sum (no sweep over keys in
training, so it trains several times faster than ``pitch``). Also an exact joint likelihood.

``TokenLSTM`` (``kind="token"``): Embedding -> stacked LSTM -> softmax over the 16th-note voice
token stream of :func:`speech_lstm.music.corpus.encode_tokens` (held and re-struck notes kept
apart, voices kept), trained on windows of the streams; scored in nats per token and per
quarter note (not comparable with the per-frame roll figure: a different, richer target).

``predict_rolls`` returns probabilities aligned the way :mod:`speech_lstm.music.metrics`
scores them: ``probs[t]`` is the prediction for frame ``t`` from frames ``< t`` (row 0 is the
unscored first frame).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.music.corpus import TokenVocabulary

__all__ = ["MusicModelConfig", "NADE", "PitchLSTM", "build_music_model", "predict_rolls", "token_nll", "train_music_model",
           "transpose_roll", "transpose_tokens", "voice_ranges", "KEYS"]

KEYS = 88
KINDS = ("roll", "pitch", "nade", "token")
JOINT_KINDS = ("pitch", "nade")  # models of the keys of a frame jointly: inputs [roll, next_roll]
# Options that may change when a run is resumed (how long to go on); the others define the run.
_RESUMABLE = ("epochs", "patience", "max_minutes")


@dataclasses.dataclass(frozen=True)
class MusicModelConfig:
    """kind: ``roll`` | ``pitch`` | ``nade`` (piano rolls) | ``token`` (16th-note voice tokens).
    pitch_units: size of the LSTM over keys (``pitch``) or of the NADE's hidden layer (``nade``).
    units / layers: LSTM size and depth.  dropout: on LSTM outputs.  transpose: random shifts
    in semitones applied to whole training pieces (kept only where every note stays on the
    keyboard, and for token streams within each voice's range in the training data).
    patience: epochs without a better validation NLL before stopping.  max_minutes: a
    training-time budget for this process (the run resumes where it stopped).  embed /
    window: token embedding size and training window length in tokens (``token`` only).
    ema: momentum of an exponential moving average of the weights (0: off), which is what is
    validated, kept as ``best.keras`` and sampled."""

    kind: str = "roll"
    units: int = 256
    layers: int = 1
    pitch_units: int = 64
    dropout: float = 0.3
    batch_size: int = 8
    epochs: int = 150
    learning_rate: float = 1e-3
    transpose: int = 0
    patience: int = 25
    max_minutes: float | None = None
    seed: int = 0
    embed: int = 32
    window: int = 320
    ema: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ParameterError(f"music model kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.units < 1 or self.layers < 1 or not 0 <= self.dropout < 1 or self.batch_size < 1 or self.epochs < 1
                or self.embed < 1 or self.window < 2 or not 0 <= self.ema < 1):
            raise ParameterError(f"music model config out of range: {self}")


@keras.saving.register_keras_serializable(package="speech_lstm")
class PitchLSTM(keras.layers.Layer):
    """Per frame, an LSTM over the 88 keys (ascending): [context [B, T, D], previous frame
    [B, T, 88], target frame [B, T, 88], key biases [B, T, 88]] -> logits [B, T, 88], key k
    seeing only keys < k of the target frame. The biases (a linear read-out of the time LSTM,
    as the visible biases of an RNN-NADE) are added to the pitch LSTM's logits, so the model
    starts as the independent-keys model and learns the dependencies within a frame on top."""

    def __init__(self, units=64, window=2, embed=8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.window, self.embed = units, window, embed
        self.keys = keras.layers.Embedding(KEYS, embed)
        self.lstm = keras.layers.LSTM(units, return_sequences=True)
        self.out = keras.layers.Dense(1)

    def call(self, inputs):
        context, previous, target, bias = inputs
        ops = keras.ops
        batch, steps = ops.shape(context)[0], ops.shape(context)[1]
        below = ops.pad(target[..., :-1], [[0, 0], [0, 0], [1, 0]])  # key k sees key k-1 of its own frame
        w = self.window
        padded = ops.pad(previous, [[0, 0], [0, 0], [w, w]])
        around = ops.stack([padded[..., i: i + KEYS] for i in range(2 * w + 1)], axis=-1)  # [B, T, 88, 2w+1]
        keys = ops.broadcast_to(self.keys(ops.arange(KEYS))[None, None], (batch, steps, KEYS, self.embed))
        ctx = ops.broadcast_to(context[:, :, None, :], (batch, steps, KEYS, ops.shape(context)[-1]))
        features = ops.concatenate([ctx, below[..., None], around, keys], axis=-1)
        flat = ops.reshape(features, (batch * steps, KEYS, ops.shape(features)[-1]))
        logits = self.out(self.lstm(flat))
        return ops.reshape(logits, (batch, steps, KEYS)) + bias

    def get_config(self):
        return {**super().get_config(), "units": self.units, "window": self.window, "embed": self.embed}


@keras.saving.register_keras_serializable(package="speech_lstm")
class NADE(keras.layers.Layer):
    """[hidden biases [B, T, H], visible biases [B, T, 88], target frame [B, T, 88]] -> logits
    [B, T, 88]: logit_k = c_k + V_k . sigmoid(b + sum_{j<k} W_j v_j), so key k sees only the
    keys below it in its frame (the autoregressive order is ascending pitch)."""

    def __init__(self, hidden=128, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def build(self, input_shape):
        self.w = self.add_weight((KEYS, self.hidden), initializer="glorot_uniform", name="w")
        self.v = self.add_weight((KEYS, self.hidden), initializer="glorot_uniform", name="v")

    def call(self, inputs):
        hidden_bias, visible_bias, target = inputs
        ops = keras.ops
        terms = target[..., :, None] * self.w  # [B, T, 88, H]: key j's contribution
        before = ops.cumsum(terms, axis=-2) - terms  # exclusive: keys < k
        h = ops.sigmoid(hidden_bias[..., None, :] + before)
        return visible_bias + ops.sum(h * self.v, axis=-1)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


def build_music_model(config: MusicModelConfig) -> keras.Model:
    """``kind="roll"``: [batch, frames, 88] -> logits of the next frame's keys (independent).
    ``kind="pitch"`` / ``"nade"``: inputs ``[roll, next_roll]`` (the next frame teacher-forced)
    -> logits of the next frame's keys, each conditioned on the keys below it.
    ``kind="token"``: token ids [batch, tokens] -> logits of the next token [batch, tokens, V]."""
    if config.kind == "token":
        vocab = TokenVocabulary()
        inputs = keras.Input((None,), dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab.size, config.embed, name="embed")(inputs)
    else:
        inputs = keras.Input((None, KEYS), name="roll")
        x = inputs
    for i in range(config.layers):
        x = keras.layers.LSTM(config.units, return_sequences=True, name=f"lstm_{i}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    if config.kind == "token":
        logits = keras.layers.Dense(TokenVocabulary().size, name="logits")(x)
        model = keras.Model(inputs, logits, name="token_lstm")
        model.compile(optimizer=_optimizer(config), loss=token_loss)
        return model
    if config.kind == "roll":
        model = keras.Model(inputs, keras.layers.Dense(KEYS, name="keys")(x), name="roll_lstm")
    elif config.kind == "nade":
        target = keras.Input((None, KEYS), name="next_roll")
        hidden_bias = keras.layers.Dense(config.pitch_units, name="hidden_bias")(x)
        bias = keras.layers.Dense(KEYS, name="keys")(x)
        logits = NADE(config.pitch_units, name="nade")([hidden_bias, bias, target])
        model = keras.Model([inputs, target], logits, name="lstm_nade")
    else:
        target = keras.Input((None, KEYS), name="next_roll")
        context = keras.layers.Dense(64, activation="tanh", name="context")(x)
        bias = keras.layers.Dense(KEYS, name="keys")(x)
        logits = PitchLSTM(config.pitch_units, name="pitch_lstm")([context, inputs, target, bias])
        model = keras.Model([inputs, target], logits, name="pitch_lstm")
    model.compile(optimizer=_optimizer(config), loss=frame_loss)
    return model


def _optimizer(config):
    if config.ema:
        return keras.optimizers.Adam(config.learning_rate, use_ema=True, ema_momentum=config.ema)
    return keras.optimizers.Adam(config.learning_rate)


class _AveragedWeights:
    """Within the block, the model holds its optimizer's moving average of the weights (when
    the optimizer keeps one); the trained weights come back after it."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        opt = self.model.optimizer
        self.saved = None
        if getattr(opt, "use_ema", False) and opt.built:
            self.saved = [v.numpy() for v in self.model.trainable_variables]
            opt.finalize_variable_values(self.model.trainable_variables)

    def __exit__(self, *exc):
        if self.saved is not None:
            for v, w in zip(self.model.trainable_variables, self.saved):
                v.assign(w)


def _inputs(model, x, y):
    return [x, y] if len(model.inputs) == 2 else x


@keras.saving.register_keras_serializable(package="speech_lstm")
def frame_loss(y_true, logits):
    """Sum over the 88 keys of the Bernoulli log-loss, per frame: [batch, frames]."""
    return keras.ops.sum(keras.ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)


@keras.saving.register_keras_serializable(package="speech_lstm")
def token_loss(y_true, logits):
    """Cross-entropy of the next token, nats: [batch, tokens]."""
    return keras.ops.sparse_categorical_crossentropy(y_true, logits, from_logits=True)


def voice_ranges(streams, vocab: TokenVocabulary | None = None) -> list[tuple[int, int]]:
    """(lowest, highest) MIDI pitch each voice plays in token streams (for transposition)."""
    vocab = vocab or TokenVocabulary()
    V = vocab.num_voices
    lo, hi = [vocab.max_pitch] * V, [vocab.min_pitch] * V
    for tokens in streams:
        grid = np.asarray(tokens[1: 1 + (len(tokens) - 2) // (V + 1) * (V + 1)]).reshape(-1, V + 1)[:, 1:]
        for v in range(V):
            notes = grid[:, v][grid[:, v] >= vocab.NOTE_OFFSET]
            if notes.size:
                lo[v] = min(lo[v], int(notes.min()) - vocab.NOTE_OFFSET + vocab.min_pitch)
                hi[v] = max(hi[v], int(notes.max()) - vocab.NOTE_OFFSET + vocab.min_pitch)
    return list(zip(lo, hi))


def transpose_tokens(tokens, shift: int, ranges, vocab: TokenVocabulary | None = None) -> np.ndarray | None:
    """A token stream moved ``shift`` semitones, or None when a voice would leave its range
    (``ranges``: (lowest, highest) per voice, as from :func:`voice_ranges`)."""
    vocab = vocab or TokenVocabulary()
    tokens = np.asarray(tokens, np.int64)
    if shift == 0:
        return tokens
    V = vocab.num_voices
    slot = (np.arange(len(tokens)) - 1) % (V + 1)  # 0: STEP, v + 1: voice v
    is_note = tokens >= vocab.NOTE_OFFSET
    pitches = tokens - vocab.NOTE_OFFSET + vocab.min_pitch + shift
    for v, (lo, hi) in enumerate(ranges):
        p = pitches[is_note & (slot == v + 1)]
        if p.size and (p.min() < lo or p.max() > hi):
            return None
    return np.where(is_note, tokens + shift, tokens)


def _token_batches(streams, config, rng=None, ranges=None):
    """(inputs, targets, weights) batches of token windows of ``config.window`` tokens.

    Training (``rng`` given): each stream transposed at random and cut at a random offset,
    windows shuffled. Otherwise whole streams, padded (to score each token with all the
    context before it)."""
    if rng is None:
        for i in range(0, len(streams), config.batch_size):
            yield _next_step_batch([np.asarray(t, np.int64) for t in streams[i: i + config.batch_size]], np.int32)
        return
    windows = []
    for tokens in streams:
        tokens = np.asarray(tokens, np.int64)
        if config.transpose:
            moved = transpose_tokens(tokens, int(rng.integers(-config.transpose, config.transpose + 1)), ranges)
            tokens = tokens if moved is None else moved
        L = config.window
        start = -int(rng.integers(0, L))
        for a in range(start, len(tokens) - 1, L):
            windows.append(tokens[max(a, 0): a + L + 1])
    order = rng.permutation(len(windows))
    for i in range(0, len(order), config.batch_size):
        yield _next_step_batch([windows[j] for j in order[i: i + config.batch_size]], np.int32)


def _next_step_batch(pieces, dtype):
    """Pieces (arrays [steps, ...]) -> (inputs = steps 0..T-2, targets = steps 1..T-1, weights
    1 on real steps), zero-padded to the longest piece (0 is PAD for tokens, silence for rolls)."""
    steps = max(len(p) for p in pieces) - 1
    x = np.zeros((len(pieces), steps) + np.shape(pieces[0])[1:], dtype)
    y, w = np.zeros_like(x), np.zeros((len(pieces), steps), np.float32)
    for b, p in enumerate(pieces):
        n = len(p) - 1
        x[b, :n], y[b, :n], w[b, :n] = p[:-1], p[1:], 1.0
    return x, y, w


def token_nll(model, streams, batch_size: int = 32) -> dict:
    """Next-token log-loss over whole streams (every token after BOS scored, EOS included):
    ``nats_per_token``, ``nats_per_quarter`` (the sum over a quarter note's 4 steps x 5
    tokens), ``tokens``."""
    vocab = TokenVocabulary()
    total, count = 0.0, 0
    config = MusicModelConfig(kind="token", batch_size=batch_size)
    for x, y, w in _token_batches(list(streams), config):
        loss = keras.ops.convert_to_numpy(token_loss(y, model(x, training=False)))
        total += float((loss * w).sum())
        count += int(w.sum())
    if not count:
        raise ParameterError("token_nll needs at least one stream with a token after BOS")
    per_quarter = (vocab.num_voices + 1) * vocab.steps_per_quarter
    return {"nats_per_token": total / count, "nats_per_quarter": total / count * per_quarter, "tokens": count}


def transpose_roll(roll: np.ndarray, shift: int) -> np.ndarray | None:
    """The roll moved ``shift`` semitones, or None when a note would leave the keyboard."""
    if shift == 0:
        return roll
    used = np.flatnonzero(roll.any(axis=0))
    if used.size == 0 or used.min() + shift < 0 or used.max() + shift >= KEYS:
        return None
    return np.roll(roll, shift, axis=1)


def _batches(rolls, batch_size, rng=None, transpose=0):
    """(inputs, targets, weights) batches of padded pieces. With ``rng`` (training): pieces of
    similar length batched together (less padding to compute: about 1.3x faster an epoch
    here), batches in random order, pieces transposed at random."""
    if rng is None:
        batches = [np.arange(i, min(i + batch_size, len(rolls))) for i in range(0, len(rolls), batch_size)]
    else:
        lengths = np.array([len(r) for r in rolls]) * np.exp(rng.uniform(-0.1, 0.1, len(rolls)))  # jittered
        order = np.argsort(lengths, kind="stable")
        batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
        batches = [batches[k] for k in rng.permutation(len(batches))]
    for batch in batches:
        pieces = []
        for j in batch:
            roll = rolls[j]
            if rng is not None and transpose:
                moved = transpose_roll(roll, int(rng.integers(-transpose, transpose + 1)))
                roll = roll if moved is None else moved
            pieces.append(roll.astype(np.float32))
        yield _next_step_batch(pieces, np.float32)


def predict_rolls(model, rolls, batch_size: int = 16) -> list[np.ndarray]:
    """Key probabilities per frame, aligned with the rolls (row 0: no prediction, set to 0.5).

    For a ``pitch`` model each frame's true keys are fed in (teacher forcing): probability k is
    p(key k on | keys below k in that frame, earlier frames), whose log-losses sum to the
    frame's joint log-likelihood."""
    out = []
    for x, y, w in _batches(rolls, batch_size):
        probs = keras.ops.convert_to_numpy(keras.ops.sigmoid(model(_inputs(model, x, y), training=False)))
        for b in range(len(x)):
            n = int(w[b].sum())
            out.append(np.concatenate([np.full((1, KEYS), 0.5, np.float32), probs[b, :n]]))
    return out


def _save_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.partial.keras")
    model.save(tmp)
    os.replace(tmp, path)


def train_music_model(train, valid, config: MusicModelConfig, run_dir, progress: bool = True) -> dict:
    """Train with early stopping on the validation NLL (``roll``/``pitch``: nats per frame, as
    the benchmark scores it, on piano rolls; ``token``: nats per token, on token streams); keeps
    ``run_dir/best.keras``, ``train_log.jsonl``. Resumes from ``run_dir/last.keras``."""
    from speech_lstm.music.metrics import frame_nll

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_music_model(config)
    if config.kind == "token":
        ranges = voice_ranges(train)
        batches = lambda rng: _token_batches(train, config, rng, ranges)  # noqa: E731
        valid = sorted(valid, key=len)  # batches of similar length: less padding to run through
        validate = lambda: token_nll(model, valid)["nats_per_token"]  # noqa: E731
    else:
        batches = lambda rng: _batches(train, config.batch_size, rng, config.transpose)  # noqa: E731
        validate = lambda: frame_nll(valid, predict_rolls(model, valid))["nll"]  # noqa: E731
    log_path, state_path = run_dir / "train_log.jsonl", run_dir / "state.json"
    config_path, wanted = run_dir / "config.json", dataclasses.asdict(config)
    if config_path.exists():
        defaults = dataclasses.asdict(MusicModelConfig())  # options added since: their defaults; removed: ignored
        saved = {k: v for k, v in {**defaults, **json.loads(config_path.read_text())}.items() if k in defaults}
        if {k: v for k, v in saved.items() if k not in _RESUMABLE} != {k: v for k, v in wanted.items() if k not in _RESUMABLE}:
            raise ConfigError(f"{run_dir} holds a run with a different config ({config_path}); "
                              "use another run directory or delete it")
    config_path.write_text(json.dumps(wanted, indent=1))
    state = json.loads(state_path.read_text()) if state_path.exists() else {"epoch": 0, "best": None, "since": 0}
    if state["epoch"] >= config.epochs or state["since"] >= config.patience:
        return state  # finished
    if state["epoch"] and (run_dir / "last.keras").exists():
        model.optimizer.build(model.trainable_variables)  # so Adam's moments are restored too, not restarted
        model.load_weights(run_dir / "last.keras")
        rng = np.random.default_rng([config.seed, state["epoch"]])
    started = time.perf_counter()
    for epoch in range(state["epoch"], config.epochs):
        t0, losses = time.perf_counter(), []
        for x, y, w in batches(rng):
            w = w * (w.size / w.sum())  # Keras divides by all positions, padding included: loss = mean over real ones
            losses.append(float(model.train_on_batch(_inputs(model, x, y), y, sample_weight=w)))
        with _AveragedWeights(model):
            valid_nll = validate()
            improved = state["best"] is None or valid_nll < state["best"]
            if improved:
                _save_atomic(model, run_dir / "best.keras")
        row = {"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 4), "valid_nll": round(valid_nll, 4),
               "seconds": round(time.perf_counter() - t0, 2)}
        with open(log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if progress:
            print(f"epoch {row['epoch']:3d}  train {row['train_loss']:.3f}  valid NLL {valid_nll:.3f}  ({row['seconds']} s)",
                  flush=True)
        state = {"epoch": epoch + 1, "best": valid_nll if improved else state["best"],
                 "since": 0 if improved else state["since"] + 1}
        _save_atomic(model, run_dir / "last.keras")
        tmp = state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, state_path)  # a run killed at any point resumes from a consistent epoch
        if state["since"] >= config.patience:
            break
        if config.max_minutes is not None and time.perf_counter() - started > 60 * config.max_minutes:
            state["stopped_for_time_budget"] = True
            break
    return state
