"""The LibriSpeech recipe end to end on a small folder in LibriSpeech's layout (eSpeak NG speech as FLAC)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from speech_lstm.data.manifest import read_manifest

RECIPE = Path(__file__).parent.parent / "recipes" / "librispeech" / "run.py"


def _librispeech_layout(root: Path, splits: dict):
    """``root/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac`` + ``*.trans.txt``."""
    for subset, entries in splits.items():
        for n, e in enumerate(entries):
            speaker, chapter = 100 + n % 2, 7
            folder = root / subset / str(speaker) / str(chapter)
            folder.mkdir(parents=True, exist_ok=True)
            uid = f"{speaker}-{chapter}-{n:04d}"
            audio, sr = sf.read(e["audio_filepath"], dtype="float32")
            sf.write(folder / f"{uid}.flac", audio, sr, format="FLAC")
            with open(folder / f"{speaker}-{chapter}.trans.txt", "a") as f:
                f.write(f"{uid} {e['text'].upper()}\n")


@pytest.mark.slow
def test_librispeech_recipe_runs_every_stage(digits_corpus, tmp_path):
    source = tmp_path / "LibriSpeech"
    _librispeech_layout(source, {"train-clean-100": read_manifest(digits_corpus["train"]),
                                 "dev-clean": read_manifest(digits_corpus["dev"]),
                                 "test-clean": read_manifest(digits_corpus["test"])})
    out = tmp_path / "work"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(RECIPE), "--source", str(source), "--out", str(out), "--config", "debug"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    train = read_manifest(out / "data" / "librispeech" / "train-clean-100.jsonl")
    assert len(train) == 24 and train[0]["text"] == train[0]["text"].lower()
    index = json.loads((out / "data" / "store" / "train-clean-100" / "index.json").read_text())
    assert index["utterances"] == 24 and len(index["shards"]) == 6
    results = json.loads((out / "exp" / "debug" / "results.json").read_text())
    assert {"dev", "dev_lm", "test", "test_lm"} <= set(results)
    assert (out / "exp" / "debug" / "export" / "saved_model.pb").exists()
    assert json.loads((out / "exp" / "debug" / "export_check.json").read_text())["utterances"] == 4

    (source / "dev-clean").rename(source / "dev-other")  # a wrong layout is named, nothing trained
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "dev-clean" in bad.stderr
