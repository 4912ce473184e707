"""Text-to-speech: eSpeak NG phonemizer and alignment, duration targets, the length regulator,
configs and errors, and a tiny corpus -> train -> synthesize run through the real CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.errors import ConfigError, ManifestError
from speech_lstm.tts.text import PhonemeInventory, Phonemizer, Token, align_events, frame_durations
from speech_lstm.tts.vocoder import MelSpec, griffin_lim, log_mel


def _espeak(text, voice="en-us"):
    from speech_lstm.data.espeak import ESpeak

    engine = ESpeak()
    engine.set_voice(voice)
    return engine.synthesize_with_phonemes(text)


def test_phonemizer_matches_the_synthesizer_and_the_inventory_round_trips(tmp_path):
    tokens = Phonemizer("en-us")("Hello world, how are you?")
    names = [t.phoneme for t in tokens]
    assert names[0] == "^" and names[-1] == "_?" and "_," in names
    assert names[1:5] == ["h", "@", "l", "'oU"]  # eSpeak NG's mnemonics, stress mark on the vowel
    assert tokens[4].base == "oU" and tokens[4].stress == 1 and tokens[4].word_position == 3
    assert tokens[1].word_position == 1 and tokens[2].word_position == 2
    audio, events = _espeak("Hello world, how are you?")
    starts = align_events(tokens, events, len(audio))
    assert starts is not None and starts[0] == 0 and starts[-1] == len(audio)
    assert np.all(np.diff(starts) >= 0) and len(starts) == len(tokens) + 1

    inventory = PhonemeInventory.from_tokens([tokens])
    inventory.save(tmp_path / "inventory.json")
    again = PhonemeInventory.load(tmp_path / "inventory.json")
    assert again.phonemes == inventory.phonemes
    ids = again.encode(tokens)
    assert ids.shape == (len(tokens), 3) and ids[:, 0].min() >= 1
    assert [again.phonemes[i - 1] for i in ids[:, 0]] == [t.base for t in tokens]
    # a phoneme the inventory never saw falls back to schwa's id, counted
    unknown = again.encode([Token("Q9", 2)])
    assert unknown[0, 0] == again.phonemes.index("@") + 1 and again.unknown_seen == 1
    with pytest.raises(ConfigError, match="not a phoneme inventory"):
        PhonemeInventory.load(tmp_path / "missing.json")


def test_alignment_refuses_a_different_phoneme_sequence():
    tokens = Phonemizer("en-us")("hello world")
    audio, events = _espeak("yellow world")
    assert align_events(tokens, events, len(audio)) is None


def test_duration_targets_sum_to_the_utterance_length():
    spec = MelSpec()
    text = "the twenty first of march at half past ten"
    tokens = Phonemizer("en-us")(text)
    audio, events = _espeak(text)
    mel = log_mel(audio.astype(np.float32) / 32768.0, spec)
    assert len(mel) == spec.num_frames(len(audio)) and mel.shape[1] == 80
    durations = frame_durations(align_events(tokens, events, len(audio)), spec.hop_length, len(mel))
    assert durations.sum() == len(mel) and durations.min() >= 0 and len(durations) == len(tokens)
    # vowels last longer than the stop closures around them
    by_name = {}
    for t, d in zip(tokens, durations):
        by_name.setdefault(t.base, []).append(d)
    assert np.mean(by_name["E"]) > np.mean(by_name["t"])
    # odd boundaries are clipped, never negative, and still sum up
    assert frame_durations(np.array([0, 900, 100, 5000]), 256, 10).tolist() == [4, 0, 6]


def test_griffin_lim_inverts_a_log_mel_to_audio_of_the_same_length():
    spec = MelSpec(gl_iters=8)
    audio, _ = _espeak("testing")
    mel = log_mel(audio.astype(np.float32) / 32768.0, spec)
    out = griffin_lim(mel, spec)
    assert out.dtype == np.float32 and abs(len(out) - len(audio)) < spec.hop_length and np.abs(out).max() <= 1.0
    assert np.array_equal(out, griffin_lim(mel, spec))  # seeded: the same mel gives the same audio
    with pytest.raises(ValueError, match="expected a log-mel of shape"):
        griffin_lim(mel[:, :40], spec)


def test_length_regulator_repeats_tokens_over_their_frames():
    import keras

    from speech_lstm.tts.model import LengthRegulator

    enc = np.arange(3, dtype=np.float32)[None, :, None] * np.ones((2, 3, 4), np.float32)
    durations = np.array([[2, 0, 3], [1, 1, 1]], np.int32)
    frames, mask = LengthRegulator(1)(enc, durations)
    frames, mask = np.asarray(frames), np.asarray(mask)
    assert frames.shape == (2, 5, 6)
    assert frames[0, :, 0].tolist() == [0, 0, 2, 2, 2]  # the 0-frame token is skipped
    assert frames[1, :3, 0].tolist() == [0, 1, 2] and mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    where = frames[0, :, 4]
    assert 0 < where[0] < where[1] <= 1 and 0 < where[2] < where[3] < where[4] <= 1
    frames2, mask2 = LengthRegulator(2)(enc, durations)  # a step per two frames: 3 steps for 5 frames
    assert np.asarray(frames2).shape == (2, 3, 6) and np.asarray(mask2)[1].tolist() == [True, True, False]
    layer = LengthRegulator.from_config(LengthRegulator(3, name="lr").get_config())
    assert layer.reduction == 3 and isinstance(layer, keras.layers.Layer)


def test_tts_config_errors_name_the_option(tmp_path):
    from speech_lstm.tts.training import load_tts_config

    path = tmp_path / "c.yaml"
    path.write_text("model:\n  reduction: 0\n")
    with pytest.raises(ConfigError, match="model.reduction must be >= 1"):
        load_tts_config(path)
    path.write_text("mel:\n  fmax: 20000\n")
    with pytest.raises(ConfigError, match="mel: need 0 <= fmin < fmax <= sample_rate / 2"):
        load_tts_config(path)
    path.write_text("corpus:\n  voices: en-us\n")
    with pytest.raises(ConfigError, match="unknown option.*corpus.voices"):
        load_tts_config(path)
    with pytest.raises(ConfigError, match="unknown option 'train.epoch'"):
        load_tts_config(Path(__file__).parent.parent / "recipes/tts/configs/debug.yaml", ["train.epoch=3"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_tts_config(tmp_path / "missing.yaml")


def test_broken_tts_manifests_are_refused(tmp_path):
    from speech_lstm.tts.corpus import read_tts_manifest

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(100, np.float32), 22050)
    good = {"audio_filepath": str(wav), "text": "a", "duration": 0.1, "phonemes": ["^", "a", "_."],
            "word_positions": [0, 4, 0], "starts": [0, 10, 50, 100]}
    bad = [{**good, "starts": [0, 10, 100]}, {**good, "starts": [0, 50, 10, 100]},
           {k: v for k, v in good.items() if k != "phonemes"}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [good, *bad]))
    with pytest.raises(ManifestError) as info:
        read_tts_manifest(path)
    message = str(info.value)
    assert "line 2: 3 phonemes, 3 word positions and 3 starts" in message
    assert "line 3: 'starts' must not decrease" in message and "line 4: needs 'phonemes'" in message


@pytest.mark.slow
def test_tiny_corpus_train_and_synthesize_through_the_cli(tmp_path, capsys):
    """The whole path on a tiny corpus: the corpus with alignments, both models trained (the
    CLI in this process), a sentence never seen spoken into a valid WAV of plausible length by
    ``speech-lstm tts synthesize`` in a fresh process, and bad input refused with exit 2."""
    from speech_lstm.cli import main
    from speech_lstm.tts.corpus import read_tts_manifest

    config = tmp_path / "tiny.yaml"
    config.write_text(
        "corpus: {num_train: 24, num_dev: 4, num_test: 2, max_words: 6}\n"
        "model: {phoneme_dim: 16, duration_units: 16, duration_layers: 1, encoder_units: 16, decoder_units: 24,\n"
        "        decoder_layers: 1, reduction: 2, postnet_layers: 1, postnet_channels: 16}\n"
        f"train: {{train_manifest: {tmp_path}/corpus/train.jsonl, dev_manifest: {tmp_path}/corpus/dev.jsonl,\n"
        f"         test_manifest: {tmp_path}/corpus/test.jsonl, batch_size: 8, epochs: 2, duration_epochs: 8}}\n")
    assert main(["tts", "corpus", "--config", str(config), "--out", str(tmp_path / "corpus"), "--quiet"]) == 0
    train = read_tts_manifest(tmp_path / "corpus" / "train.jsonl")
    assert len(train) >= 22 and all(abs(e["starts"][-1] - e["duration"] * 22050) < 2 for e in train)
    test_texts = {e["text"] for e in read_tts_manifest(tmp_path / "corpus" / "test.jsonl")}
    assert test_texts and not {e["text"] for e in train} & test_texts  # split by sentence

    run = tmp_path / "run"
    assert main(["tts", "train", "--config", str(config), "--run-dir", str(run), "--quiet"]) == 0
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["acoustic_model"]["epochs"] == 2 and (run / "training_curves.png").stat().st_size > 10_000

    text = "a brand new sentence"
    out = tmp_path / "speech.wav"
    r = subprocess.run([sys.executable, "-m", "speech_lstm", "tts", "synthesize", text, "--model", str(run),
                        "--out", str(out), "--plot", str(tmp_path / "mel.png")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    audio, rate = sf.read(out)
    reference, _ = _espeak(text)
    assert rate == 22050 and audio.ndim == 1 and np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.01
    # plausible: the duration model (barely trained) still gives a length of the right order
    assert 0.25 < len(audio) / len(reference) < 4.0 and info["seconds"] == pytest.approx(len(audio) / rate, abs=0.01)
    assert (tmp_path / "mel.png").stat().st_size > 10_000

    lines = tmp_path / "lines.txt"
    lines.write_text("first line here\n\nand a second, longer line\n")
    assert main(["tts", "synthesize", "--text-file", str(lines), "--model", str(run), "--out", str(tmp_path / "many")]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["0001.wav", "0002.wav"]
    assert sf.info(tmp_path / "many" / "0002.wav").duration > sf.info(tmp_path / "many" / "0001.wav").duration

    capsys.readouterr()
    assert main(["tts", "synthesize", text, "--text-file", str(lines), "--model", str(run), "--out", str(out)]) == 2
    assert "give a text or --text-file" in capsys.readouterr().err
    assert main(["tts", "synthesize", text, "--model", str(run), "--out", str(tmp_path / "speech.mp3")]) == 2
    assert "expected a .wav or .flac" in capsys.readouterr().err
    assert main(["tts", "synthesize", text, "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "not a trained TTS run directory (missing tts.json" in capsys.readouterr().err
