"""Frozen, self-validating configuration dataclasses, YAML I/O and ``--set`` overrides.

One :class:`FeatureConfig` holds every signal constant; derived values (hop in samples,
frames per second, feature dimension) are properties. It is saved with every run and
model so inference can never featurize differently from training.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path

import yaml

from speech_lstm.errors import ConfigError

__all__ = [
    "STRATEGIES",
    "FeatureConfig",
    "ModelConfig",
    "TrainConfig",
    "DecodeOptions",
    "ExperimentConfig",
    "load_config",
    "save_config",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "feature_config_from_dict",
    "model_config_from_dict",
]


STRATEGIES = ("default", "mirrored", "multi-worker")


def _check(cond, message):
    if not cond:
        raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings: audio -> MFCC or log-mel (+ deltas) -> per-utterance normalisation.

    kind: "mfcc" (n_mfcc cepstral coefficients of the log-mel spectrum) or "logmel" (the n_mels
    log-mel bands themselves; with per-utterance normalisation, a channel-robust front end).

    sample_rate: Hz, audio is resampled to it.  win_ms / hop_ms: analysis window and hop, ms.
    n_fft: FFT size, samples (>= window).  n_mels: mel bands.  n_mfcc: cepstral coefficients.
    fmin / fmax: mel filterbank edges, Hz (fmax None = Nyquist).  top_db: log-mel floor
    below the utterance's peak, dB (None = absolute floor at -100 dB).  deltas: 0, 1 or 2 orders of
    time derivatives appended.  normalize: "utterance" (zero mean, unit variance per
    coefficient over the utterance) or "none".
    """

    kind: str = "mfcc"
    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 13
    fmin: float = 20.0
    fmax: float | None = None
    top_db: float | None = 80.0
    deltas: int = 2
    normalize: str = "utterance"

    def __post_init__(self):
        _check(self.sample_rate >= 4000, f"features.sample_rate must be >= 4000 Hz, got {self.sample_rate}")
        _check(self.hop_ms > 0, f"features.hop_ms must be > 0, got {self.hop_ms}")
        _check(self.win_ms >= self.hop_ms, f"features.win_ms ({self.win_ms}) must be >= hop_ms ({self.hop_ms})")
        _check(
            self.n_fft >= self.win_length,
            f"features.n_fft ({self.n_fft}) must be >= the window in samples ({self.win_length})",
        )
        _check(self.n_mels >= 1, f"features.n_mels must be >= 1, got {self.n_mels}")
        _check(
            1 <= self.n_mfcc <= self.n_mels,
            f"features.n_mfcc must be in [1, n_mels={self.n_mels}], got {self.n_mfcc}",
        )
        _check(self.deltas in (0, 1, 2), f"features.deltas must be 0, 1 or 2, got {self.deltas}")
        _check(self.kind in ("mfcc", "logmel"), f"features.kind must be 'mfcc' or 'logmel', got {self.kind!r}")
        _check(
            self.normalize in ("utterance", "none"),
            f"features.normalize must be 'utterance' or 'none', got {self.normalize!r}",
        )
        _check(self.top_db is None or self.top_db > 0, f"features.top_db must be > 0 or null, got {self.top_db}")
        nyquist = self.sample_rate / 2
        top = nyquist if self.fmax is None else self.fmax
        _check(0 <= self.fmin < top <= nyquist, f"features need 0 <= fmin < fmax <= {nyquist} Hz, got fmin={self.fmin}, fmax={self.fmax}")

    @property
    def win_length(self) -> int:
        """Analysis window, samples."""
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        """Hop between frames, samples."""
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def feature_dim(self) -> int:
        """Size of one feature vector: (n_mfcc or n_mels) * (1 + deltas)."""
        return (self.n_mels if self.kind == "logmel" else self.n_mfcc) * (1 + self.deltas)

    def num_frames(self, num_samples: int) -> int:
        """Frames librosa produces (center=True) for ``num_samples`` samples."""
        return 1 + num_samples // self.hop_length


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """BiLSTM-CTC architecture.

    subsample: "conv" (strided Conv1D), "stack" (concatenate ``subsample_factor`` frames)
    or "none".  conv_filters / conv_kernel: used by "conv".  lstm_layers x lstm_units per
    direction.  dropout: between layers, 0 <= p < 1.  words: a word list for a word-level CTC
    output (closed vocabulary: only these words can come out); None = characters.
    """

    subsample: str = "conv"
    subsample_factor: int = 2
    conv_filters: int = 192
    conv_kernel: int = 5
    lstm_layers: int = 2
    lstm_units: int = 128
    dropout: float = 0.1
    words: tuple | None = None

    def __post_init__(self):
        if self.words is not None:
            _check(len(self.words) > 0 and all(isinstance(w, str) and w and " " not in w for w in self.words)
                   and len(set(self.words)) == len(self.words),
                   f"model.words must be a list of distinct single words, got {self.words!r}")
        _check(
            self.subsample in ("conv", "stack", "none"),
            f"model.subsample must be 'conv', 'stack' or 'none', got {self.subsample!r}",
        )
        _check(self.subsample_factor >= 1, f"model.subsample_factor must be >= 1, got {self.subsample_factor}")
        _check(
            self.subsample != "none" or self.subsample_factor == 1,
            "model.subsample_factor > 1 needs model.subsample='conv' or 'stack'",
        )
        _check(self.conv_filters >= 1 and self.conv_kernel >= 1, "model.conv_filters and model.conv_kernel must be >= 1")
        _check(self.lstm_layers >= 1, f"model.lstm_layers must be >= 1, got {self.lstm_layers}")
        _check(self.lstm_units >= 1, f"model.lstm_units must be >= 1, got {self.lstm_units}")
        _check(0 <= self.dropout < 1, f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training loop settings. Paths are relative to the current directory.

    batch_size: utterances per batch: the global batch, summed over every device of every worker
    (each of R replicas gets batch_size / R; the loss is the mean over the global batch). The same
    config thus takes the same steps with the same learning rate on one device or many; to use
    more devices for speed, raise batch_size and scale learning_rate with it (docs/distributed.md).
    bucket_seconds: upper edges (s) of the length buckets;
    batches are padded to their bucket edge so shapes repeat (needed for jit_compile).
    strategy: "default" (one device), "mirrored" (tf.distribute.MirroredStrategy over the local
    GPUs, else the logical CPU devices) or "multi-worker" (MultiWorkerMirroredStrategy over the
    machines that the TF_CONFIG environment variable names). Not part of a run's identity: a run
    may resume under another strategy or worker count. Not with jit_compile.
    max_minutes: wall-clock budget; training stops before an epoch that would cross it (0 = none).
    lr_schedule: "plateau" (halve on a dev-loss plateau, lr_patience/lr_factor) or "cosine"
    (linear warm-up over warmup_epochs, then cosine decay to 5 % over ``epochs``).
    spec_augment: SpecAugment masks on training features: ``spec_time_masks`` masks of up to
    ``spec_time_width`` of the frames each, ``spec_freq_masks`` of up to ``spec_freq_width``
    coefficients (:func:`speech_lstm.data.augment.spec_augment`).
    ema_momentum: > 0 keeps an exponential moving average of the weights (per step); the
    averaged weights are the ones evaluated on dev and checkpointed each epoch (0 = off).
    init_from: a trained recognizer (a run directory or ``.keras`` file, relative to the current
    directory) whose weights start this run instead of random ones: the same model, features and
    vocabulary (fine-tuning, or continuing a run under a new schedule or on more data).
    feature_store: a store made from ``train_manifest`` with the same features
    (``speech-lstm features extract``): training reads its TFRecord shards, ``shard_size``
    utterances each, ``interleave`` shards at a time, instead of featurizing audio. Without one,
    training forms shards of ``shard_size`` utterances the same way, so a store made with that
    shard size gives the same batches.
    """

    train_manifest: str = "data/digits/train.jsonl"
    dev_manifest: str = "data/digits/dev.jsonl"
    test_manifest: str = "data/digits/test.jsonl"
    batch_size: int = 32
    epochs: int = 30
    learning_rate: float = 1e-3
    lr_schedule: str = "plateau"
    warmup_epochs: float = 0.5
    ema_momentum: float = 0.0
    lr_patience: int = 2
    lr_factor: float = 0.5
    early_stopping_patience: int = 6
    jit_compile: bool = True
    bucket_seconds: tuple = (1.5, 2.5, 3.5, 5.0, 8.0)
    min_duration: float = 0.1
    max_duration: float = 20.0
    shuffle_buffer: int = 10000
    shard_size: int = 1000
    interleave: int = 4
    feature_cache: str | None = "data/feature_cache"
    feature_store: str | None = None
    spec_augment: bool = True
    spec_time_masks: int = 2
    spec_time_width: float = 0.05
    spec_freq_masks: int = 2
    spec_freq_width: int = 5
    max_minutes: float = 0.0
    init_from: str | None = None
    dev_eval_limit: int = 400
    seed: int = 1234
    strategy: str = "default"

    def __post_init__(self):
        _check(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}")
        _check(self.strategy in STRATEGIES,
               f"train.strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {self.strategy!r}")
        # XLA around a replicated step hangs under tf.distribute (measured: TF 2.21, Keras 3.15, CPU).
        _check(self.strategy == "default" or not self.jit_compile,
               f"train.jit_compile=true needs train.strategy='default', got strategy {self.strategy!r}; "
               "set train.jit_compile=false to train with tf.distribute")
        _check(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}")
        _check(self.learning_rate > 0, f"train.learning_rate must be > 0, got {self.learning_rate}")
        _check(0 < self.lr_factor < 1, f"train.lr_factor must be in (0, 1), got {self.lr_factor}")
        _check(
            self.lr_schedule in ("plateau", "cosine"),
            f"train.lr_schedule must be 'plateau' or 'cosine', got {self.lr_schedule!r}",
        )
        _check(0 <= self.warmup_epochs < self.epochs, "train.warmup_epochs must be >= 0 and < train.epochs")
        _check(0 <= self.ema_momentum < 1, f"train.ema_momentum must be in [0, 1), got {self.ema_momentum}")
        edges = tuple(float(b) for b in self.bucket_seconds)
        _check(len(edges) >= 1 and all(b > 0 for b in edges), "train.bucket_seconds must be a non-empty list of positive seconds")
        _check(list(edges) == sorted(set(edges)), f"train.bucket_seconds must be strictly increasing, got {list(edges)}")
        object.__setattr__(self, "bucket_seconds", edges)
        _check(0 <= self.min_duration < self.max_duration, "train.min_duration must be >= 0 and < train.max_duration")
        _check(self.max_minutes >= 0, f"train.max_minutes must be >= 0, got {self.max_minutes}")
        _check(self.shard_size >= 1 and self.interleave >= 1,
               f"train.shard_size and train.interleave must be >= 1, got {self.shard_size} and {self.interleave}")
        _check(min(self.spec_time_masks, self.spec_freq_masks, self.spec_freq_width) >= 0 and
               0 <= self.spec_time_width <= 0.5,
               "train.spec_time_masks, spec_freq_masks and spec_freq_width must be >= 0 and spec_time_width "
               f"in [0, 0.5], got {self.spec_time_masks}, {self.spec_freq_masks}, {self.spec_freq_width}, "
               f"{self.spec_time_width}")


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How logits become text.

    strategy: "greedy" (best path) or "beam" (CTC beam search).  beam_width: > 0, only with
    strategy="beam".  top_paths: n-best size, <= beam_width.  words: a closed vocabulary
    (normalised words) for strategy="beam": only these words can come out
    (:func:`speech_lstm.ctc.ctc_lexicon_decode`).  lm: an ARPA or KenLM word n-gram model
    for strategy="beam", weighted by ``alpha``, with ``beta`` added per word
    (:func:`speech_lstm.ctc.ctc_lm_decode`).  hot_words: ``((word, boost), ...)`` for
    strategy="beam": each finished hot word adds ``boost`` to a hypothesis's log score (with
    or without an LM).
    """

    strategy: str = "greedy"
    beam_width: int | None = None
    top_paths: int = 1
    words: tuple | None = None
    lm: str | None = None
    alpha: float = 0.5
    beta: float = 1.0
    hot_words: tuple = ()

    @property
    def searches_words(self) -> bool:
        """A word list, an LM or hot words: a search that runs in Python on the logits (also an
        exported model's), not the plain CTC beam search."""
        return bool(self.words or self.lm or self.hot_words)

    def __post_init__(self):
        if self.strategy not in ("greedy", "beam"):
            raise ConfigError(f"strategy must be 'greedy' or 'beam', got {self.strategy!r}")
        if self.words is not None:
            object.__setattr__(self, "words", tuple(self.words))
            if self.strategy != "beam":
                raise ConfigError("a word list (lexicon) needs strategy='beam'")
            if not self.words:
                raise ConfigError("the word list (lexicon) is empty")
        object.__setattr__(self, "hot_words", tuple((str(w), float(b)) for w, b in self.hot_words))
        if self.lm is not None or self.hot_words:
            if self.strategy != "beam":
                raise ConfigError("a language model or hot words need strategy='beam'")
            if self.words is not None:
                raise ConfigError("a word list (--words / --lexicon) and a language model or hot words conflict: "
                                  "the word list is a hard constraint, the LM a soft one; give one")
        if self.strategy == "greedy":
            if self.beam_width is not None:
                raise ConfigError("beam_width needs strategy='beam'")
            if self.top_paths != 1:
                raise ConfigError("top_paths > 1 needs strategy='beam'")
        else:
            if self.beam_width is None:
                object.__setattr__(self, "beam_width", 16)
            if self.beam_width < 1:
                raise ConfigError(f"beam_width must be >= 1, got {self.beam_width}")
            if not 1 <= self.top_paths <= self.beam_width:
                raise ConfigError(f"top_paths must be in [1, beam_width={self.beam_width}], got {self.top_paths}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything a training run needs; saved resolved as ``config.yaml`` in the run directory."""

    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


def _sections(cls) -> dict:
    """Section name -> section dataclass of a config class whose fields are its sections
    (:class:`ExperimentConfig`, the TTS recipe's ``TTSConfig``)."""
    return dict(typing.get_type_hints(cls))


def _coerce(value, annotation, name):
    """Convert ``value`` (from YAML or a --set string) to the field's annotated type."""
    hint = annotation
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if isinstance(value, str) and hint is not str:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"{name}: cannot parse {value!r}") from e
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} expects true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} expects an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} expects a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} expects a string, got {value!r}")
        return value
    if hint is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} expects a list, got {value!r}")
        return tuple(value)
    return value


