"""The real command line, in subprocesses: usage errors exit 2, failed inputs exit 1."""

import json
import subprocess
import sys

import pytest


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "speech_lstm", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("synth-digits", "validate", "train", "evaluate", "transcribe", "export", "gates"):
        assert cmd in r.stdout


def test_conflicting_flags_are_usage_errors(tmp_path):
    r = cli("transcribe", "x.wav", "--model", tmp_path, "--top-paths", "3")
    assert r.returncode == 2 and "--top-paths needs --beam-width" in r.stderr
    r = cli("transcribe", "x.wav", "--model", tmp_path, "--beam-width", "0")
    assert r.returncode == 2 and "--beam-width must be >= 1" in r.stderr


def test_train_rejects_unknown_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {epochs: 1}\n")
    r = cli("train", "--config", cfg, "--run-dir", tmp_path / "run", "--set", "train.epoch=3")
    assert r.returncode == 2 and "unknown option 'train.epoch'" in r.stderr


def test_train_names_a_missing_manifest(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train: {{train_manifest: {tmp_path / 'nope.jsonl'}}}\n")
    r = cli("train", "--config", cfg, "--run-dir", tmp_path / "run")
    assert r.returncode == 1 and "manifest not found" in r.stderr and "nope.jsonl" in r.stderr


def test_transcribe_with_a_non_model(tmp_path):
    r = cli("transcribe", "x.wav", "--model", tmp_path)
    assert r.returncode == 2 and "no best.keras" in r.stderr


def test_synth_and_validate(tmp_path):
    out = tmp_path / "corpus"
    r = cli("synth-digits", "--out", out, "--num-train", 6, "--num-dev", 2, "--num-test", 2, "--workers", 1, "--quiet",
            "--channel-prob", 1, "--pause-prob", 1, "--random-voices", 2)
    assert r.returncode == 0, r.stderr
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert all("channel" in e and "read" in e for e in train) and any(e["speaker"].startswith("rv") for e in train)
    r = cli("synth-digits", "--out", tmp_path / "x", "--random-voices", 500, "--quiet")
    assert r.returncode == 2 and "random_voices" in r.stderr and "0..200" in r.stderr
    r = cli("synth-digits", "--engine", "flite", "--out", tmp_path / "y", "--channel-prob", 0.5, "--quiet")
    assert r.returncode == 2 and "--channel-prob" in r.stderr
    r = cli("validate", out / "train.jsonl", out / "test.jsonl", "--decode-audio")
    assert r.returncode == 0 and "6 entries" in r.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"audio_filepath": "gone.wav", "text": "one", "duration": 1.0}) + "\n")
    r = cli("validate", out / "train.jsonl", bad)
    assert r.returncode == 1 and "gone.wav: file not found" in r.stderr and "6 entries" in r.stdout


@pytest.mark.slow
def test_music_train_evaluate_generate_on_a_jsb_file(tmp_path):
    """The music commands on a small file in the public JSB JSON format."""
    rng = __import__("numpy").random.default_rng(0)
    piece = lambda n: [sorted({int(p) for p in 48 + rng.integers(0, 24, size=4)}) for _ in range(n)]  # noqa: E731
    jsb = tmp_path / "jsb.json"
    jsb.write_text(json.dumps({"train": [piece(12) for _ in range(6)], "valid": [piece(10)], "test": [piece(10)]}))
    cfg = tmp_path / "music.yaml"
    cfg.write_text("roll: {units: 8, epochs: 2, batch_size: 4}\n")
    r = cli("music", "train", "--config", cfg, "--model", "roll", "--run-dir", tmp_path / "run", "--jsb", jsb, "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    r = cli("music", "evaluate", "--model", tmp_path / "run", "--jsb", jsb)
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 9
    r = cli("music", "generate", "--model", tmp_path / "run", "--out", tmp_path / "gen", "--frames", "8")
    assert r.returncode == 0 and (tmp_path / "gen" / "sample_00.mid").exists() and (tmp_path / "gen" / "sample_00.wav").exists()
    from speech_lstm.cli import main

    assert main(["music", "train", "--config", str(cfg), "--model", "pitch", "--run-dir", str(tmp_path / "r2"),
                 "--jsb", str(jsb)]) == 2  # the config has no 'pitch' section
