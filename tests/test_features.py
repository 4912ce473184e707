import dataclasses

import librosa
import numpy as np
import pytest

from speech_lstm.audio import load_audio
from speech_lstm.config import FeatureConfig
from speech_lstm.errors import ParameterError
from speech_lstm.features import FeatureCache, compute_mfcc, featurize_file, normalize_utterance


def _direct_librosa(y, sr=16000):
    """The documented front end written out with direct librosa calls."""
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=512, hop_length=160, win_length=400, n_mels=40,
                                fmin=20.0, fmax=None, center=True, pad_mode="constant", htk=False, lifter=0)
    d1 = librosa.feature.delta(mfcc, width=9, order=1)
    d2 = librosa.feature.delta(mfcc, width=9, order=2)
    return np.concatenate([mfcc, d1, d2]).T


def test_matches_direct_librosa_on_speech(speech_wav):
    y = load_audio(speech_wav)
    ours = compute_mfcc(y, FeatureConfig(normalize="none"))
    ref = _direct_librosa(y)
    assert ours.shape == ref.shape == (1 + len(y) // 160, 39)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
    normed = compute_mfcc(y, FeatureConfig())
    np.testing.assert_allclose(normed, normalize_utterance(ref), atol=1e-3)
    assert np.abs(normed.mean(axis=0)).max() < 1e-4
    assert np.allclose(normed.std(axis=0), 1.0, atol=1e-2)


def test_configurable_dims(tone):
    fc = FeatureConfig(n_mfcc=20, deltas=0, n_mels=64)
    assert compute_mfcc(tone, fc).shape == (51, 20)
    fc8 = FeatureConfig(sample_rate=8000, n_fft=256)
    assert compute_mfcc(tone[::2], fc8).shape[1] == 39


def test_very_short_input_still_gives_features():
    y = (0.1 * np.random.default_rng(0).standard_normal(800)).astype(np.float32)
    feats = compute_mfcc(y, FeatureConfig())
    assert feats.shape == (6, 39) and np.all(np.isfinite(feats))


def test_rejects_2d():
    with pytest.raises(ParameterError, match="waveform must be 1-D"):
        compute_mfcc(np.zeros((2, 100), np.float32), FeatureConfig())


def test_cache_hits_and_config_keying(tmp_path, speech_wav):
    fc = FeatureConfig()
    cache = FeatureCache(tmp_path / "cache", fc)
    assert cache.get(speech_wav) is None
    first = featurize_file(speech_wav, fc, cache)
    files = list(cache.dir.glob("*.npy"))
    assert len(files) == 1
    # A second call reads the cached array (proved by planting a marker in it).
    np.save(files[0], first + 1.0)
    np.testing.assert_array_equal(featurize_file(speech_wav, fc, cache), first + 1.0)
    # A different FeatureConfig uses a different folder and recomputes.
    other = dataclasses.replace(fc, n_mfcc=12)
    other_cache = FeatureCache(tmp_path / "cache", other)
    assert other_cache.dir != cache.dir
    assert featurize_file(speech_wav, other, other_cache).shape[1] == 36
    # A corrupt entry is dropped and recomputed, not returned.
    files[0].write_bytes(b"garbage")
    np.testing.assert_allclose(featurize_file(speech_wav, fc, cache), first)
