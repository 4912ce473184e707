import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402


@pytest.fixture(scope="session")
def digits_corpus(tmp_path_factory):
    """A tiny real eSpeak NG digits corpus (train/dev/test manifests + 16 kHz WAVs)."""
    from speech_lstm.data.synth import CorpusSpec, synthesize_corpus

    out = tmp_path_factory.mktemp("digits")
    spec = CorpusSpec(num_train=24, num_dev=6, num_test=6, max_words=3, noise_prob=0.0, seed=3)
    return synthesize_corpus(out, spec, workers=1, progress=False)


@pytest.fixture(scope="session")
def speech_wav(digits_corpus):
    """Path of one real synthesized utterance."""
    from speech_lstm.data.manifest import read_manifest

    return read_manifest(digits_corpus["train"])[0]["audio_filepath"]


@pytest.fixture
def tone():
    """A 0.5 s 440 Hz tone at 16 kHz, float32."""
    t = np.arange(8000) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def write(path, data, sr, **kw):
    sf.write(str(path), data, sr, **kw)
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """An untrained but complete recognizer (.keras with FeatureConfig and vocabulary inside)."""
    from speech_lstm.config import FeatureConfig, ModelConfig
    from speech_lstm.models import build_ctc_asr
    from speech_lstm.text import Vocabulary

    model = build_ctc_asr(ModelConfig(conv_filters=16, lstm_layers=1, lstm_units=16, dropout=0.0),
                          FeatureConfig(), Vocabulary())
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_export(tiny_model_path, tmp_path_factory):
    """``tiny_model_path`` exported as a SavedModel (beam width 4, 2 paths)."""
    from speech_lstm.export import export_saved_model

    return export_saved_model(tiny_model_path, tmp_path_factory.mktemp("exports") / "tiny", beam_width=4,
                              top_paths=2, emission_lag=0.02)


@pytest.fixture(scope="session")
def long_wav(digits_corpus, tmp_path_factory):
    """Six real utterances joined by 0.8 s pauses (and 0.5 s of silence at the start), at 16 kHz,
    with the offsets and texts of the utterances: (path, [(start_s, end_s, text)])."""
    from speech_lstm.data.manifest import read_manifest

    entries = read_manifest(digits_corpus["train"])[:6]
    pieces, placed, t = [np.zeros(8000, np.float32)], [], 0.5
    for e in entries:
        wav, sr = sf.read(e["audio_filepath"], dtype="float32")
        assert sr == 16000
        placed.append((t, t + len(wav) / sr, e["text"]))
        pieces += [wav, np.zeros(12800, np.float32)]
        t += len(wav) / sr + 0.8
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, np.concatenate(pieces), 16000)
    return path, placed
