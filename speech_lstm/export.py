"""Export a trained recognizer as a TensorFlow SavedModel that takes raw audio and returns text.

The SavedModel holds the whole inference path as TensorFlow ops: the MFCC front end
(:func:`speech_lstm.features.tf_mfcc`, tested against the librosa path used in training),
the BiLSTM-CTC model, and CTC decoding. Serving it needs TensorFlow only.

Signatures (``saved_model_cli show --dir DIR --all`` lists them):

``serving_default`` (greedy decoding)
    inputs:  ``waveform`` float32 [batch, samples], mono at the model's sample rate, zero-padded;
             ``lengths`` int32 [batch], true sample counts.
    outputs: ``text`` string [batch]; ``logits`` float32 [batch, frames, classes] (blank = 0);
             ``logit_lengths`` int32 [batch]; ``char_ids`` int32 [batch, chars] (-1 padded);
             ``char_frames`` int32 [batch, chars], the output frame where each character is
             emitted (-1 padded; seconds = frame * ``frame_seconds`` from the metadata);
             ``char_confidences`` float32 [batch, chars], mean posterior of each character's run;
             ``score`` float32 [batch], log-probability of the best path.
``beam_search``
    inputs as above; outputs ``texts`` string [batch, top_paths] best first and ``scores``
    float32 [batch, top_paths] (log-probabilities), beam width and n-best size fixed at export.

Assets (``DIR/assets/``): ``speech_lstm.json`` (sample rate, frame_seconds, FeatureConfig,
vocabulary, beam settings, model config and training results when exported from a run),
``vocab.json``; ``README.txt`` says how to call it.

The directory is written next to its destination and renamed into place, so a crash never
leaves a half-written export at ``DIR``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml

from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import BLANK_ID, Hypothesis, decode_hypotheses
from speech_lstm.errors import ConfigError, ParameterError
from speech_lstm.features import tf_mfcc
from speech_lstm.text import Vocabulary, vocabulary_from_json
from speech_lstm.training import load_run, resolve_model_path

__all__ = ["export_saved_model", "load_exported", "ExportedRecognizer", "is_saved_model", "METADATA_FILE"]

METADATA_FILE = "speech_lstm.json"


def is_saved_model(path) -> bool:
    return Path(path).is_dir() and (Path(path) / "saved_model.pb").exists()


def greedy_decode_graph(logits, lengths):
    """Best-path CTC decoding as TensorFlow ops (blank = 0), the graph twin of ``ctc_greedy_decode``.

    logits: float32 [B, T, V]; lengths: int32 [B]. Returns ragged int32 char ids and frames
    [B, (chars)], ragged float32 confidences (mean posterior over each character's run of
    frames) and the best-path log-probability float32 [B].
    """
    logp = tf.nn.log_softmax(logits, axis=-1)
    best = tf.argmax(logp, axis=-1, output_type=tf.int32)  # [B, T]
    steps = tf.shape(best)[1]
    valid = tf.range(steps)[None, :] < lengths[:, None]
    prev = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=BLANK_ID)
    nonblank = valid & (best != BLANK_ID)
    emit = nonblank & (best != prev)
    best_logp = tf.reduce_max(logp, axis=-1)
    score = tf.reduce_sum(tf.where(valid, best_logp, 0.0), axis=1)
    # Every non-blank frame belongs to the run of the last emitted character.
    run = tf.cumsum(tf.cast(emit, tf.int32), axis=1) - 1
    segment = tf.where(nonblank, tf.range(tf.shape(best)[0])[:, None] * steps + run, -1)
    flat_segment = tf.reshape(segment, [-1])
    keep = flat_segment >= 0
    num = tf.shape(best)[0] * steps
    prob = tf.exp(tf.reshape(best_logp, [-1]))
    sums = tf.math.unsorted_segment_sum(tf.boolean_mask(prob, keep), tf.boolean_mask(flat_segment, keep), num)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(sums[: tf.size(flat_segment[keep])]),
                                          tf.boolean_mask(flat_segment, keep), num)
    mean = tf.reshape(sums / tf.maximum(counts, 1.0), tf.shape(best))  # [B, T] indexed by run
    ids = tf.ragged.boolean_mask(best, emit)
    frames = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(steps)[None, :], tf.shape(best)), emit)
    run_index = tf.ragged.range(tf.reduce_sum(tf.cast(emit, tf.int32), axis=1))
    confidences = tf.gather(mean, run_index, batch_dims=1)
    return ids, frames, confidences, score


class _Serving(tf.Module):
    def __init__(self, model, feature_config, vocab: Vocabulary, beam_width: int, top_paths: int, assets):
        super().__init__(name="speech_lstm")
        self.model = model
        self._fc = feature_config
        self._beam_width, self._top_paths = beam_width, top_paths
        self._chars = [""] + list(vocab.chars)  # id -> string; the blank decodes to nothing
        self.assets = [tf.saved_model.Asset(str(p)) for p in assets]
        spec = (tf.TensorSpec([None, None], tf.float32, name="waveform"), tf.TensorSpec([None], tf.int32, name="lengths"))
        self.serve = tf.function(self._serve, input_signature=spec)
        self.beam = tf.function(self._beam, input_signature=spec)

    def _logits(self, waveform, lengths):
        features, frames = tf_mfcc(waveform, lengths, self._fc)
        logits = self.model({"features": features, "feature_lengths": frames}, training=False)
        return tf.cast(logits, tf.float32), tf.cast(self.model.output_lengths(frames), tf.int32)

    def _text(self, ids):
        text = tf.strings.reduce_join(tf.gather(tf.constant(self._chars), ids), axis=-1)
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    def _serve(self, waveform, lengths):
        logits, out_lengths = self._logits(waveform, lengths)
        ids, frames, confidences, score = greedy_decode_graph(logits, out_lengths)
        return {
            "text": self._text(ids),
            "logits": logits,
            "logit_lengths": out_lengths,
            "char_ids": ids.to_tensor(default_value=-1),
            "char_frames": frames.to_tensor(default_value=-1),
            "char_confidences": confidences.to_tensor(default_value=0.0),
            "score": score,
        }

    def _beam(self, waveform, lengths):
        logits, out_lengths = self._logits(waveform, lengths)
        decoded, scores = keras.ops.ctc_decode(tf.nn.log_softmax(logits), out_lengths, strategy="beam_search",
                                               beam_width=self._beam_width, top_paths=self._top_paths,
                                               mask_index=BLANK_ID)
        ids = tf.maximum(tf.transpose(tf.cast(decoded, tf.int32), [1, 0, 2]), 0)  # [B, paths, T]; -1 pads -> ""
        return {"texts": self._text(ids), "scores": tf.cast(scores, tf.float32)}


def _metadata(model, fc, vocab, beam_width, top_paths, source: Path) -> dict:
    run_dir = source if source.is_dir() else source.parent
    meta = {
        "format": "speech_lstm SavedModel v1",
        "sample_rate": fc.sample_rate,
        "frame_seconds": model.subsample_factor / fc.frames_per_second,
        "feature_config": dataclasses.asdict(fc),
        "vocabulary": vocab.to_json(),
        "beam_width": beam_width,
        "top_paths": top_paths,
        "signatures": {"serving_default": ["waveform", "lengths"], "beam_search": ["waveform", "lengths"]},
    }
    if (run_dir / "config.yaml").exists():
        meta["model_config"] = yaml.safe_load((run_dir / "config.yaml").read_text()).get("model")
    else:
        meta["model_config"] = {k: v for k, v in model.get_config().items() if k not in ("feature_config", "vocabulary")}
    if (run_dir / "results.json").exists():
        results = json.loads((run_dir / "results.json").read_text())
        meta["results"] = {name: {k: v for k, v in r.items() if not isinstance(v, list)} for name, r in results.items()}
    return meta


_README = """speech_lstm recognizer (TensorFlow SavedModel)

  import tensorflow as tf
  m = tf.saved_model.load(DIR)
  out = m.signatures["serving_default"](waveform=tf.constant(batch, tf.float32),  # [B, samples], {sr} Hz mono
                                        lengths=tf.constant(lengths, tf.int32))  # [B]
  out["text"]            # string [B]
  m.signatures["beam_search"](waveform=..., lengths=...)["texts"]  # [B, {top_paths}] n-best

