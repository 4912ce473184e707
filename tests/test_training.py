"""Training-loop behaviour on a tiny model: run directory contents and resume after a crash."""

import csv

import keras
import pytest

from speech_lstm.config import ExperimentConfig, ModelConfig, TrainConfig
from speech_lstm.training import load_run, train


class Crash(keras.callbacks.Callback):
    """Simulates a killed process at the end of an epoch (after the backup was written)."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated crash")


def tiny_config(corpus, run_dir, **train_kw):
    m = str(corpus["train"])
    return ExperimentConfig(
        model=ModelConfig(subsample="stack", subsample_factor=2, lstm_layers=1, lstm_units=16, dropout=0.0),
        train=TrainConfig(train_manifest=m, dev_manifest=str(corpus["dev"]), test_manifest=m, batch_size=8,
                          jit_compile=False, bucket_seconds=(4.0,), max_duration=6.0,
                          feature_cache=str(run_dir / "cache"), early_stopping_patience=10,
                          **{"epochs": 4, **train_kw}),
    )


def _epochs(run_dir):
    with open(run_dir / "train_log.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_killed_run_resumes_where_it_stopped(digits_corpus, tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_config(digits_corpus, run_dir, lr_schedule="cosine")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, run_dir, progress=False, callbacks=[Crash(at_epoch=1)])
    assert _epochs(run_dir) == [0, 1]
    assert (run_dir / "backup").exists() and not (run_dir / "train_summary.json").exists()
    summary = train(config, run_dir, progress=False)
    assert _epochs(run_dir) == [0, 1, 2, 3]  # epochs 2 and 3 only were run the second time
    assert summary["epochs_completed"] == 4
    assert not (run_dir / "backup").exists()
    model, fc, vocab = load_run(run_dir / "best.keras")
    assert fc == config.features and vocab.size == model.vocab_size


def test_time_budget_stops_early(digits_corpus, tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_config(digits_corpus, run_dir, max_minutes=0.001)
    summary = train(config, run_dir, progress=False)
    assert summary["stopped_for_time_budget"] and summary["epochs_completed"] == 1


def test_init_from_starts_with_the_donor_weights(digits_corpus, tmp_path):
    """train.init_from: the first epoch of the new run starts from the donor's weights (its dev
    weights are the donor's); another shape or a missing file is refused, naming the option."""
    import numpy as np

    from speech_lstm.errors import ConfigError

    donor_dir = tmp_path / "donor"
    train(tiny_config(digits_corpus, donor_dir, epochs=2), donor_dir, progress=False)
    donor, _, _ = load_run(donor_dir)

    seen = {}

    class FirstWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["weights"] = [w.copy() for w in self.model.get_weights()]

    run_dir = tmp_path / "run"
    train(tiny_config(digits_corpus, run_dir, epochs=1, init_from=str(donor_dir)), run_dir, progress=False,
          callbacks=[FirstWeights()])
    assert all(np.array_equal(a, b) for a, b in zip(seen["weights"], donor.get_weights()))

    bigger = tiny_config(digits_corpus, tmp_path / "other", init_from=str(donor_dir / "best.keras"))
    bigger = ExperimentConfig(model=ModelConfig(**{**bigger.model.__dict__, "lstm_units": 24}), train=bigger.train)
    with pytest.raises(ConfigError, match="train.init_from: .*another model shape"):
        train(bigger, tmp_path / "other", progress=False)
    with pytest.raises(ConfigError, match="train.init_from: .*missing"):
        train(tiny_config(digits_corpus, tmp_path / "x", init_from=str(tmp_path / "missing.keras")), tmp_path / "x",
              progress=False)


@pytest.mark.slow
def test_word_level_model_trains_exports_and_transcribes_words(digits_corpus, tmp_path):
    """A word-level CTC output (closed vocabulary): trains on the same manifests, and its export
    and the Keras model can only ever write words of the list, with one time span per word."""
    from speech_lstm.config import DecodeOptions
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.export import export_saved_model
    from speech_lstm.text import WordVocabulary
    from speech_lstm.transcribe import load_recognizer, transcribe_files

    words = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    run_dir = tmp_path / "run"
    base = tiny_config(digits_corpus, run_dir)
    config = ExperimentConfig(model=ModelConfig(**{**base.model.__dict__, "words": words}), train=base.train)
    train(config, run_dir, progress=False)
    model, _, vocab = load_run(run_dir)
    assert isinstance(vocab, WordVocabulary) and vocab.words == list(words) and model.vocab_size == 12
    export = export_saved_model(run_dir, tmp_path / "export")
    paths = [e["audio_filepath"] for e in read_manifest(digits_corpus["test"])]
    for rec in (load_recognizer(run_dir), load_recognizer(export)):
        assert isinstance(rec.vocab, WordVocabulary)
        for _, result in transcribe_files(rec, paths, DecodeOptions(), progress=False):
            assert set(result.text.split()) <= set(words)
            assert [w.word for w in result.words] == result.text.split()
            assert all(w.start <= w.end for w in result.words)
    with pytest.raises(Exception, match="model.words"):
        ModelConfig(words=("two words",))
