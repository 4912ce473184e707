"""speech_lstm: a Keras 3 / TensorFlow toolkit for audio and speech built around the LSTM."""

__version__ = "0.1.0"

from speech_lstm.errors import (  # noqa: F401
    AudioLoadError,
    ConfigError,
    ManifestError,
    ParameterError,
    SpeechLSTMError,
    SynthesisError,
)
