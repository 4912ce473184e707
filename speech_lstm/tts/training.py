"""Training the TTS models with Keras ``fit``, in a run directory.

A run directory is also the trained voice that :class:`speech_lstm.tts.synthesize.Synthesizer`
loads: ``tts.json`` (voice, mel spec, model sizes, mel statistics), ``inventory.json``,
``duration.keras`` and ``acoustic.keras`` (best dev loss), plus ``config.yaml``, the logs
``duration_log.csv`` / ``acoustic_log.csv``, ``training_curves.png`` and ``train_summary.json``.
A killed run resumes at its last finished epoch (``backup_*``); a finished one is not redone
unless ``force``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from speech_lstm.config import config_to_dict, load_config, save_config
from speech_lstm.errors import ConfigError
from speech_lstm.files import atomic_write
from speech_lstm.tts.corpus import TTSCorpusSpec, read_tts_manifest
from speech_lstm.tts.model import TTSModelConfig
from speech_lstm.tts.text import PhonemeInventory, Token, frame_durations
from speech_lstm.tts.vocoder import MelSpec, log_mel

__all__ = ["TTSTrainConfig", "TTSConfig", "load_tts_config", "prepare_examples", "train_tts"]


@dataclasses.dataclass(frozen=True)
class TTSTrainConfig:
    """Paths are relative to the current directory.  batch_size: sentences per batch.
    epochs / duration_epochs: of the acoustic and the duration model.  max_minutes: wall-clock
    budget of the acoustic model's training (0 = none).  patience: epochs without a better dev
    loss before stopping."""

    train_manifest: str = "data/tts/train.jsonl"
    dev_manifest: str = "data/tts/dev.jsonl"
    test_manifest: str = "data/tts/test.jsonl"
    batch_size: int = 32
    epochs: int = 40
    duration_epochs: int = 30
    learning_rate: float = 2e-3
    max_minutes: float = 0.0
    patience: int = 5
    seed: int = 1234

    def __post_init__(self):
        if min(self.batch_size, self.epochs, self.duration_epochs, self.patience) < 1:
            raise ConfigError("train.batch_size, epochs, duration_epochs and patience must be >= 1")
        if self.learning_rate <= 0 or self.max_minutes < 0:
            raise ConfigError("train.learning_rate must be > 0 and train.max_minutes >= 0")


@dataclasses.dataclass(frozen=True)
class TTSConfig:
    """A TTS recipe config: the corpus it trains on, the mel spectrogram, the models, training."""

    corpus: TTSCorpusSpec = dataclasses.field(default_factory=TTSCorpusSpec)
    mel: MelSpec = dataclasses.field(default_factory=MelSpec)
    model: TTSModelConfig = dataclasses.field(default_factory=TTSModelConfig)
    train: TTSTrainConfig = dataclasses.field(default_factory=TTSTrainConfig)


def load_tts_config(path, overrides=()) -> TTSConfig:
    """A YAML :class:`TTSConfig` with ``section.key=value`` overrides; errors name the option."""
    return load_config(path, overrides, cls=TTSConfig)


def tokens_of(entry: dict) -> list[Token]:
    return [Token(p, int(w)) for p, w in zip(entry["phonemes"], entry["word_positions"])]


def prepare_examples(entries, inventory: PhonemeInventory, mel: MelSpec, progress: bool = False) -> list[dict]:
    """Per sentence: ``tokens`` int32 [N, 3], ``durations`` int32 [N] (frames, summing to the
    mel's length), ``mel`` float32 [T, n_mels] (:func:`~speech_lstm.tts.vocoder.log_mel`)."""
    from tqdm.auto import tqdm

    from speech_lstm.audio import load_audio

    examples = []
    for e in tqdm(entries, desc="mel spectrograms", unit="utt", disable=not progress):
        audio = load_audio(e["audio_filepath"], sample_rate=mel.sample_rate)
        m = log_mel(audio, mel)
        starts = np.asarray(e["starts"], dtype=np.int64)
        if e.get("sample_rate", mel.sample_rate) != mel.sample_rate:
            starts = np.rint(starts * mel.sample_rate / e["sample_rate"]).astype(np.int64)
        examples.append({"text": e["text"], "tokens": inventory.encode(tokens_of(e)),
                         "durations": frame_durations(starts, mel.hop_length, len(m)), "mel": m,
                         "audio_filepath": e["audio_filepath"]})
    return examples


def _batches(examples, batch_size: int, rng=None):
    """Index lists of length-sorted batches (shuffled in order when ``rng`` is given)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["mel"]))
    batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _pad(arrays, length, value=0):
    out = np.full((len(arrays), length) + arrays[0].shape[1:], value, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def _dataset(examples, batch_size, stats, reduction, kind, seed=None):
    """tf.data of padded batches for the ``"duration"`` or ``"acoustic"`` model (the targets
    carry their mask as the last channel); reshuffled every epoch when ``seed`` is given."""
    import tensorflow as tf

    mean, std = stats
    n_mels = len(mean)
    epoch = [0]

    def generate():
        rng = np.random.default_rng([seed, epoch[0]]) if seed is not None else None
        epoch[0] += 1
        for batch in _batches(examples, batch_size, rng):
            ex = [examples[i] for i in batch]
            n = max(len(e["tokens"]) for e in ex)
            tokens = _pad([e["tokens"] for e in ex], n)
            durations = _pad([e["durations"] for e in ex], n)
            if kind == "duration":
                target = np.log1p(durations.astype(np.float32))
                mask = _pad([np.ones(len(e["tokens"]), np.float32) for e in ex], n)
                yield tokens, np.stack([target, mask], axis=-1)
            else:
                t = max(len(e["mel"]) for e in ex)
                t = -(-t // reduction) * reduction
                mel = _pad([(e["mel"] - mean) / std for e in ex], t)
                mask = _pad([np.ones(len(e["mel"]), np.float32) for e in ex], t)
                y = np.concatenate([mel, mask[..., None]], axis=-1).astype(np.float32)
                yield {"tokens": tokens, "durations": durations}, {"mel": y, "mel_postnet": y}

    if kind == "duration":
        signature = (tf.TensorSpec((None, None, 3), tf.int32), tf.TensorSpec((None, None, 2), tf.float32))
    else:
        y = tf.TensorSpec((None, None, n_mels + 1), tf.float32)
        signature = ({"tokens": tf.TensorSpec((None, None, 3), tf.int32),
                      "durations": tf.TensorSpec((None, None), tf.int32)}, {"mel": y, "mel_postnet": y})
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(_batches(examples, batch_size)))).prefetch(2)


def _fit(model, train_ds, dev_ds, epochs, run_dir: Path, name: str, monitor: str, patience: int,
         max_minutes: float, progress):
    """Keras fit with best-on-dev (``monitor``) checkpoint ``<name>.keras``, CSV log, resume and budget."""
    import keras

    from speech_lstm.training import TimeBudget, best_from_log

    log = run_dir / f"{name}_log.csv"
    checkpoint = keras.callbacks.ModelCheckpoint(str(run_dir / f"{name}.keras"), monitor=monitor,
                                                 mode="min", save_best_only=True)
    previous = best_from_log(log, monitor)
    if previous is not None:
        checkpoint.best = previous
    budget = TimeBudget(max_minutes) if max_minutes else None
    callbacks = [keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=patience), checkpoint,
                 keras.callbacks.BackupAndRestore(str(run_dir / f"backup_{name}")),
                 keras.callbacks.CSVLogger(str(log), append=True), *([budget] if budget else [])]
    t0 = time.perf_counter()
    model.fit(train_ds, validation_data=dev_ds, epochs=epochs, callbacks=callbacks, shuffle=False,
              verbose=1 if progress else 2)
    return {"seconds": round(time.perf_counter() - t0, 1), "stopped_for_time_budget": bool(budget and budget.stopped_for_budget),
            f"best_{monitor}": best_from_log(log, monitor), "epochs": _log_rows(log)}


def _log_rows(path) -> int:
    with open(path) as f:
        return max(0, sum(1 for _ in f) - 1)


def train_tts(config: TTSConfig, run_dir, force: bool = False, progress: bool = True) -> dict:
    """Train the duration model, then the acoustic model (on the reference durations), as
    ``config`` says, in ``run_dir`` (see the module docstring). Returns the summary."""
    import keras

    from speech_lstm.plots import plot_tts_training
    from speech_lstm.tts.model import build_acoustic_model, build_duration_model, masked_mae, masked_mse
    from speech_lstm.tts.text import Phonemizer

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path, summary_path = run_dir / "config.yaml", run_dir / "train_summary.json"
    if cfg_path.exists() and not force:
        if config_to_dict(load_tts_config(cfg_path)) != config_to_dict(config):
            raise ConfigError(f"{run_dir} holds a run with a different config; use another run directory "
                              "or --force to start over")
        if summary_path.exists():
            return json.loads(summary_path.read_text())
    if force:
        for name in ("duration", "acoustic"):
            for path in (run_dir / f"{name}.keras", run_dir / f"{name}_log.csv"):
                path.unlink(missing_ok=True)
            shutil.rmtree(run_dir / f"backup_{name}", ignore_errors=True)
        summary_path.unlink(missing_ok=True)
    save_config(config, cfg_path)

    tc = config.train
    keras.utils.set_random_seed(tc.seed)
    train_entries, dev_entries = read_tts_manifest(tc.train_manifest), read_tts_manifest(tc.dev_manifest)
    inventory = PhonemeInventory.from_tokens(tokens_of(e) for e in train_entries)
    train_ex = prepare_examples(train_entries, inventory, config.mel, progress)
    dev_ex = prepare_examples(dev_entries, inventory, config.mel)
    frames = np.concatenate([e["mel"] for e in train_ex])
    mean, std = frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-3)
    inventory.save(run_dir / "inventory.json")
    with atomic_write(run_dir / "tts.json") as f:
        json.dump({"voice": config.corpus.voice, "rate": config.corpus.rate, "mel": dataclasses.asdict(config.mel),
                   "model": dataclasses.asdict(config.model), "mel_mean": mean.tolist(), "mel_std": std.tolist()},
                  f, indent=1)
    Phonemizer(config.corpus.voice)  # fail now, not after training, when eSpeak NG is unusable
    r = config.model.reduction

    duration = build_duration_model(config.model, inventory.size)
    duration.compile(optimizer=keras.optimizers.Adam(tc.learning_rate, clipnorm=1.0), loss=masked_mse)
    dur_fit = _fit(duration, _dataset(train_ex, tc.batch_size, (mean, std), r, "duration", tc.seed),
                   _dataset(dev_ex, tc.batch_size, (mean, std), r, "duration"), tc.duration_epochs, run_dir,
                   "duration", "val_loss", tc.patience, 0.0, progress)

    acoustic = build_acoustic_model(config.model, inventory.size, config.mel.n_mels)
    steps = len(_batches(train_ex, tc.batch_size)) * tc.epochs
    schedule = keras.optimizers.schedules.CosineDecay(tc.learning_rate, steps, alpha=0.05)
    acoustic.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0),
                     loss={"mel": masked_mae, "mel_postnet": masked_mae})
    ac_fit = _fit(acoustic, _dataset(train_ex, tc.batch_size, (mean, std), r, "acoustic", tc.seed),
                  _dataset(dev_ex, tc.batch_size, (mean, std), r, "acoustic"), tc.epochs, run_dir, "acoustic",
                  "val_mel_postnet_loss", tc.patience, tc.max_minutes, progress)
    plot_tts_training(run_dir / "duration_log.csv", run_dir / "acoustic_log.csv", run_dir / "training_curves.png")
    hours = sum(len(e["mel"]) for e in train_ex) * config.mel.hop_seconds / 3600
    summary = {"train_sentences": len(train_ex), "train_hours": round(hours, 3), "phonemes": len(inventory.phonemes),
               "duration_model": {**dur_fit, "params": int(duration.count_params())},
               "acoustic_model": {**ac_fit, "params": int(acoustic.count_params())}}
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary
