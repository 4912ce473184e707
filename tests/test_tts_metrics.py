"""speech_lstm.tts.metrics and speech_lstm.sphinx: MCD-DTW, duration error, WER, PocketSphinx."""

import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

from speech_lstm.errors import AudioLoadError, ParameterError
from speech_lstm.sphinx import build_decoder, clean_hypothesis, decode_pcm, read_pcm16, transcribe_pocketsphinx
from speech_lstm.tts.metrics import duration_error_ms, intelligibility, mel_cepstral_distortion, word_error_rate


@pytest.fixture(scope="module")
def hello():
    """eSpeak NG "hello world": float32 [samples] in [-1, 1] and its rate (22050 Hz)."""
    from speech_lstm.data.espeak import ESpeak

    engine = ESpeak()
    engine.set_voice("en-us")
    return engine.synthesize("hello world").astype(np.float32) / 32768.0, engine.sample_rate


def _with_noise(y, snr_db, seed=0):
    rms = np.sqrt(np.mean(y**2))
    noise = np.random.default_rng(seed).standard_normal(y.size).astype(np.float32)
    return y + noise * rms * 10 ** (-snr_db / 20)


def test_mcd_of_a_signal_with_itself_is_zero(hello):
    y, sr = hello
    assert mel_cepstral_distortion(y, y, sr) == pytest.approx(0.0, abs=1e-6)
    assert mel_cepstral_distortion(y, 0.5 * y, sr) < 1e-3  # c0 (level) is not counted


def test_mcd_grows_with_noise_and_dtw_absorbs_a_slower_rate(hello):
    from speech_lstm.data.espeak import ESpeak

    y, sr = hello
    light = mel_cepstral_distortion(y, _with_noise(y, 20), sr)
    heavy = mel_cepstral_distortion(y, _with_noise(y, 0), sr)
    assert 0.0 < light < heavy
    # The same words spoken 20 % slower (1.23x longer): DTW aligns them, so they come out
    # closer than the lightly noisy copy (measured: 7.9 vs 39 dB)
    engine = ESpeak()
    engine.set_voice("en-us")
    engine.set_params(rate=140)
    try:
        slower = engine.synthesize("hello world").astype(np.float32) / 32768.0
    finally:
        engine.set_params(rate=175)
    assert len(slower) > 1.15 * len(y)
    assert 0.0 < mel_cepstral_distortion(y, slower, sr) < 0.5 * light


def test_mcd_rejects_bad_inputs(hello):
    y, sr = hello
    with pytest.raises(ParameterError, match="float waveform.*32768"):
        mel_cepstral_distortion((y * 32767).astype(np.int16), y, sr)
    with pytest.raises(ParameterError, match="synthesized must be mono"):
        mel_cepstral_distortion(y, np.stack([y, y]), sr)
    with pytest.raises(ParameterError, match="reference is silent"):
        mel_cepstral_distortion(np.zeros(1000, np.float32), y, sr)
    with pytest.raises(ParameterError, match="NaN"):
        mel_cepstral_distortion(y, np.full(10, np.nan, np.float32), sr)
    with pytest.raises(ParameterError, match="n_mfcc must be an int in"):
        mel_cepstral_distortion(y, y, sr, n_mfcc=1)
    with pytest.raises(ParameterError, match="sample_rate must be an int > 0"):
        mel_cepstral_distortion(y, y, 0)
    with pytest.raises(ParameterError, match="trim_db"):
        mel_cepstral_distortion(y, y, sr, trim_db=0)


def test_duration_error_ms():
    out = duration_error_ms([3, 5, 2], np.array([4, 5, 0]), hop_seconds=0.01)  # errors 10, 0, 20 ms
    assert out == {"mae_ms": pytest.approx(10.0), "rmse_ms": pytest.approx(np.sqrt(500 / 3)), "phonemes": 3}
    assert duration_error_ms([1.5], [1.5], 256 / 22050) == {"mae_ms": 0.0, "rmse_ms": 0.0, "phonemes": 1}


def test_duration_error_rejects_bad_inputs():
    with pytest.raises(ParameterError, match="predicted_frames has 3 phonemes, reference_frames has 2"):
        duration_error_ms([1, 2, 3], [1, 2], 0.01)
    with pytest.raises(ParameterError, match="hop_seconds must be > 0"):
        duration_error_ms([1], [1], 0)
    with pytest.raises(ParameterError, match="reference_frames must be finite durations >= 0"):
        duration_error_ms([1], [-1], 0.01)
    with pytest.raises(ParameterError, match="1-D"):
        duration_error_ms([[1]], [[1]], 0.01)
    with pytest.raises(ParameterError, match="no phonemes"):
        duration_error_ms([], [], 0.01)


def test_word_error_rate():
    assert word_error_rate(["the cat sat", "on the mat"], ["the cat sat", "on the mat"]) == 0.0
    assert word_error_rate(["the cat sat", "on the mat"], ["the cat", "on a mat"]) == pytest.approx(2 / 6)
    assert word_error_rate(["the cat"], [""]) == 1.0
    with pytest.raises(ParameterError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ParameterError, match="got one string"):
        word_error_rate("the cat", "the cat")
    with pytest.raises(ParameterError, match="hold no words"):
        word_error_rate([""], ["a"])


def test_clean_hypothesis():
    assert clean_hypothesis("<s> <sil> Two(2) [NOISE] THREE ++BREATH++ </s>") == "two three"


def test_sphinx_errors_are_clear(monkeypatch, tmp_path):
    with pytest.raises(ParameterError, match="workers must be an int >= 1"):
        transcribe_pocketsphinx([tmp_path / "a.wav"], workers=0)
    with pytest.raises(AudioLoadError, match="a.wav: file not found"):
        read_pcm16(tmp_path / "a.wav")
    (tmp_path / "b.wav").write_text("not audio")
    with pytest.raises(AudioLoadError, match="b.wav: not a readable audio file"):
        read_pcm16(tmp_path / "b.wav")
    with pytest.raises(ParameterError, match="not valid JSGF"):
        build_decoder("grammar digits; public <d> = one;")
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import pocketsphinx -> ImportError
    with pytest.raises(ParameterError, match=r"pip install pocketsphinx==5\.1\.1"):
        build_decoder()
    with pytest.raises(ParameterError, match=r"pip install pocketsphinx==5\.1\.1"):
        transcribe_pocketsphinx([tmp_path / "a.wav"])


def test_sphinx_grammar_search_in_process():
    from speech_lstm.data.espeak import ESpeak
    from speech_lstm.sphinx import SAMPLE_RATE

    engine = ESpeak()
    engine.set_voice("en-us")
    audio = engine.synthesize("two three").astype(np.float32)
    pcm = np.clip(np.rint(librosa.resample(audio, orig_sr=engine.sample_rate, target_sr=SAMPLE_RATE)),
                  -32768, 32767).astype(np.int16).tobytes()
    grammar = "#JSGF V1.0;\ngrammar d;\npublic <d> = <w>+;\n<w> = one | two | three | four;\n"
    hyp = decode_pcm(build_decoder(grammar), pcm)
    assert hyp and set(hyp.split()) <= {"one", "two", "three", "four"}


def test_intelligibility_open_vocabulary(tmp_path):
    """A real eSpeak NG sentence decoded by spawned PocketSphinx workers with the en-us LM."""
    from speech_lstm.data.espeak import ESpeak

    text = "the weather is nice today"
    engine = ESpeak()
    try:
        # PocketSphinx's open-vocabulary WER on eSpeak NG is high; the klatt variant is the one it
        # understands best (this sentence: 0 % over 5 noise seeds; plain en-us gets most words wrong)
        engine.set_voice("en-us+klatt")
        engine.set_random_seed(0)
        audio = engine.synthesize(text)
    finally:
        engine.set_voice("en-us")
    path = tmp_path / "weather.wav"
    sf.write(path, audio, engine.sample_rate)  # 22050 Hz int16: read_pcm16 resamples to 16 kHz
    out = intelligibility([path], [path], [text], workers=1)
    hyp = out["synthesized_hypotheses"][0]
    assert hyp and hyp == hyp.lower() and out["reference_hypotheses"] == [hyp]
    assert out["synthesized_wer"] < 1.0 and out["wer_difference_points"] == 0.0 and out["utterances"] == 1
    with pytest.raises(ParameterError, match="1 reference_paths, 1 synthesized_paths and 2 texts"):
        intelligibility([path], [path], [text, text])
    with pytest.raises(AudioLoadError, match="missing.wav: file not found"):
        intelligibility([path], [tmp_path / "missing.wav"], [text])