Timing of character i of example b: char_frames[b, i] * {frame_seconds} s. See speech_lstm.json.
"""


def export_saved_model(model_path, out_dir, beam_width: int = 16, top_paths: int = 4, force: bool = False,
                       emission_lag: float = 0.0) -> Path:
    """Export a run directory or ``.keras`` file to a SavedModel at ``out_dir``; returns ``out_dir``.

    emission_lag: seconds word start times are moved back by when transcribing with this export
    (measured with :func:`speech_lstm.transcribe.calibrate_emission_lag`), kept in the metadata.

    Refuses to replace an existing ``out_dir`` unless ``force``. The export is built in a
    temporary sibling folder, then renamed into place.
    """
    if not 0.0 <= emission_lag < 1.0:
        raise ParameterError(f"emission_lag must be in [0, 1) seconds, got {emission_lag}")
    if beam_width < 1 or not 1 <= top_paths <= beam_width:
        raise ParameterError(f"need beam_width >= 1 and 1 <= top_paths <= beam_width, got {beam_width}, {top_paths}")
    source = Path(model_path)
    resolve_model_path(source)
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise ConfigError(f"{out_dir} already exists (use --force to replace it)")
    model, fc, vocab = load_run(source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        staging = tmp / "_assets"
        staging.mkdir()
        meta = _metadata(model, fc, vocab, beam_width, top_paths, source)
        meta["emission_lag_seconds"] = emission_lag
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=1))
        vocab.save(staging / "vocab.json")
        (staging / "README.txt").write_text(_README.format(sr=fc.sample_rate, top_paths=top_paths,
                                                           frame_seconds=meta["frame_seconds"]))
        module = _Serving(model, fc, vocab, beam_width, top_paths, sorted(staging.iterdir()))
        target = tmp / "model"
        tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve,
                                                              "beam_search": module.beam})
        _replace_dir(target, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; an existing ``dst`` is swapped out first and removed after."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class ExportedRecognizer:
    """A loaded export, with the recognizer interface of :mod:`speech_lstm.transcribe`.

    ``self(waveforms)`` runs ``serving_default`` (``beam=True``: ``beam_search``) on a list of
    float32 [samples] arrays at :attr:`sample_rate` and returns its outputs as numpy arrays.
    """

    def __init__(self, path):
        path = Path(path)
        if not is_saved_model(path):
            raise ConfigError(f"{path}: not a SavedModel directory (no saved_model.pb)")
        meta_path = path / "assets" / METADATA_FILE
        if not meta_path.exists():
            raise ConfigError(f"{path}: SavedModel has no assets/{METADATA_FILE} (not a speech_lstm export)")
        self.path = path
        self.metadata = json.loads(meta_path.read_text())
        self.sample_rate = int(self.metadata["sample_rate"])
        self.frame_seconds = float(self.metadata["frame_seconds"])
        self.emission_lag = float(self.metadata.get("emission_lag_seconds", 0.0))
        self.vocab = vocabulary_from_json(self.metadata["vocabulary"])
        self._loaded = tf.saved_model.load(str(path))
        self.greedy = self._loaded.signatures["serving_default"]
        self.beam = self._loaded.signatures["beam_search"]

    def __call__(self, waveforms, beam: bool = False) -> dict:
        """Run a signature on a list of float32 [samples] arrays; returns numpy outputs."""
        batch, lengths = pad_batch(waveforms)
        fn = self.beam if beam else self.greedy
        return {k: v.numpy() for k, v in fn(waveform=tf.constant(batch), lengths=tf.constant(lengths)).items()}

    def decode(self, waveforms, options: DecodeOptions) -> list[tuple[Hypothesis, list | None]]:
        """Float32 waveforms at :attr:`sample_rate` -> per waveform (best path, n-best or None).

        Beam search uses the width fixed at export; asking for another is a ConfigError. With a
        word list (``options.words``), a language model or hot words, the search runs here on
        the exported model's logits, at any width.
        """
        out = self(waveforms)
        if options.searches_words:  # searched here, on the exported model's logits
            return decode_hypotheses(out["logits"], out["logit_lengths"], self.vocab, options)
        hyps = []
        for b in range(len(waveforms)):
            n = int((out["char_ids"][b] >= 0).sum())
            hyps.append(Hypothesis([int(i) for i in out["char_ids"][b, :n]], float(out["score"][b]),
                                   [int(t) for t in out["char_frames"][b, :n]],
                                   [float(c) for c in out["char_confidences"][b, :n]]))
        if options.strategy != "beam":
            return [(h, None) for h in hyps]
        width, paths = self.metadata["beam_width"], self.metadata["top_paths"]
        if options.beam_width != width or options.top_paths > paths:
            raise ConfigError(f"{self.path} was exported for beam search with width {width} and up to {paths} "
                              f"paths; got --beam-width {options.beam_width} --top-paths {options.top_paths} "
                              "(re-export with other settings, or use the .keras model)")
        beam = self(waveforms, beam=True)
        return [(h, [{"text": t.decode(), "score": round(float(sc), 4)}
                     for t, sc in zip(beam["texts"][b, : options.top_paths], beam["scores"][b, : options.top_paths])])
                for b, h in enumerate(hyps)]


def pad_batch(waveforms):
    """List of float32 [samples] -> (zero-padded float32 [B, max samples], int32 [B] lengths)."""
    lengths = np.array([len(w) for w in waveforms], dtype=np.int32)
    batch = np.zeros((len(waveforms), int(lengths.max(initial=0))), np.float32)
    for i, w in enumerate(waveforms):
        batch[i, : len(w)] = w
    return batch, lengths


def load_exported(path) -> ExportedRecognizer:
    return ExportedRecognizer(path)
