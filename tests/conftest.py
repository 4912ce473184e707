import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402


@pytest.fixture(scope="session")
def digits_corpus(tmp_path_factory):
    """A tiny real eSpeak NG digits corpus (train/dev/test manifests + 16 kHz WAVs)."""
    from speech_lstm.data.synth import DigitCorpusSpec, synthesize_digit_corpus

    out = tmp_path_factory.mktemp("digits")
    spec = DigitCorpusSpec(num_train=24, num_dev=6, num_test=6, max_words=3, noise_prob=0.0, seed=3)
    return synthesize_digit_corpus(out, spec, workers=1, progress=False)


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
