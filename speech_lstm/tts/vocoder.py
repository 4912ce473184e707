"""The mel spectrogram the TTS models predict, and its inversion to audio with librosa's
Griffin-Lim (:func:`librosa.griffinlim`).

One :class:`MelSpec` defines both directions, so the training targets and the vocoder never
disagree; it is saved with the model.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from speech_lstm.errors import ParameterError

__all__ = ["MelSpec", "log_mel", "griffin_lim"]


@dataclasses.dataclass(frozen=True)
class MelSpec:
    """sample_rate: of the corpus (eSpeak NG's 22,050 Hz).  n_fft / hop_length / win_length:
    STFT in samples.  n_mels bands from fmin to fmax (Hz; Slaney mel scale, librosa's default).
    power: 1 (magnitude mel).  floor: the smallest magnitude before the log.
    gl_iters: Griffin-Lim iterations.  gl_sharpen: the magnitude is raised to this power before
    the inversion (> 1 lowers the noise floor that smoothed predictions leave)."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    floor: float = 1e-5
    gl_iters: int = 32
    gl_sharpen: float = 1.0

    def __post_init__(self):
        if not (0 < self.hop_length <= self.win_length <= self.n_fft):
            raise ParameterError("need 0 < hop_length <= win_length <= n_fft")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ParameterError(f"need 0 <= fmin < fmax <= sample_rate / 2, got {self.fmin}, {self.fmax}")
        if self.gl_iters < 1 or self.gl_sharpen <= 0:
            raise ParameterError("gl_iters must be >= 1 and gl_sharpen > 0")

    @property
    def hop_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames :func:`log_mel` makes of ``num_samples`` (centred STFT)."""
        return 1 + num_samples // self.hop_length


def log_mel(audio: np.ndarray, spec: MelSpec = MelSpec()) -> np.ndarray:
    """float32 [frames, n_mels]: natural log of the magnitude mel spectrogram of ``audio``
    (float [samples] at ``spec.sample_rate``)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=spec.sample_rate,
                                         n_fft=spec.n_fft, hop_length=spec.hop_length, win_length=spec.win_length,
                                         n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax, power=1.0)
    return np.log(np.maximum(mel, spec.floor)).T.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _mel_pseudo_inverse(spec: MelSpec) -> np.ndarray:
    """[1 + n_fft / 2, n_mels]: mel -> linear magnitude by least squares. librosa's
    ``mel_to_stft`` solves a non-negative least-squares problem per call instead: the same
    mel-cepstral distortion after Griffin-Lim on eSpeak NG speech (6.06 dB both) at several
    hundred times the cost, most of the vocoder's time."""
    import librosa

    basis = librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin,
                                fmax=spec.fmax)
    return np.linalg.pinv(basis).astype(np.float32)


def griffin_lim(log_mel_frames: np.ndarray, spec: MelSpec = MelSpec(), seed: int = 0) -> np.ndarray:
    """float32 [samples] in [-1, 1] from a log-mel [frames, n_mels] (:func:`log_mel`'s form):
    mel -> linear magnitude (least squares, clipped at 0) and librosa's Griffin-Lim phase
    estimate (its fast variant, momentum 0.99); ``seed`` fixes the
    initial phases, so the same mel always gives the same audio."""
    import librosa

    m = np.asarray(log_mel_frames, dtype=np.float32)
    if m.ndim != 2 or m.shape[1] != spec.n_mels:
        raise ParameterError(f"expected a log-mel of shape [frames, {spec.n_mels}], got {m.shape}")
    mel = np.exp(m.T * spec.gl_sharpen)
    linear = np.maximum(_mel_pseudo_inverse(spec) @ mel, 0.0)
    audio = librosa.griffinlim(linear, n_iter=spec.gl_iters, hop_length=spec.hop_length,
                               win_length=spec.win_length, n_fft=spec.n_fft,
                               random_state=np.random.default_rng(seed),
                               length=(m.shape[0] - 1) * spec.hop_length)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio / peak * 0.9 if peak > 0.9 else audio).astype(np.float32)
