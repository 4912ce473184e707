"""Slow tier: train a tiny recognizer until it overfits a few dozen real utterances, then use it
through the library and the real command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.config import ExperimentConfig, FeatureConfig, ModelConfig, TrainConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "speech_lstm", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def overfit_run(digits_corpus, tmp_path_factory):
    from speech_lstm.training import train

    run_dir = tmp_path_factory.mktemp("run")
    train_manifest = str(digits_corpus["train"])
    config = ExperimentConfig(
        features=FeatureConfig(),
        model=ModelConfig(subsample="stack", subsample_factor=2, lstm_layers=1, lstm_units=96, dropout=0.0),
        train=TrainConfig(train_manifest=train_manifest, dev_manifest=train_manifest, test_manifest=train_manifest,
                          batch_size=8, epochs=35, learning_rate=8e-3, lr_patience=20, early_stopping_patience=35,
                          jit_compile=False, bucket_seconds=(2.0, 4.0), max_duration=6.0, spec_augment=False,
                          feature_cache=str(run_dir / "cache"), seed=0),
    )
    summary = train(config, run_dir, progress=False)
    return run_dir, summary


def test_overfits_and_reproduces_transcripts(overfit_run, digits_corpus):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.evaluate import evaluate_model
    from speech_lstm.training import load_run

    run_dir, summary = overfit_run
    assert summary["last_epoch_history"]["loss"] < 3.0
    model, fc, vocab = load_run(run_dir)
    entries = read_manifest(digits_corpus["train"])
    results = evaluate_model(model, entries, fc, vocab, batch_size=8)
    assert results["wer"] == 0.0, results["worst"]
    for name in ("config.yaml", "env.json", "vocab.json", "train_log.csv", "best.keras", "training_curves.png"):
        assert (run_dir / name).exists(), name
    assert "tensorflow" in json.loads((run_dir / "env.json").read_text())


def test_finished_run_is_not_redone_and_other_config_is_refused(overfit_run):
    from speech_lstm.config import apply_overrides, load_config
    from speech_lstm.errors import ConfigError
    from speech_lstm.training import train

    run_dir, summary = overfit_run
    config = load_config(run_dir / "config.yaml")
    assert train(config, run_dir, progress=False) == summary
    with pytest.raises(ConfigError, match="different config"):
        train(apply_overrides(config, ["train.epochs=3"]), run_dir, progress=False)


def test_cli_transcribe_reports_bad_files_and_keeps_going(overfit_run, digits_corpus, tmp_path):
    from speech_lstm.data.manifest import read_manifest

    run_dir, _ = overfit_run
    entries = read_manifest(digits_corpus["train"])[:2]
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio")
    # A 44.1 kHz stereo FLAC copy of a training utterance: resampled and downmixed on load.
    data, sr = sf.read(entries[1]["audio_filepath"])
    import soxr

    flac = tmp_path / "copy.flac"
    sf.write(flac, np.stack([soxr.resample(data, sr, 44100)] * 2, axis=1), 44100)
    r = cli("transcribe", entries[0]["audio_filepath"], bad, tmp_path / "missing.wav", flac,
            "--model", run_dir / "best.keras", "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    assert "broken.wav: not a readable audio file" in r.stderr
    assert "missing.wav: file not found" in r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["text"] for row in rows] == [entries[0]["text"], entries[1]["text"]]
    assert rows[0]["words"] and rows[0]["words"][0]["start"] <= rows[0]["words"][-1]["end"] <= rows[0]["duration"]
    ok = cli("transcribe", entries[0]["audio_filepath"], "--model", run_dir)
    assert ok.returncode == 0 and ok.stdout.strip() == entries[0]["text"]
    beam = cli("transcribe", entries[0]["audio_filepath"], "--model", run_dir, "--beam-width", "4",
               "--top-paths", "2", "--format", "jsonl")
    assert beam.returncode == 0 and len(json.loads(beam.stdout)["nbest"]) == 2


def test_cli_evaluate_writes_results(overfit_run, digits_corpus, tmp_path):
    run_dir, _ = overfit_run
    r = cli("evaluate", "--model", run_dir, "--manifest", digits_corpus["train"], "--out-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    results = json.loads((tmp_path / "results.json").read_text())["train"]  # named after the manifest
    assert results["wer"] == 0.0 and results["rtf"] > 0
    assert "| train |" in (tmp_path / "RESULTS.md").read_text()
    # results of another manifest never silently replace them
    r = cli("evaluate", "--model", run_dir, "--manifest", digits_corpus["test"], "--out-dir", tmp_path, "--name", "train")
    assert r.returncode == 2 and "already holds results 'train'" in r.stderr and "--name" in r.stderr
    assert json.loads((tmp_path / "results.json").read_text())["train"] == results


def test_export_of_a_trained_model_reproduces_its_transcripts(overfit_run, digits_corpus, tmp_path):
    """A trained model exported and served where speech_lstm is never imported: same transcripts
    as the Keras model (which gets every one of them right)."""
    from speech_lstm.data.manifest import read_manifest

    run_dir, _ = overfit_run
    entries = read_manifest(digits_corpus["train"])
    export = tmp_path / "export"
    assert cli("export", run_dir, "--out", export).returncode == 0
    script = tmp_path / "serve.py"
    script.write_text(
        "import json, sys\n"
        "import numpy as np, soundfile as sf, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "texts = []\n"
        "for p in sys.argv[2:]:\n"
        "    w = sf.read(p, dtype='float32')[0]\n"
        "    out = m.signatures['serving_default'](waveform=tf.constant(w[None]), lengths=tf.constant([len(w)]))\n"
        "    texts.append(out['text'].numpy()[0].decode())\n"
        "assert not any(n.startswith('speech_lstm') for n in sys.modules)\n"
        "print(json.dumps(texts))\n")
    r = subprocess.run([sys.executable, str(script), str(export), *[e["audio_filepath"] for e in entries]],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [e["text"] for e in entries]
