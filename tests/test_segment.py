"""Long audio -> segments: pauses split, padding, bounded length, absolute offsets, bad files."""

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.errors import AudioLoadError, ParameterError
from speech_lstm.segment import SegmentOptions, iter_segments, speech_regions

OPTS = SegmentOptions(max_seconds=5.0, min_silence=0.3, pad=0.1)


def _levels(pattern):
    """[(seconds, dBFS)] -> a 10 ms level envelope."""
    return np.concatenate([np.full(int(round(s * 100)), db, np.float64) for s, db in pattern])


def test_regions_split_on_pauses_and_keep_padding():
    levels = _levels([(1.0, -90), (1.0, -20), (0.2, -90), (0.5, -20), (1.0, -90), (0.8, -25), (0.5, -90)])
    regions = speech_regions(levels, OPTS)
    # the 0.2 s gap is shorter than min_silence: the first two bursts are one region
    np.testing.assert_allclose(regions, [(0.9, 2.8), (3.6, 4.6)])


def test_regions_without_pauses_are_cut_to_max_seconds():
    levels = _levels([(12.0, -20)])
    levels[400] = -50  # the quietest frame in the second half of the first 5 s
    regions = speech_regions(levels, OPTS)
    assert all(e - s <= OPTS.max_seconds + 1e-9 for s, e in regions)
    assert regions[0] == pytest.approx((0.0, 4.0))
    assert regions[-1][1] == pytest.approx(12.0)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(regions, regions[1:]))  # contiguous, nothing lost


def test_silence_has_no_regions():
    assert speech_regions(_levels([(3.0, -90)]), OPTS) == []
    assert speech_regions(np.zeros(0), OPTS) == []


def test_long_file_segments_land_on_the_utterances(long_wav):
    path, placed = long_wav
    data, sr = sf.read(path, dtype="float32")
    segments = list(iter_segments(path, 16000, OPTS))
    assert len(segments) == len(placed)
    for seg, (start, end, _) in zip(segments, placed):
        piece = np.abs(data[int(start * sr): int(end * sr)])
        loud = np.flatnonzero(piece > 0.01 * piece.max())
        first, last = start + loud[0] / sr, start + loud[-1] / sr  # where the utterance's sound is
        seg_end = seg.start + len(seg.waveform) / 16000
        assert first - OPTS.pad - 0.02 <= seg.start <= first
        assert last <= seg_end <= last + OPTS.pad + 0.02
        assert np.array_equal(seg.waveform, data[int(round(seg.start * sr)): int(round(seg.start * sr)) + len(seg.waveform)])


def test_resampled_stereo_long_file_keeps_its_times(long_wav, tmp_path):
    import soxr

    path, placed = long_wav
    data, sr = sf.read(path, dtype="float32")
    stereo = tmp_path / "long44.flac"
    sf.write(stereo, np.stack([soxr.resample(data, sr, 44100)] * 2, axis=1), 44100)
    a = [s.start for s in iter_segments(path, 16000, OPTS)]
    b = [s.start for s in iter_segments(stereo, 16000, OPTS)]
    assert np.allclose(a, b, atol=0.011)


def test_short_file_is_one_untrimmed_segment(speech_wav):
    (seg,) = list(iter_segments(speech_wav, 16000, OPTS))
    assert seg.start == 0.0 and len(seg.waveform) == sf.info(speech_wav).frames


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioLoadError, match="empty audio"):
        list(iter_segments(empty, 16000))
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(16000 * 30, np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN"):
        list(iter_segments(nan, 16000, OPTS))
    short = tmp_path / "short.wav"
    sf.write(short, np.ones(10, np.float32) * 0.1, 16000)
    with pytest.raises(AudioLoadError, match="too short"):
        list(iter_segments(short, 16000, min_samples=400))
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 8, np.float32), 16000)
    assert list(iter_segments(silent, 16000, OPTS)) == []
    with pytest.raises(ParameterError):
        SegmentOptions(max_seconds=0.5)
