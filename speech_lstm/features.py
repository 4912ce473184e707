"""MFCC front end (librosa) and an on-disk feature cache keyed by the FeatureConfig.

``compute_mfcc`` is the single definition of the features a model sees: waveform float32
[samples] at ``config.sample_rate`` -> float32 [frames, config.feature_dim].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import librosa
import scipy.fft
import tensorflow as tf
import numpy as np

from speech_lstm.files import atomic_write
from speech_lstm.audio import load_audio
from speech_lstm.config import FeatureConfig
from speech_lstm.errors import ParameterError

__all__ = ["compute_mfcc", "tf_mfcc", "compute_log_mel", "normalize_utterance", "FeatureCache", "featurize_file", "config_hash"]

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
    """MFCC, or log-mel bands when ``config.kind == "logmel"`` (+ deltas, + normalisation), of a
    waveform: the one definition of what a model sees.

    waveform: float32 [samples] at config.sample_rate.
    Returns float32 [frames, config.feature_dim], frames = 1 + samples // hop_length.
    """
    log_mel = compute_log_mel(waveform, config)
    if config.kind == "logmel":
        mfcc = log_mel
    else:
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
        with atomic_write(key, "wb") as f:
            np.save(f, features)


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


# --------------------------------------------------------------------------------------------
# The same front end as TensorFlow ops, for SavedModel export (tested against compute_mfcc).


def _delta_tables(max_width: int = 9) -> np.ndarray:
    """Savitzky-Golay delta weights as librosa applies them (``mode="interp"``), for widths 3..9.

    librosa's delta is linear in its input, so applying it to an identity matrix gives the
    weights: ``tables[order - 1, w // 2 - 1, s, t]`` is the weight of input frame ``s`` on
    output frame ``t`` of a ``w``-frame window (edge frames use a polynomial fit of the first or
    last window, interior frames the centred one).
    """
    tables = np.zeros((2, max_width // 2, max_width, max_width), np.float32)
    for order in (1, 2):
        for w in range(3, max_width + 1, 2):
            if w > order:
                tables[order - 1, w // 2 - 1, :w, :w] = librosa.feature.delta(
                    np.eye(w), width=w, order=order, mode="interp")
    return tables


def _frontend_constants(config: FeatureConfig) -> dict:
    window = librosa.filters.get_window("hann", config.win_length, fftbins=True)
    return {
        "window": librosa.util.pad_center(window, size=config.n_fft).astype(np.float32),
        "mel": librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                                   fmin=config.fmin, fmax=config.fmax).T.astype(np.float32),  # [bins, mels]
        "dct": scipy.fft.dct(np.eye(config.n_mels), type=2, norm="ortho", axis=0)[: config.n_mfcc].T.astype(np.float32),
        "delta": _delta_tables(),
    }


def _masked_moments(x, mask, count):
    mean = tf.reduce_sum(x * mask, axis=1, keepdims=True) / count
    var = tf.reduce_sum(tf.square(x - mean) * mask, axis=1, keepdims=True) / count
    return mean, var


def _tf_deltas(mfcc, frames, tables):
    """librosa.feature.delta(mode="interp", width=min(9, odd frames)) for a padded batch.

    mfcc: [B, T, C]; frames: int32 [B] true frame counts. Each output frame t reads the window
    starting at ``clip(t - w // 2, 0, frames - w)`` with the weights of its position in it.
    """
    t = tf.range(tf.shape(mfcc)[1])[None, :]  # [1, T]
    n = frames[:, None]
    width = tf.minimum(9, n - 1 + tf.math.floormod(n, 2))  # largest odd width that fits, capped at 9
    valid = width >= 3
    width = tf.maximum(width, 3)
    base = tf.clip_by_value(t - width // 2, 0, tf.maximum(n - width, 0))  # [B, T]
    pos = tf.clip_by_value(t - base, 0, 8)
    taps = base[..., None] + tf.range(9)[None, None, :]  # [B, T, 9]
    taps = tf.minimum(taps, tf.shape(mfcc)[1] - 1)
    windows = tf.gather(mfcc, taps, axis=1, batch_dims=1)  # [B, T, 9, C]
    out = []
    for order in (1, 2):
        table = tf.transpose(tf.gather(tables[order - 1], width[:, 0] // 2 - 1), [0, 2, 1])  # [B, 9(t), 9(s)]
        weights = tf.gather(table, pos, axis=1, batch_dims=1)  # [B, T, 9(s)]
        out.append(tf.einsum("bts,btsc->btc", weights, windows) * tf.cast(valid, mfcc.dtype)[..., None])
    return out


def tf_mfcc(waveforms, lengths, config: FeatureConfig):
    """:func:`compute_mfcc` as TensorFlow ops, for a zero-padded batch.

    waveforms: float32 [batch, samples] at ``config.sample_rate``; lengths: int32 [batch] true
    sample counts. Returns (features float32 [batch, frames, feature_dim] with zeros past each
    example's end, frame counts int32 [batch] = 1 + lengths // hop_length). Matches the librosa
    path to float32 rounding; ``tests/test_export.py`` checks it on real speech.
    """
    c = _frontend_constants(config)
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    samples = tf.range(tf.shape(waveforms)[1])[None, :]
    waveforms = tf.where(samples < lengths[:, None], waveforms, 0.0)  # never read past an end
    pad = config.n_fft // 2
    padded = tf.pad(waveforms, [[0, 0], [pad, pad]])
    frames = 1 + lengths // config.hop_length
    spec = tf.signal.stft(padded, frame_length=config.n_fft, frame_step=config.hop_length,
                          fft_length=config.n_fft, window_fn=lambda *_ , **__: tf.constant(c["window"]),
                          pad_end=False)
    power = tf.square(tf.math.real(spec)) + tf.square(tf.math.imag(spec))
    mel = tf.tensordot(power, c["mel"], axes=1)  # [B, T, mels]
    db = 10.0 * tf.math.log(tf.maximum(mel, 1e-10)) / tf.math.log(10.0)
    mask = tf.cast(tf.range(tf.shape(db)[1])[None, :] < frames[:, None], tf.float32)[..., None]
    if config.top_db is not None:
        peak = tf.reduce_max(db + (mask - 1.0) * 1e9, axis=[1, 2], keepdims=True)
        db = tf.maximum(db, peak - config.top_db)
    mfcc = db if config.kind == "logmel" else tf.tensordot(db, c["dct"], axes=1)  # [B, T, n_mfcc or n_mels]
    parts = [mfcc]
    if config.deltas:
        parts += _tf_deltas(mfcc, frames, tf.constant(c["delta"]))[: config.deltas]
    feats = tf.concat(parts, axis=-1)
    if config.normalize == "utterance":
        count = tf.cast(frames, tf.float32)[:, None, None]
        mean, var = _masked_moments(feats, mask, count)
        feats = (feats - mean) / tf.sqrt(var + _NORM_EPS)
    return feats * mask, frames
