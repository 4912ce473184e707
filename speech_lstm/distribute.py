"""Data-parallel training with tf.distribute: the strategy ``train.strategy`` names, which worker
is the chief, and what keeps Keras 3's ``fit`` identical on every replica and worker.

- "default": no tf.distribute, one device.
- "mirrored": ``tf.distribute.MirroredStrategy`` over the local GPUs (else the logical CPU devices).
- "multi-worker": ``tf.distribute.MultiWorkerMirroredStrategy`` over the machines that the
  ``TF_CONFIG`` environment variable lists; worker 0 is the chief.

Batches: every worker builds the same global batches (``train.batch_size`` utterances) and
tf.data's DATA auto-sharding hands each replica its slice of each one, so a step sees the same
utterances whatever the number of replicas. The loss is the mean over the global batch
(:meth:`CTCASRModel.compute_loss`); gradients are summed across replicas and then clipped
(:class:`DistributedAdam`). Callbacks that decide something (stop, reduce the learning rate,
keep a checkpoint) see the same numbers on every worker (:class:`AgreeOnLogs`, :class:`AgreeOnStop`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import keras

from speech_lstm.errors import ConfigError

__all__ = [
    "WorkerRole",
    "read_tf_config",
    "make_strategy",
    "shard_by_data",
    "agree",
    "DistributedAdam",
    "AgreeOnLogs",
    "AgreeOnStop",
    "RestoreFromChief",
    "backup_epoch",
]

_TF_CONFIG_HELP = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:port", "host1:port"]}, '
                   '"task": {"type": "worker", "index": 0}}\' (docs/distributed.md)')


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in training: worker ``index`` of ``count``; worker 0 is the chief,
    the only one whose files (run directory) are kept."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def read_tf_config(environ=None) -> WorkerRole:
    """This worker's role from the ``TF_CONFIG`` environment variable (JSON with
    ``cluster.worker``: the "host:port" of every worker, and ``task``: ``{"type": "worker",
    "index": i}``). ConfigError naming TF_CONFIG when it is missing or malformed."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not raw:
        raise ConfigError(f"train.strategy='multi-worker' needs the TF_CONFIG environment variable, e.g. "
                          f"{_TF_CONFIG_HELP}")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e}); expected {_TF_CONFIG_HELP}") from e
    cluster = data.get("cluster") if isinstance(data, dict) else None
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ConfigError(f"TF_CONFIG needs cluster.worker, a list of 'host:port' addresses, got {workers!r}; "
                          f"expected {_TF_CONFIG_HELP}")
    others = sorted(set(cluster) - {"worker"})
    if others:
        raise ConfigError(f"TF_CONFIG: only cluster.worker is supported (worker 0 is the chief), got {others}")
    task = data.get("task")
    if not isinstance(task, dict) or task.get("type") != "worker":
        raise ConfigError(f"TF_CONFIG needs task.type 'worker', got task {task!r}; expected {_TF_CONFIG_HELP}")
    index = task.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise ConfigError(f"TF_CONFIG needs task.index, this worker's position in cluster.worker "
                          f"(0..{len(workers) - 1}), got {index!r}")
    return WorkerRole(index, len(workers))


def make_strategy(name: str):
    """``(strategy, WorkerRole)`` for ``train.strategy`` ``name``; strategy None for "default".

    Call it before TensorFlow runs anything else in the process: MultiWorkerMirroredStrategy
    configures the collective ops at start-up.
    """
    import tensorflow as tf

    if name == "default":
        return None, WorkerRole()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices), WorkerRole()
    if name != "multi-worker":
        raise ConfigError(f"train.strategy must be 'default', 'mirrored' or 'multi-worker', got {name!r}")
    role = read_tf_config()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"train.strategy='multi-worker': cannot start the strategy ({e}); start training in a "
                          "fresh process, before anything else uses TensorFlow") from e
    return strategy, role


