"""Audio loading: any format libsndfile reads -> float32 mono at the model rate, validated.

Every failure raises :class:`AudioLoadError` naming the file and the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speech_lstm.errors import AudioLoadError, ParameterError

__all__ = ["load_audio", "resample", "write_audio", "validate_waveform", "audio_info", "SILENCE_PEAK"]

# A file whose peak never exceeds this (about -80 dBFS) holds no usable speech.
SILENCE_PEAK = 1e-4


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample float32 [samples] from ``orig_sr`` to ``target_sr`` Hz (soxr, high quality)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be > 0, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return waveform.astype(np.float32, copy=False)
    return soxr.resample(waveform, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def validate_waveform(waveform: np.ndarray, path="<array>", check_silence: bool = True) -> np.ndarray:
    """Check a float waveform [samples]: not empty, finite, not silent. Returns it unchanged."""
    if waveform.size == 0:
        raise AudioLoadError(path, "empty audio (0 samples)")
    if not np.all(np.isfinite(waveform)):
        raise AudioLoadError(path, "audio contains NaN or infinite samples")
    if check_silence and float(np.max(np.abs(waveform))) < SILENCE_PEAK:
        raise AudioLoadError(path, f"audio is silent (peak below {SILENCE_PEAK:g})")
    return waveform


def audio_info(path):
    """(sample_rate, frames, channels) of a file, or AudioLoadError."""
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(path, "file not found")
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile raises RuntimeError / LibsndfileError
        raise AudioLoadError(path, f"not a readable audio file ({_short(e)})") from e
    return info.samplerate, info.frames, info.channels


def load_audio(
    path,
    sample_rate: int = 16000,
    offset: float = 0.0,
    duration: float | None = None,
    check_silence: bool = True,
) -> np.ndarray:
    """Load ``path`` as float32 mono [samples] at ``sample_rate`` Hz.

    offset / duration: seconds, to read part of a file.  Multi-channel audio is averaged to
    mono.  Raises AudioLoadError for missing, non-audio, truncated, empty, NaN/inf or silent
    (``check_silence``) files.
    """
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(path, "file not found")
    if path.is_dir():
        raise AudioLoadError(path, "is a directory, expected an audio file")
    if offset < 0 or (duration is not None and duration <= 0):
        raise ParameterError(f"offset must be >= 0 and duration > 0, got offset={offset}, duration={duration}")
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            start = int(round(offset * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except AudioLoadError:
        raise
    except Exception as e:
        raise AudioLoadError(path, f"not a readable audio file ({_short(e)})") from e
    if data.shape[0] == 0:
        raise AudioLoadError(path, "empty audio (0 samples)" + (f" after offset {offset}s" if offset else ""))
    waveform = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    validate_waveform(waveform, path, check_silence=check_silence)
    return resample(np.ascontiguousarray(waveform), sr, sample_rate)


def write_audio(path, waveform: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write float32 [samples] in [-1, 1] to ``path`` (format from the extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(waveform, -1.0, 1.0), sample_rate, subtype=subtype)


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__
