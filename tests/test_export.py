"""The SavedModel export: in-graph MFCC vs librosa, the signatures in a process that never imports
speech_lstm, atomic writes, and the export's recognizer interface."""

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.config import DecodeOptions, FeatureConfig
from speech_lstm.ctc import ctc_beam_decode, ctc_greedy_decode
from speech_lstm.data.manifest import read_manifest
from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.export import ExportedRecognizer, export_saved_model, pad_batch
from speech_lstm.features import compute_mfcc, tf_mfcc
from speech_lstm.text import Vocabulary


def _corpus_waves(digits_corpus, n=8):
    return [sf.read(e["audio_filepath"], dtype="float32")[0] for e in read_manifest(digits_corpus["test"])[:n]]


def test_in_graph_mfcc_matches_librosa_on_real_speech(digits_corpus):
    waves = _corpus_waves(digits_corpus)
    batch, lengths = pad_batch(waves)  # different lengths: padding must not leak into any example
    feats, frames = tf_mfcc(batch, lengths, FeatureConfig())
    for i, w in enumerate(waves):
        ref = compute_mfcc(w, FeatureConfig())
        assert frames[i] == ref.shape[0]
        assert np.abs(feats[i, : frames[i]].numpy() - ref).max() < 1e-3
        assert not feats[i, frames[i]:].numpy().any()


@pytest.mark.parametrize("config", [FeatureConfig(deltas=1, normalize="none", top_db=None, fmax=7000.0),
                                    FeatureConfig(sample_rate=8000, n_fft=256, n_mels=24, n_mfcc=10, normalize="none"),
                                    FeatureConfig(kind="logmel", n_mels=32, deltas=1),
                                    FeatureConfig(kind="logmel", deltas=0, normalize="none")])
