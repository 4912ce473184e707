"""Training: Keras ``fit`` with checkpoints, resume, logs, schedules and dev WER/CER, in a run directory.

A run directory holds ``config.yaml`` (resolved), ``env.json``, ``vocab.json``,
``train_log.csv``, ``backup/`` (BackupAndRestore: a killed run resumes at the last epoch),
``best.keras`` (lowest dev CER), ``training_curves.png`` and ``train_summary.json``.
Under ``train.strategy='multi-worker'`` only the chief (worker 0) writes there; the other
workers write to a throwaway directory and restore from the chief's backup (speech_lstm.distribute).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from speech_lstm.config import ExperimentConfig, config_to_dict, feature_config_from_dict, load_config, save_config
from speech_lstm.data.manifest import read_manifest, validate_manifest
from speech_lstm.data.pipeline import make_dataset, warm_feature_cache
from speech_lstm.data.store import FeatureStore
from speech_lstm.distribute import (AgreeOnLogs, AgreeOnStop, DistributedAdam, RestoreFromChief, backup_epoch,
                                    make_strategy, shard_by_data)
from speech_lstm.errors import ConfigError, ManifestError
from speech_lstm.evaluate import error_rates, inference_function, predict_dataset
from speech_lstm.features import FeatureCache
from speech_lstm.models import CTCASRModel, build_ctc_asr
from speech_lstm.plots import plot_training_curves
from speech_lstm.text import Vocabulary, WordVocabulary, vocabulary_from_symbols

__all__ = ["train", "load_run", "environment_info", "prepare_entries", "resolve_model_path"]


def environment_info() -> dict:
    """Versions, git commit and CPU, saved as env.json with every run."""
    import librosa
    import tensorflow as tf

    info = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }
    try:
        cpu = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        info["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def prepare_entries(manifest, vocab, min_duration, max_duration, name):
    """Read and validate a manifest; entries outside the duration bounds are dropped (counted).

    Raises ManifestError listing every other problem (missing/unreadable audio, empty
    transcripts, characters outside the vocabulary).
    """
    entries = read_manifest(manifest)
    kept = [e for e in entries if min_duration <= float(e["duration"]) <= max_duration]
    dropped = len(entries) - len(kept)
    if not kept:
        raise ManifestError(f"{manifest}: no entries within [{min_duration}, {max_duration}] s")
    validate_manifest(kept, vocab, name=str(manifest))
    return kept, dropped


class DevMetrics(keras.callbacks.Callback):
    """Adds ``val_loss``, ``val_wer`` and ``val_cer`` (greedy decoding) on the dev set to the epoch logs.

    One forward pass gives all three (cheaper than Keras's own validation pass plus decoding).
    """

    def __init__(self, dataset, vocab):
        super().__init__()
        self.dataset, self.vocab = dataset, vocab
        self._forward = None

    def on_epoch_end(self, epoch, logs=None):
        if self._forward is None:
            self._forward = inference_function(self.model)
        rows, _ = predict_dataset(self.model, self.dataset, self.vocab, forward=self._forward, with_loss=True)
        scores = error_rates([r["ref"] for r in rows], [r["hyp"] for r in rows])
        if logs is not None:
            logs["val_loss"] = float(np.mean([r["loss"] for r in rows]))
            logs["val_wer"] = scores["wer"]
            logs["val_cer"] = scores["cer"]


class Throughput(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (training part only) and ``audio_sec_per_sec`` to the epoch logs."""

    def __init__(self, audio_seconds_per_epoch):
        super().__init__()
        self.audio = audio_seconds_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        self._last = self._t0

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._last - self._t0
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["epoch_seconds"] = round(seconds, 2)
            logs["audio_sec_per_sec"] = round(self.audio / max(seconds, 1e-9), 1)


class TimeBudget(keras.callbacks.Callback):
    """Stops training before an epoch that would end past ``minutes`` of wall time."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60.0
        self.stopped_for_budget = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if now - self._start + (now - self._epoch_start) > self.seconds:
            self.stopped_for_budget = True
            self.model.stop_training = True


def best_from_log(log_path, key):
    if not log_path.exists():
        return None
    with open(log_path, newline="") as f:
        values = [float(r[key]) for r in csv.DictReader(f) if r.get(key) not in (None, "", "nan")]
    return min(values) if values else None


def _init_weights(model, source, features, vocab):
    """Start ``model`` from the weights of the recognizer at ``source`` (``train.init_from``).
    A resumed run then restores its own later weights from the backup over these."""
    try:
        donor, donor_features, donor_vocab = load_run(source)
    except ConfigError as e:
        raise ConfigError(f"train.init_from: {e}") from e
    if donor_features != features or donor_vocab.chars != vocab.chars:
        raise ConfigError(f"train.init_from: {source} was trained with other features or another vocabulary")
    try:
        model.set_weights(donor.get_weights())
    except ValueError as e:
        raise ConfigError(f"train.init_from: {source} has another model shape than model: in this config ({e})") from e
    print(f"weights initialised from {source}")


def _run_identity(config) -> dict:
    """The config as a run directory compares it: without train.strategy, so that a run can resume
    on other devices or another number of workers."""
    data = config_to_dict(config)
    data["train"].pop("strategy", None)
    return data


def _scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def train(config: ExperimentConfig, run_dir, force: bool = False, progress: bool = True, callbacks=()) -> dict:
    """Train a BiLSTM-CTC recognizer as ``config`` says, in ``run_dir``.

    ``callbacks``: extra Keras callbacks, run after the built-in ones (whose metrics they see).
    Resumes an interrupted run with the same config; a finished run is not redone unless
    ``force``. A run directory with a different config is refused (ConfigError); train.strategy
    may differ. ``train.strategy`` other than "default": see :mod:`speech_lstm.distribute`.
    Returns the training summary (also written to ``train_summary.json``).
    """
    run_dir = Path(run_dir)
    # First: MultiWorkerMirroredStrategy must start before TensorFlow runs anything in this process.
    strategy, role = make_strategy(config.train.strategy)
    if strategy is not None:
        print(f"train.strategy={config.train.strategy}: {strategy.num_replicas_in_sync} replica(s); "
              f"worker {role.index} of {role.count}{' (chief)' if role.is_chief else ''}")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path, summary_path = run_dir / "config.yaml", run_dir / "train_summary.json"
    if cfg_path.exists() and not force:
        previous = load_config(cfg_path)
        if _run_identity(previous) != _run_identity(config):
            raise ConfigError(
                f"{run_dir} holds a run with a different config; use another run directory or --force to start over"
            )
        if summary_path.exists():
            return json.loads(summary_path.read_text())
    if force and role.is_chief:
        for name in ("train_log.csv", "best.keras", "train_summary.json"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "backup", ignore_errors=True)
    chief_dir = run_dir
    if not role.is_chief:  # every worker runs the same callbacks; only the chief's files are kept
        run_dir = Path(tempfile.mkdtemp(prefix=f"speech_lstm_worker{role.index}_"))
        atexit.register(shutil.rmtree, run_dir, True)
        cfg_path, summary_path = run_dir / "config.yaml", run_dir / "train_summary.json"
    save_config(config, cfg_path)
    (run_dir / "env.json").write_text(json.dumps(environment_info(), indent=1))

    tc, fc = config.train, config.features
    keras.utils.set_random_seed(tc.seed)
    vocab = WordVocabulary(config.model.words) if config.model.words else Vocabulary()
    vocab.save(run_dir / "vocab.json")
    train_entries, dropped_train = prepare_entries(tc.train_manifest, vocab, tc.min_duration, tc.max_duration, "train")
    dev_entries, dropped_dev = prepare_entries(tc.dev_manifest, vocab, tc.min_duration, tc.max_duration, "dev")
    bucket_seconds = tuple(b for b in tc.bucket_seconds if b < tc.max_duration) + (tc.max_duration,)

    cache = store = None
    if tc.feature_store:
        store = FeatureStore(tc.feature_store)
        store.check_features(fc)
    if tc.feature_cache:
        warm_feature_cache((dev_entries if store else train_entries + dev_entries), fc, tc.feature_cache,
                           workers=min(2, os.cpu_count() or 1))
        cache = FeatureCache(tc.feature_cache, fc)
    train_ds = make_dataset(train_entries, fc, vocab, tc.batch_size, bucket_seconds, training=True, cache=cache,
                            spec_augment_on=tc.spec_augment,
                            spec_augment_params={"time_masks": tc.spec_time_masks, "time_width": tc.spec_time_width,
                                                 "freq_masks": tc.spec_freq_masks, "freq_width": tc.spec_freq_width},
                            shuffle_buffer=tc.shuffle_buffer, seed=tc.seed,
                            pad_to_edges=tc.jit_compile, store=store, shard_size=tc.shard_size,
                            cycle_length=tc.interleave)
    if strategy is not None:
        train_ds = shard_by_data(train_ds)
        if tc.batch_size < strategy.num_replicas_in_sync:
            raise ConfigError(f"train.batch_size ({tc.batch_size}) is the global batch and must be >= the number "
                              f"of replicas ({strategy.num_replicas_in_sync})")
    dev_eval = dev_entries[: tc.dev_eval_limit] if tc.dev_eval_limit else dev_entries
    dev_eval_ds = make_dataset(dev_eval, fc, vocab, tc.batch_size, bucket_seconds, training=False, cache=cache,
                               pad_to_edges=False)

    with _scope(strategy):
        model = build_ctc_asr(config.model, fc, vocab)
        if tc.init_from:
            _init_weights(model, tc.init_from, fc, vocab)
    steps_per_epoch = max(1, len(train_entries) // tc.batch_size)
    if tc.lr_schedule == "cosine":
        warmup = int(tc.warmup_epochs * steps_per_epoch)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            tc.learning_rate / 10, decay_steps=max(1, tc.epochs * steps_per_epoch - warmup), alpha=0.05,
            warmup_target=tc.learning_rate, warmup_steps=warmup)
        if not warmup:
            learning_rate = keras.optimizers.schedules.CosineDecay(tc.learning_rate, tc.epochs * steps_per_epoch,
                                                                   alpha=0.05)
    else:
        learning_rate = tc.learning_rate
    ema = {"use_ema": True, "ema_momentum": tc.ema_momentum} if tc.ema_momentum else {}
    optimizer = DistributedAdam if strategy is not None else keras.optimizers.Adam
    with _scope(strategy):
        model.compile(optimizer=optimizer(learning_rate, clipnorm=5.0, **ema), jit_compile=tc.jit_compile)
    multi_worker = tc.strategy == "multi-worker"

    log_path = run_dir / "train_log.csv"
    checkpoint = keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor="val_cer", mode="min",
                                                 save_best_only=True)
    previous_best = best_from_log(log_path, "val_cer")
    if previous_best is not None:  # resumed: do not let a worse epoch replace best.keras
        checkpoint.best = previous_best
    budget = TimeBudget(tc.max_minutes) if tc.max_minutes else None
    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True) if tc.ema_momentum else None
    if swap is not None and not force and backup_epoch(chief_dir / "backup") > 0:
        # The backup holds the swapped state (EMA weights in the model, raw ones in the optimizer);
        # SwapEMAWeights assumes a fresh start: tell it, so that the next epoch trains the raw weights.
        swap._ema_weights_in_model = True
    extra_callbacks, callbacks = callbacks, [
        # With EMA: the averaged weights are swapped in at each epoch end, so dev metrics,
        # best.keras and the backup all see them; the raw weights come back for training.
        *([swap] if swap is not None else []),
        DevMetrics(dev_eval_ds, vocab),
        *([AgreeOnLogs(strategy, ("val_loss", "val_wer", "val_cer"))] if multi_worker else []),
        Throughput(sum(float(e["duration"]) for e in train_entries)),
    ]
    if tc.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=tc.lr_factor,
                                                           patience=tc.lr_patience, min_lr=tc.learning_rate / 100))
    callbacks += [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=tc.early_stopping_patience),
        checkpoint,
        *([RestoreFromChief(strategy, chief_dir / "backup", role, fresh=force)] if multi_worker else []),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.CSVLogger(str(log_path), append=True),
    ]
    if budget:
        callbacks.append(budget)
    callbacks += list(extra_callbacks)
    if multi_worker:  # last, so that it sees every stop decision of the epoch
        callbacks.append(AgreeOnStop(strategy))
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=tc.epochs, callbacks=callbacks,
                        verbose=1 if progress and role.is_chief else 0)
    seconds = time.perf_counter() - t0
    if role.is_chief:
        plot_training_curves(log_path, run_dir / "training_curves.png", title=f"{run_dir.name}: BiLSTM-CTC")

    with open(log_path, newline="") as f:
        log = list(csv.DictReader(f))
    epoch_secs = [float(r["epoch_seconds"]) for r in log if r.get("epoch_seconds")]
    rates = [float(r["audio_sec_per_sec"]) for r in log if r.get("audio_sec_per_sec")]
    summary = {
        "epochs_completed": len(log),
        "stopped_for_time_budget": bool(budget and budget.stopped_for_budget),
        "fit_seconds_this_process": round(seconds, 1),
        "train_utterances": len(train_entries),
        "train_hours": round(sum(float(e["duration"]) for e in train_entries) / 3600, 3),
        "dropped_for_duration": {"train": dropped_train, "dev": dropped_dev},
        "median_epoch_seconds": round(float(np.median(epoch_secs)), 1) if epoch_secs else None,
        "median_audio_sec_per_sec": round(float(np.median(rates)), 1) if rates else None,
        "best_val_cer": best_from_log(log_path, "val_cer"),
        "best_val_wer": best_from_log(log_path, "val_wer"),
        "params": int(model.count_params()),
        "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
        "last_epoch_history": {k: float(v[-1]) for k, v in history.history.items() if v},
    }
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def resolve_model_path(path) -> Path:
    """A ``.keras`` file, or a run directory (its ``best.keras``)."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "best.keras"
        if not candidate.exists():
            raise ConfigError(f"{path}: run directory has no best.keras (has training finished an epoch?)")
        return candidate
    if path.suffix != ".keras" or not path.exists():
        raise ConfigError(f"--model must be a run directory or an existing .keras file, got {path}")
    return path


def load_run(path):
    """(model, FeatureConfig, Vocabulary) from a run directory or a .keras file (self-contained)."""
    model_path = resolve_model_path(path)
    try:
        model = keras.saving.load_model(str(model_path), custom_objects={"CTCASRModel": CTCASRModel})
    except Exception as e:
        raise ConfigError(f"{model_path}: cannot load the model ({e})") from e
    if not isinstance(model, CTCASRModel) or not model.feature_config or not model.vocabulary:
        raise ConfigError(f"{model_path}: not a speech_lstm recognizer (no feature config / vocabulary inside)")
    return model, feature_config_from_dict(model.feature_config), vocabulary_from_symbols(model.vocabulary)
