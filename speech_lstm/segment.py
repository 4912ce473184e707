"""Long audio -> speech segments of bounded length, split in pauses, read a piece at a time.

Two streaming passes over a file keep memory bounded by the segment length, not the file
length: the first reads it block by block and keeps only a 10 ms energy envelope (400 kB per
hour); the second reads and resamples one segment at a time.

Files up to ``max_seconds`` long are one segment, whole and untrimmed: short recordings are
transcribed exactly as a model is evaluated on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soundfile as sf

from speech_lstm.audio import SILENCE_PEAK, audio_info, resample, validate_waveform
from speech_lstm.errors import AudioLoadError, ParameterError

__all__ = ["SegmentOptions", "Segment", "iter_segments", "speech_regions", "energy_envelope"]

FRAME_SECONDS = 0.01


@dataclass(frozen=True)
class SegmentOptions:
    """max_seconds: longest segment (and longest file taken whole).  min_silence: shortest pause,
    s, that separates segments.  pad: silence kept around speech, s.  threshold_db: a frame is
    speech when its level is within this many dB of the file's loudest frame (and above
    floor_db dBFS).  block_seconds: read size of the energy pass."""

    max_seconds: float = 20.0
    min_silence: float = 0.3
    pad: float = 0.15
    threshold_db: float = 35.0
    floor_db: float = -60.0
    block_seconds: float = 30.0

    def __post_init__(self):
        if not (self.max_seconds > 1.0 and self.min_silence > 0 and self.pad >= 0 and self.threshold_db > 0):
            raise ParameterError(f"segment options out of range: {self}")


@dataclass
class Segment:
    """``waveform`` float32 at the model rate, starting ``start`` s into the file."""

    index: int
    start: float
    waveform: np.ndarray


def energy_envelope(path, options: SegmentOptions, sample_rate: int | None = None) -> np.ndarray:
    """Level in dBFS of each 10 ms frame, read block by block (``sample_rate``: the file's, when
    the caller already knows it)."""
    sr = sample_rate or audio_info(path)[0]
    hop = max(1, int(round(sr * FRAME_SECONDS)))
    block = hop * max(1, int(options.block_seconds / FRAME_SECONDS))
    levels = []
    try:
        for data in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            mono = data.mean(axis=1)
            if not np.all(np.isfinite(mono)):
                raise AudioLoadError(path, "audio contains NaN or infinite samples")
            n = len(mono) // hop * hop
            frames = mono[:n].reshape(-1, hop) if n else mono[None, :]
            levels.append(10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12))
    except AudioLoadError:
        raise
    except Exception as e:
        raise AudioLoadError(path, f"not a readable audio file ({e})") from e
    return np.concatenate(levels) if levels else np.zeros(0)


def speech_regions(levels: np.ndarray, options: SegmentOptions) -> list[tuple[float, float]]:
    """Speech (start, end) times, s, from a 10 ms level envelope: pauses of at least
    ``min_silence`` separate regions, each region gets up to ``pad`` of its surrounding silence
    and no region is longer than ``max_seconds`` (longer ones are cut at their quietest frame)."""
    if levels.size == 0:
        return []
    threshold = max(options.floor_db, float(levels.max()) - options.threshold_db)
    speech = levels > threshold
    if not speech.any():
        return []
    # Runs of speech frames, merged across gaps shorter than min_silence.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2]))
    gap = int(round(options.min_silence / FRAME_SECONDS))
    merged = [list(runs[0])]
    for s, e in runs[1:]:
        if s - merged[-1][1] < gap:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    pad = int(round(options.pad / FRAME_SECONDS))
    limit = int(options.max_seconds / FRAME_SECONDS)
    out = []
    for i, (s, e) in enumerate(merged):
        lo = merged[i - 1][1] if i else 0
        hi = merged[i + 1][0] if i + 1 < len(merged) else len(levels)
        s, e = max(s - pad, (lo + s) // 2 if i else 0), min(e + pad, (e + hi + 1) // 2 if i + 1 < len(merged) else hi)
        while e - s > limit:  # too long without a pause: cut at the quietest frame of its second half
            cut = s + limit // 2 + int(np.argmin(levels[s + limit // 2: s + limit]))
            out.append((s, cut))
            s = cut
        out.append((s, e))
    return [(s * FRAME_SECONDS, e * FRAME_SECONDS) for s, e in out]


def _read(path, sr_in, start_s, end_s, sample_rate):
    start = int(round(start_s * sr_in))
    data, _ = sf.read(str(path), start=start, stop=start + max(0, int(round((end_s - start_s) * sr_in))),
                      dtype="float32", always_2d=True)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(np.ascontiguousarray(mono), sr_in, sample_rate)


def iter_segments(path, sample_rate: int, options: SegmentOptions | None = None, min_samples: int = 1, info=None):
    """Yield the :class:`Segment` s of a file, in time order, at ``sample_rate``.

    info: the file's ``audio_info`` when the caller already has it.

    Raises AudioLoadError (before yielding anything) for missing, unreadable, empty, too short
    (< ``min_samples`` at the model rate) or NaN audio. A silent file yields nothing.
    """
    options = options or SegmentOptions()
    sr_in, total, _ = info or audio_info(path)
    if total == 0:
        raise AudioLoadError(path, "empty audio (0 samples)")
    if total * sample_rate / sr_in < min_samples:
        raise AudioLoadError(path, f"too short ({total} samples at {sr_in} Hz; need {min_samples / sample_rate:.3f} s)")
    duration = total / sr_in
    if duration <= options.max_seconds:
        try:
            wav = _read(path, sr_in, 0.0, duration, sample_rate)
        except Exception as e:
            raise AudioLoadError(path, f"not a readable audio file ({e})") from e
        if wav.size == 0:
            raise AudioLoadError(path, "empty audio (0 samples)")
        validate_waveform(wav, path, check_silence=False)
        if float(np.max(np.abs(wav))) >= SILENCE_PEAK:
            yield Segment(0, 0.0, wav)
        return
    levels = energy_envelope(path, options, sr_in)
    for i, (start, end) in enumerate(speech_regions(levels, options)):
        yield Segment(i, start, _read(path, sr_in, start, min(end, duration), sample_rate))