def _build_section(cls, values, section):
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"section '{section}' must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(section + '.' + u for u in unknown)}; "
            f"valid options in '{section}': {', '.join(sorted(fields))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as e:  # a section's own check (ParameterError) says which value is wrong
        raise ConfigError(f"{section}: {e}") from e


def config_from_dict(data: dict, cls=ExperimentConfig):
    """Build a validated :class:`ExperimentConfig` (or another config class of sections,
    ``cls``) from a nested mapping."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    sections = _sections(cls)
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; expected {', '.join(sections)}")
    return cls(**{name: _build_section(section, data.get(name), name) for name, section in sections.items()})


def config_to_dict(config) -> dict:
    """A plain, YAML-safe dict of any config dataclass (tuples become lists)."""

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def load_config(path, overrides=(), cls=ExperimentConfig):
    """Read a YAML config (an :class:`ExperimentConfig`, or ``cls``) and apply
    ``section.key=value`` overrides; errors name the file or option."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    try:
        config = config_from_dict(data, cls)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    return apply_overrides(config, overrides)


def apply_overrides(config, overrides):
    """Apply ``["train.batch_size=16", ...]`` with type checks; unknown keys are rejected."""
    data = config_to_dict(config)
    sections = _sections(type(config))
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in sections:
            raise ConfigError(f"override key {key!r} must be one of {', '.join(s + '.<option>' for s in sections)}")
        section, name = parts
        fields = {f.name for f in dataclasses.fields(sections[section])}
        if name not in fields:
            raise ConfigError(f"unknown option {key!r}; valid options in '{section}': {', '.join(sorted(fields))}")
        data[section][name] = value
    return config_from_dict(data, type(config))


def save_config(config, path) -> None:
    """Write ``config`` as YAML, atomically (a reader, e.g. another worker, never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    os.replace(tmp, path)


def feature_config_from_dict(data: dict) -> FeatureConfig:
    return _build_section(FeatureConfig, data, "features")


def model_config_from_dict(data: dict) -> ModelConfig:
    return _build_section(ModelConfig, data, "model")
