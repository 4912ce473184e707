"""Text -> speech with a trained TTS run directory (:mod:`speech_lstm.tts.training`):
eSpeak NG's phonemizer -> duration model -> acoustic model -> Griffin-Lim.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.tts.model import TTSModelConfig
from speech_lstm.tts.text import PhonemeInventory, Phonemizer
from speech_lstm.tts.vocoder import MelSpec, griffin_lim

__all__ = ["Synthesizer", "Synthesis"]


@dataclasses.dataclass
class Synthesis:
    """One synthesized sentence.  audio: float32 [samples] at ``sample_rate``.  mel: the
    predicted log-mel [frames, n_mels].  phonemes / durations: tokens and frames per token.
    seconds: wall time of each stage (phonemize, durations, acoustic, vocoder)."""

    text: str
    audio: np.ndarray
    sample_rate: int
    mel: np.ndarray
    phonemes: list
    durations: np.ndarray
    seconds: dict

    @property
    def real_time_factor(self) -> float:
        return sum(self.seconds.values()) / max(len(self.audio) / self.sample_rate, 1e-9)


class Synthesizer:
    """A trained voice: ``Synthesizer(run_dir)("Hello there.")`` -> :class:`Synthesis`.

    ``durations`` may be given (frames per token of the phonemizer's tokens) to synthesize
    with the reference timing instead of the duration model's.
    """

    def __init__(self, run_dir):
        import keras

        from speech_lstm.tts.model import CUSTOM_OBJECTS

        run_dir = Path(run_dir)
        missing = [n for n in ("tts.json", "inventory.json", "duration.keras", "acoustic.keras")
                   if not (run_dir / n).is_file()]
        if missing:
            raise ConfigError(f"{run_dir}: not a trained TTS run directory (missing {', '.join(missing)})")
        meta = json.loads((run_dir / "tts.json").read_text())
        self.run_dir = run_dir
        self.mel_spec = MelSpec(**meta["mel"])
        self.model_config = TTSModelConfig(**meta["model"])
        self.voice = meta["voice"]
        self.mean = np.asarray(meta["mel_mean"], dtype=np.float32)
        self.std = np.asarray(meta["mel_std"], dtype=np.float32)
        self.inventory = PhonemeInventory.load(run_dir / "inventory.json")
        try:
            self.duration_model = keras.saving.load_model(run_dir / "duration.keras", custom_objects=CUSTOM_OBJECTS)
            self.acoustic_model = keras.saving.load_model(run_dir / "acoustic.keras", custom_objects=CUSTOM_OBJECTS)
        except Exception as e:
            raise ConfigError(f"{run_dir}: cannot load the TTS models ({e})") from e
        self.phonemizer = Phonemizer(self.voice)
        import tensorflow as tf

        # one graph each for any sentence length (eager LSTMs step in Python: far slower)
        tokens = tf.TensorSpec((1, None, 3), tf.int32)
        self._durations = tf.function(lambda t: self.duration_model(t, training=False), input_signature=[tokens])
        self._acoustic = tf.function(
            lambda t, d: self.acoustic_model({"tokens": t, "durations": d}, training=False)["mel_postnet"],
            input_signature=[tokens, tf.TensorSpec((1, None), tf.int32)])

    @property
    def sample_rate(self) -> int:
        return self.mel_spec.sample_rate

    def predict_durations(self, token_ids: np.ndarray) -> np.ndarray:
        """int32 [N] frames per token from the duration model."""
        log_frames = np.asarray(self._durations(token_ids[None].astype(np.int32)))[0, :, 0]
        return np.maximum(np.rint(np.expm1(log_frames)), 0).astype(np.int32)

    def predict_mel(self, token_ids: np.ndarray, durations: np.ndarray) -> np.ndarray:
        """float32 [sum(durations), n_mels] log-mel from the acoustic model (post-net output)."""
        if int(durations.sum()) < 1:
            raise ParameterError("the durations add up to no frames at all")
        out = self._acoustic(token_ids[None].astype(np.int32), durations[None].astype(np.int32))
        mel = np.asarray(out)[0, : int(durations.sum())]
        return mel * self.std + self.mean

    def __call__(self, text: str, durations=None) -> Synthesis:
        seconds = {}
        t = time.perf_counter()
        tokens = self.phonemizer(text)
        ids = self.inventory.encode(tokens)
        seconds["phonemize"] = time.perf_counter() - t
        t = time.perf_counter()
        if durations is None:
            durations = self.predict_durations(ids)
        else:
            durations = np.asarray(durations, dtype=np.int32)
            if durations.shape != (len(tokens),):
                raise ParameterError(f"durations: expected {len(tokens)} values (one per token), got {durations.shape}")
        seconds["durations"] = time.perf_counter() - t
        t = time.perf_counter()
        mel = self.predict_mel(ids, durations)
        seconds["acoustic"] = time.perf_counter() - t
        t = time.perf_counter()
        audio = griffin_lim(mel, self.mel_spec)
        seconds["vocoder"] = time.perf_counter() - t
        return Synthesis(text, audio, self.sample_rate, mel, [tk.phoneme for tk in tokens], durations, seconds)
