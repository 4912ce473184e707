"""Gate inspector: what one LSTM layer keeps, forgets and writes, over an utterance or a chorale.

The gate activations come from :mod:`speech_lstm.lstm_reference` (the textbook equations run
on the trained layer's weights); the layer's own Keras output is computed beside them and the
largest difference is reported (``max_abs_diff``), so every inspection re-checks the reference.

    trace = inspect_speech("exp/default", "utt.wav", layer=0)
    trace.directions["forward"]["f"]       # forget gate [frames, units]
    plot_gates(trace, "gates.png")         # speech_lstm.plots

Speech models: ``layer`` N is the N-th bidirectional LSTM (both directions); its input is the
subsampled features after layers 0..N-1. Music models (roll, NADE and pitch kinds): ``layer``
N is the N-th time LSTM (``lstm_N``), fed the score's quarter-note piano roll; row t of every
array is the step that has read frame t (and predicts frame t+1).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.lstm_reference import LSTMWeights, run_bidirectional, run_lstm

__all__ = ["GateTrace", "inspect", "inspect_music", "inspect_speech", "model_kind", "select_units"]

@dataclasses.dataclass
class GateTrace:
    """One inspected input.

    inputs [frames, dim]: what is shown under the gates (features, or the piano roll with
    ``input_low`` the MIDI pitch of column 0), at ``input_fps`` frames per second (music: per
    quarter). directions: {"forward"[, "backward"]: {"f", "i", "o", "c", "c_tilde", "h"}:
    [steps, units]} at ``step_fps``. labels: (time, text) of each decoded symbol (speech).
    """

    kind: str
    source: str
    layer: str
    inputs: np.ndarray
    input_name: str
    input_fps: float
    step_fps: float
    directions: dict
    labels: list
    text: str
    max_abs_diff: float
    input_low: int = 0

    @property
    def time_unit(self) -> str:
        return "s" if self.kind == "speech" else "quarter"

    def to_npz(self, path) -> Path:
        """The arrays (``<direction>_<quantity>``, ``inputs``) and the metadata, for NumPy users."""
        path = Path(path)
        arrays = {f"{d}_{q}": a for d, qs in self.directions.items() for q, a in qs.items()}
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(tmp, inputs=self.inputs, label_times=np.array([t for t, _ in self.labels], float),
                            label_texts=np.array([s for _, s in self.labels], dtype=str), text=np.array(self.text),
                            meta=np.array(repr({"kind": self.kind, "source": self.source, "layer": self.layer,
                                                "input_name": self.input_name, "input_fps": self.input_fps,
                                                "step_fps": self.step_fps, "max_abs_diff": self.max_abs_diff,
                                                "input_low": self.input_low})), **arrays)
        tmp.replace(path)
        return path


def select_units(trace: GateTrace, direction: str = "forward", units=None, top: int = 32,
                 sort: str = "variance") -> np.ndarray:
    """Unit indices to show: ``units`` as given (checked), else the ``top`` units ranked by
    ``sort``: "variance" of the cell state over the input (slow drifts such as counters rank
    high), or "change": how much its frame-to-frame steps vary (units that react to events; a
    steady drift scores low)."""
    cell = trace.directions[direction]["c"]
    n = cell.shape[1]
    if units is not None:
        idx = np.asarray(list(units), int)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ParameterError(f"units must be indices in 0..{n - 1}, got {list(idx)}")
        return idx
    if top < 1:
        raise ParameterError(f"top must be >= 1, got {top}")
    if sort == "variance":
        score = cell.std(axis=0)
    elif sort == "change":
        score = np.diff(cell, axis=0).std(axis=0) if len(cell) > 2 else np.zeros(n)
    else:
        raise ParameterError(f"sort must be 'variance' or 'change', got {sort!r}")
    return np.argsort(-score, kind="stable")[: min(top, n)]


def _check_layer(n: int, count: int, what: str) -> None:
    if not 0 <= n < count:
        raise ParameterError(f"--layer {n}: this model has {count} {what} (0..{count - 1})")


def inspect_speech(model, audio_path, layer: int = 0) -> GateTrace:
    """Gates of bidirectional LSTM ``layer`` of a recognizer (run dir, .keras, or a loaded
    :class:`~speech_lstm.transcribe.Recognizer`) on one audio file."""
    from speech_lstm.audio import load_audio
    from speech_lstm.ctc import ctc_greedy_decode
    from speech_lstm.transcribe import Recognizer

    rec = model if isinstance(model, Recognizer) else Recognizer.load(model)
    asr = rec.model
    _check_layer(layer, len(asr.bilstms), "bidirectional LSTM layers")
    wav = load_audio(audio_path, rec.sample_rate)
    feats = rec.featurize(wav)
    x = asr.subsampler(feats[None].astype(np.float32))
    for bilstm in asr.bilstms[:layer]:
        x = bilstm(x)
    bilstm = asr.bilstms[layer]
    keras_out = np.asarray(bilstm(x))[0]
    x = np.asarray(x)[0]
    directions = run_bidirectional(bilstm, x)
    ours = np.concatenate([directions["forward"]["h"], directions["backward"]["h"]], axis=-1)
    logits, lengths = rec.logits([feats])
    hyp = ctc_greedy_decode(logits, lengths)[0]
    step_fps = 1.0 / rec.frame_seconds
    labels = [(f / step_fps, rec.vocab.id_to_char(i)) for i, f in zip(hyp.ids, hyp.frames)]
    fc = rec.feature_config
    return GateTrace(kind="speech", source=str(audio_path), layer=bilstm.name, inputs=feats,
                     input_name=("log-mel" if getattr(fc, "kind", "mfcc") == "logmel" else "MFCC"),
                     input_fps=fc.frames_per_second, step_fps=step_fps, directions=directions, labels=labels,
                     text=rec.vocab.decode_words(hyp.ids), max_abs_diff=float(np.abs(ours - keras_out).max()))


def inspect_music(model, score_path, layer: int = 0) -> GateTrace:
    """Gates of time LSTM ``layer`` of a music model (run dir, .keras or a loaded model;
    roll, NADE or pitch kind) on a MIDI / MusicXML score, read as a quarter-note piano roll."""
    import keras

    import speech_lstm.music.model  # noqa: F401  (registers the losses and layers the saved model names)
    from speech_lstm.music.corpus import MIN_PITCH, NUM_KEYS, piano_roll, read_score
    from speech_lstm.training import resolve_model_path

    if not isinstance(model, keras.Model):
        model = keras.saving.load_model(resolve_model_path(model))
    if model.name == "token_lstm":
        raise ConfigError("gates: token models read voice tokens, not a piano roll; inspect a roll, nade or "
                          "pitch model")
    lstms = [lay for lay in model.layers if isinstance(lay, keras.layers.LSTM) and lay.name.startswith("lstm_")]
    if not lstms:
        raise ConfigError(f"{model.name}: no time LSTM layers (lstm_N) in this model")
    _check_layer(layer, len(lstms), "time LSTM layers")
    roll = piano_roll(read_score(score_path)).astype(np.float32)
    if roll.shape[1] != NUM_KEYS:
        raise ParameterError(f"expected an {NUM_KEYS}-key roll, got {roll.shape}")
    lstm = lstms[layer]
    upstream = keras.Model(model.inputs[0], [lstm.input, lstm.output])
    x, keras_out = (np.asarray(a)[0] for a in upstream(roll[None]))
    trace = run_lstm(LSTMWeights.from_keras(lstm), x)
    return GateTrace(kind="music", source=str(score_path), layer=lstm.name, inputs=roll, input_name="piano roll",
                     input_fps=1.0, step_fps=1.0, directions={"forward": trace}, labels=[], text="",
                     max_abs_diff=float(np.abs(trace["h"] - keras_out).max()), input_low=MIN_PITCH)


def model_kind(path) -> str:
    """"speech" for a recognizer, "music" for a music model (run directory or .keras file),
    read from the saved model's config without loading it."""
    import json
    import zipfile

    from speech_lstm.training import resolve_model_path

    model_path = resolve_model_path(path)
    try:
        with zipfile.ZipFile(model_path) as z:
            config = json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ConfigError(f"{model_path}: not a Keras model file ({e})") from e
    return "speech" if config.get("class_name") == "CTCASRModel" else "music"


def inspect(model, input_path, layer: int = 0) -> GateTrace:
    """:func:`inspect_speech` or :func:`inspect_music`, by the kind of model saved at ``model``."""
    if model_kind(model) == "speech":
        return inspect_speech(model, input_path, layer)
    return inspect_music(model, input_path, layer)
