"""Runs training in a fresh process for tests/test_distributed.py (tf.distribute needs one: logical
devices and collective ops are set up before TensorFlow starts).

    python tests/distributed_helper.py worker CONFIG RUN_DIR OUT
        one worker of a multi-worker run (TF_CONFIG in the environment): trains CONFIG in RUN_DIR
        with train.strategy=multi-worker; writes OUT.npz (final weights) and OUT.json (summary).
    python tests/distributed_helper.py mirrored CONFIG OUT_DIR
        makes two logical CPU devices, then trains CONFIG with strategy 'default' and 'mirrored'
        (run directories OUT_DIR/default and OUT_DIR/mirrored); writes <strategy>.npz and .json there.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _train(config_path, strategy, run_dir, out):
    import keras
    import numpy as np

    from speech_lstm.config import load_config
    from speech_lstm.training import train

    final = {}

    class FinalWeights(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            final["weights"] = self.model.get_weights()

    config = load_config(config_path, [f"train.strategy={strategy}"])
    summary = train(config, run_dir, progress=False, callbacks=[FinalWeights()])
    np.savez(f"{out}.npz", *final["weights"])
    with open(f"{out}.json", "w") as f:
        json.dump(summary, f)


def main(argv):
    mode, config_path = argv[0], argv[1]
    if mode == "worker":
        _train(config_path, "multi-worker", argv[2], argv[3])
    elif mode == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        for strategy in ("default", "mirrored"):
            _train(config_path, strategy, os.path.join(argv[2], strategy), os.path.join(argv[2], strategy))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
