"""MFCC front end (librosa) and an on-disk feature cache keyed by the FeatureConfig.

``compute_mfcc`` is the single definition of the features a model sees: waveform float32
[samples] at ``config.sample_rate`` -> float32 [frames, config.feature_dim].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

import librosa
import numpy as np

from speech_lstm.audio import load_audio
from speech_lstm.config import FeatureConfig
from speech_lstm.errors import ParameterError

__all__ = ["compute_mfcc", "compute_log_mel", "normalize_utterance", "FeatureCache", "featurize_file", "config_hash"]

_NORM_EPS = 1e-5


def compute_log_mel(waveform: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-power mel spectrogram in dB: float32 [n_mels, frames] (librosa, centered frames)."""
    if waveform.ndim != 1:
        raise ParameterError(f"waveform must be 1-D [samples], got shape {waveform.shape}")
    mel = librosa.feature.melspectrogram(
        y=waveform.astype(np.float32, copy=False),
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=config.top_db).astype(np.float32)


def normalize_utterance(features: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per coefficient over time: [frames, dim] -> [frames, dim]."""
    mean = features.mean(axis=0, keepdims=True)
    std = np.sqrt(features.var(axis=0, keepdims=True) + _NORM_EPS)
    return ((features - mean) / std).astype(np.float32)


def compute_mfcc(waveform: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC (+ deltas, + normalisation) of a waveform.

    waveform: float32 [samples] at config.sample_rate.
    Returns float32 [frames, config.feature_dim], frames = 1 + samples // hop_length.
    """
    log_mel = compute_log_mel(waveform, config)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=config.n_mfcc, dct_type=2, norm="ortho")
    parts = [mfcc]
    for order in range(1, config.deltas + 1):
        # width 9 needs >= 9 frames; short inputs use the largest odd width that fits.
        width = min(9, mfcc.shape[1] if mfcc.shape[1] % 2 else mfcc.shape[1] - 1)
        if width >= 3:
            parts.append(librosa.feature.delta(mfcc, width=width, order=order, mode="interp"))
        else:
            parts.append(np.zeros_like(mfcc))
    feats = np.concatenate(parts, axis=0).T.astype(np.float32)
    if config.normalize == "utterance":
        feats = normalize_utterance(feats)
    return np.ascontiguousarray(feats)


def config_hash(config: FeatureConfig) -> str:
    """A short stable hash of a FeatureConfig (cache key)."""
    blob = json.dumps(dataclasses.asdict(config), sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


class FeatureCache:
    """Features on disk under ``root/<config hash>/``, keyed by file identity and segment.

    A changed file (size or mtime) or a different FeatureConfig misses the cache, so stale
    features are never returned. Writes are atomic (temp file + rename), so parallel workers
    and killed runs leave no torn entries.
    """

    def __init__(self, root, config: FeatureConfig):
        self.config = config
        self.dir = Path(root) / config_hash(config)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "feature_config.json"
        if not meta.exists():
            meta.write_text(json.dumps(dataclasses.asdict(config), indent=2))

    def _key(self, path, offset, duration) -> Path:
        path = Path(path).resolve()
        st = path.stat()
        ident = f"{path}|{st.st_size}|{st.st_mtime_ns}|{offset}|{duration}"
        return self.dir / (hashlib.sha1(ident.encode()).hexdigest() + ".npy")

    def has(self, path, offset=0.0, duration=None) -> bool:
        """Whether an entry exists (without reading it)."""
        return self._key(path, offset, duration).exists()

    def get(self, path, offset=0.0, duration=None):
        key = self._key(path, offset, duration)
        if key.exists():
            try:
                return np.load(key)
            except (ValueError, OSError):
                key.unlink(missing_ok=True)
        return None

    def put(self, path, features, offset=0.0, duration=None) -> None:
        key = self._key(path, offset, duration)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, features)
            os.replace(tmp, key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def featurize_file(path, config: FeatureConfig, cache: FeatureCache | None = None, offset=0.0, duration=None):
    """Features of one audio file (float32 [frames, dim]), through ``cache`` when given."""
    if cache is not None:
        hit = cache.get(path, offset, duration)
        if hit is not None:
            return hit
    feats = compute_mfcc(load_audio(path, config.sample_rate, offset=offset, duration=duration), config)
    if cache is not None:
        cache.put(path, feats, offset, duration)
    return feats