def shard_by_data(dataset):
    """``dataset`` (global batches) with DATA auto-sharding: every worker reads the same global
    batches and keeps its replicas' slices (the tf.data default would shard a feature store's
    files instead, giving each worker other utterances and steps)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def agree(strategy, values, op="MEAN") -> list[float]:
    """``values`` (floats) reduced over every replica of every worker (``op``: "MEAN" or "SUM"):
    the same numbers everywhere. A collective: every worker must call it."""
    import tensorflow as tf

    local = tf.constant([float(v) for v in values], tf.float32)
    per_replica = strategy.run(tf.function(lambda: tf.identity(local)))
    return [float(v) for v in strategy.reduce(op, per_replica, axis=None).numpy()]


@keras.saving.register_keras_serializable(package="speech_lstm")
class DistributedAdam(keras.optimizers.Adam):
    """Adam whose gradient clipping sees the global gradient under tf.distribute.

    Keras 3 clips each replica's gradient before the cross-replica sum, so with R replicas
    ``clipnorm`` bounds R partial gradients instead of their sum (the clip loosens R-fold). Here
    the sum comes first, then the clip: R replicas take the steps one device takes on the same
    global batch. Without a strategy (or with one replica) it is Adam.
    """

    @staticmethod
    def _replicas():
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        return context if context is not None and context.num_replicas_in_sync > 1 else None

    def _clip_gradients(self, grads):
        context = self._replicas()
        if context is not None:
            import tensorflow as tf

            present = [i for i, g in enumerate(grads) if g is not None]
            summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
            grads = list(grads)
            for i, g in zip(present, summed):
                grads[i] = g
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self._replicas() is not None:
            return list(grads_and_vars)  # summed in _clip_gradients
        return super()._all_reduce_sum_gradients(grads_and_vars)


class AgreeOnLogs(keras.callbacks.Callback):
    """Replaces the epoch logs ``keys`` by their mean over the workers, so that every worker's
    EarlyStopping, ReduceLROnPlateau and ModelCheckpoint decide alike (dev metrics are computed
    on each worker; floating-point differences between machines must not split the decisions)."""

    def __init__(self, strategy, keys):
        super().__init__()
        self.strategy, self.keys = strategy, tuple(keys)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        keys = [k for k in self.keys if k in logs]
        for key, value in zip(keys, agree(self.strategy, [logs[k] for k in keys])):
            logs[key] = value


class AgreeOnStop(keras.callbacks.Callback):
    """Stops every worker when any worker's callbacks stopped training this epoch (a time budget
    reads each worker's own clock): a worker that went on alone would wait for the others forever."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch, logs=None):
        (stop,) = agree(self.strategy, [float(bool(self.model.stop_training))])
        self.model.stop_training = stop > 0


def backup_epoch(backup_dir) -> int:
    """The epoch a BackupAndRestore directory resumes at (0: no backup)."""
    path = Path(backup_dir) / "training_metadata.json"
    return int(json.loads(path.read_text())["epoch"]) if path.exists() else 0


class RestoreFromChief(keras.callbacks.Callback):
    """Multi-worker resume: a worker that is not the chief restores weights, optimizer state and
    epoch from the chief's backup (``backup_dir``, in the shared run directory; its own backups go to
    a throwaway directory). Then every worker checks that all resumed at the same epoch: a run
    directory that the workers do not share is refused rather than trained out of step."""

    def __init__(self, strategy, backup_dir, role: WorkerRole, fresh: bool = False):
        super().__init__()
        self.strategy, self.backup_dir, self.role, self.fresh = strategy, Path(backup_dir), role, fresh

    def on_train_begin(self, logs=None):
        epoch = 0
        if not self.fresh:  # fresh (--force): the chief has deleted its backup, nobody restores
            if not self.role.is_chief:  # the chief's own BackupAndRestore restores it
                reader = keras.callbacks.BackupAndRestore(str(self.backup_dir), delete_checkpoint=False)
                reader.set_model(self.model)
                reader.on_train_begin(logs)
            epoch = backup_epoch(self.backup_dir)
        mean, mean_square = agree(self.strategy, [epoch, epoch * epoch])
        if mean_square - mean * mean > 1e-3:  # the same decision on every worker
            raise ConfigError(f"the workers would resume at different epochs (this one at {epoch}, mean {mean:g}): "
                              f"every worker must see the chief's run directory ({self.backup_dir.parent}) on a "
                              "shared file system (docs/distributed.md)")