def test_in_graph_mfcc_follows_the_feature_config(digits_corpus, config):
    import soxr

    waves = [soxr.resample(w, 16000, config.sample_rate).astype(np.float32) for w in _corpus_waves(digits_corpus, 3)]
    feats, frames = tf_mfcc(*pad_batch(waves), config)
    for i, w in enumerate(waves):
        ref = compute_mfcc(w, config)
        assert feats.shape[-1] == config.feature_dim == ref.shape[1]
        np.testing.assert_allclose(feats[i, : frames[i]].numpy(), ref, rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("samples", [400, 1000, 1300, 1500])  # 3, 7, 9 and 10 frames: the short-delta cases
def test_in_graph_mfcc_on_very_short_input(digits_corpus, samples):
    w = _corpus_waves(digits_corpus, 1)[0]
    w = w[len(w) // 2: len(w) // 2 + samples]  # from the middle: speech, not silence
    config = FeatureConfig(normalize="none")
    feats, frames = tf_mfcc(*pad_batch([w, np.ones(2000, np.float32) * 0.1]), config)
    ref = compute_mfcc(w, config)
    np.testing.assert_allclose(feats[0, : frames[0]].numpy(), ref, rtol=1e-4, atol=2e-3)


_CLEAN_PROCESS = textwrap.dedent('''
    import json, sys
    import numpy as np, soundfile as sf, tensorflow as tf
    export, out, *wavs = sys.argv[1:]
    m = tf.saved_model.load(export)
    waves = [sf.read(p, dtype="float32")[0] for p in wavs]
    lengths = np.array([len(w) for w in waves], np.int32)
    batch = np.zeros((len(waves), lengths.max()), np.float32)
    for i, w in enumerate(waves):
        batch[i, :len(w)] = w
    g = m.signatures["serving_default"](waveform=tf.constant(batch), lengths=tf.constant(lengths))
    b = m.signatures["beam_search"](waveform=tf.constant(batch), lengths=tf.constant(lengths))
    meta = json.loads(open(export + "/assets/speech_lstm.json").read())
    assert not any(name.startswith("speech_lstm") for name in sys.modules)
    np.savez(out, **{k: v.numpy() for k, v in {**g, **b}.items()}, sample_rate=meta["sample_rate"])
''')


def test_export_runs_in_a_process_without_speech_lstm(tiny_export, tiny_model_path, digits_corpus, tmp_path):
    from speech_lstm.training import load_run
    from speech_lstm.transcribe import Recognizer

    wavs = [e["audio_filepath"] for e in read_manifest(digits_corpus["test"])[:4]]
    script = tmp_path / "serve.py"
    script.write_text(_CLEAN_PROCESS)
    r = subprocess.run([sys.executable, str(script), str(tiny_export), str(tmp_path / "out.npz"), *wavs],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = np.load(tmp_path / "out.npz", allow_pickle=True)  # string arrays are object arrays
    vocab = Vocabulary()
    # The in-graph decoders agree with the numpy / Keras ones on the export's own logits.
    greedy = ctc_greedy_decode(out["logits"], out["logit_lengths"])
    beams = ctc_beam_decode(out["logits"], out["logit_lengths"], beam_width=4, top_paths=2)
    assert sum(len(h.ids) for h in greedy) > 10  # an untrained model emits plenty of characters to compare
    for i, h in enumerate(greedy):
        n = len(h.ids)
        assert out["text"][i].decode() == vocab.decode_words(h.ids)
        assert list(out["char_ids"][i, :n]) == h.ids and (out["char_ids"][i, n:] == -1).all()
        assert list(out["char_frames"][i, :n]) == h.frames
        np.testing.assert_allclose(out["char_confidences"][i, :n], h.confidences, rtol=1e-4)
        assert out["score"][i] == pytest.approx(h.score, rel=1e-4, abs=1e-3)
        assert [t.decode() for t in out["texts"][i]] == [vocab.decode_words(b.ids) for b in beams[i]]
    # And the export's logits are the Keras model's on librosa features.
    rec = Recognizer(*load_run(tiny_model_path))
    waves = [sf.read(p, dtype="float32")[0] for p in wavs]
    logits, lengths = rec.logits([rec.featurize(w) for w in waves])
    assert (lengths == out["logit_lengths"]).all()
    for i, n in enumerate(lengths):
        assert np.abs(logits[i, :n] - out["logits"][i, :n]).max() < 1e-3


def test_saved_model_cli_shows_the_signatures(tiny_export):
    cli = Path(sys.executable).parent / "saved_model_cli"
    r = subprocess.run([str(cli), "show", "--dir", str(tiny_export), "--all"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("serving_default", "beam_search", "waveform", "lengths", "text", "char_frames", "texts", "scores"):
        assert name in r.stdout, name


def test_export_carries_its_assets(tiny_export):
    meta = json.loads((tiny_export / "assets" / "speech_lstm.json").read_text())
    assert meta["sample_rate"] == 16000 and meta["feature_config"] == dataclasses.asdict(FeatureConfig())
    assert meta["vocabulary"]["chars"] == Vocabulary().chars and meta["model_config"]["lstm_units"] == 16
    assert meta["beam_width"] == 4 and meta["top_paths"] == 2 and meta["emission_lag_seconds"] == 0.02
    assert (tiny_export / "assets" / "vocab.json").exists() and (tiny_export / "assets" / "README.txt").exists()


def test_export_is_atomic_and_refuses_to_overwrite(tiny_model_path, tmp_path, monkeypatch):
    import tensorflow as tf

    out = tmp_path / "exp"

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="killed"):
        export_saved_model(tiny_model_path, out)
    assert list(tmp_path.iterdir()) == []  # no half directory, no leftovers
    monkeypatch.undo()
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="already exists"):
        export_saved_model(tiny_model_path, out)
    assert (out / "keep.txt").exists()
    with pytest.raises(ParameterError, match="top_paths"):
        export_saved_model(tiny_model_path, tmp_path / "other", beam_width=2, top_paths=3)


def test_exported_recognizer_interface(tiny_export, tiny_model_path, digits_corpus, tmp_path):
    rec = ExportedRecognizer(tiny_export)
    waves = _corpus_waves(digits_corpus, 3)
    decoded = rec.decode(waves, DecodeOptions("beam", beam_width=4, top_paths=2))
    assert len(decoded) == 3 and all(len(nbest) == 2 for _, nbest in decoded)
    assert rec.emission_lag == 0.02 and rec.frame_seconds == 0.02
    with pytest.raises(ConfigError, match="width 4"):
        rec.decode(waves, DecodeOptions("beam", beam_width=8))
    with pytest.raises(ConfigError, match="not a SavedModel"):
        ExportedRecognizer(tmp_path)


def test_compare_recognizers_counts_identical_transcripts(tiny_model_path, tiny_export, speech_wav):
    from speech_lstm.transcribe import compare_recognizers, load_recognizer

    keras_model, exported = load_recognizer(tiny_model_path), load_recognizer(tiny_export)
    check = compare_recognizers(keras_model, exported, [speech_wav, speech_wav])
    assert check == {"utterances": 2, "identical": 2, "differing": []}
