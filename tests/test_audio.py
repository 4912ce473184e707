import numpy as np
import pytest
import soundfile as sf

from speech_lstm.audio import load_audio, resample, write_audio
from speech_lstm.errors import AudioLoadError, ParameterError


@pytest.mark.parametrize("ext, subtype", [("wav", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS")])
def test_formats_stereo_resampled_to_mono(tmp_path, ext, subtype):
    sr = 44100
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 300 * t)
    stereo = np.stack([left, left], axis=1).astype(np.float32)
    path = tmp_path / f"tone.{ext}"
    sf.write(str(path), stereo, sr, subtype=subtype)
    y = load_audio(path, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 2
    assert 0.4 < np.abs(y).max() < 0.6


def test_offset_and_duration(tmp_path, tone):
    write_audio(tmp_path / "t.wav", tone, 16000)
    y = load_audio(tmp_path / "t.wav", 16000, offset=0.1, duration=0.2)
    assert len(y) == 3200
    np.testing.assert_allclose(y, tone[1600:4800], atol=1e-4)


def test_mp3_when_libsndfile_can(tmp_path, tone):
    path = tmp_path / "t.mp3"
    try:
        sf.write(str(path), tone, 16000, format="MP3")
    except Exception:
        pytest.skip("this libsndfile has no MP3 support")
    assert abs(len(load_audio(path, 16000)) - len(tone)) < 2000


def test_resample_identity_and_length(tone):
    assert resample(tone, 16000, 16000) is not None
    assert len(resample(tone, 16000, 8000)) == 4000
    with pytest.raises(ParameterError, match="sample rates must be > 0"):
        resample(tone, 0, 16000)


def test_missing_file(tmp_path):
    with pytest.raises(AudioLoadError, match=r"nope.wav: file not found"):
        load_audio(tmp_path / "nope.wav")


def test_directory(tmp_path):
    with pytest.raises(AudioLoadError, match="is a directory"):
        load_audio(tmp_path)


def test_non_audio(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio at all")
    with pytest.raises(AudioLoadError, match=r"notes.wav: not a readable audio file"):
        load_audio(p)


def test_empty_audio(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(str(p), np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioLoadError, match=r"empty.wav: empty audio"):
        load_audio(p)


def test_silent_audio(tmp_path):
    p = tmp_path / "silent.wav"
    sf.write(str(p), np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioLoadError, match=r"silent.wav: audio is silent"):
        load_audio(p)
    assert len(load_audio(p, check_silence=False)) == 16000


def test_nan_audio(tmp_path):
    p = tmp_path / "nan.wav"
    data = np.full(1600, 0.1, np.float32)
    data[100] = np.nan
    sf.write(str(p), data, 16000, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match=r"nan.wav: audio contains NaN or infinite"):
        load_audio(p)


def test_truncated_file(tmp_path, tone):
    good = tmp_path / "good.wav"
    write_audio(good, tone, 16000)
    raw = good.read_bytes()
    head_only = tmp_path / "header_only.wav"
    head_only.write_bytes(raw[:44])
    with pytest.raises(AudioLoadError, match="header_only.wav"):
        load_audio(head_only)
    cut_header = tmp_path / "cut_header.wav"
    cut_header.write_bytes(raw[:20])
    with pytest.raises(AudioLoadError, match="cut_header.wav: not a readable audio file"):
        load_audio(cut_header)
    # Cut mid-data: what is there still loads (and is shorter).
    half = tmp_path / "half.wav"
    half.write_bytes(raw[: 44 + len(tone)])
    assert 0 < len(load_audio(half)) < len(tone)


def test_bad_offset(tmp_path, tone):
    write_audio(tmp_path / "t.wav", tone, 16000)
    with pytest.raises(ParameterError, match="offset must be >= 0"):
        load_audio(tmp_path / "t.wav", offset=-1)
    with pytest.raises(AudioLoadError, match="empty audio .* after offset"):
        load_audio(tmp_path / "t.wav", offset=5.0)
