"""Transcription: audio files -> segments -> length-sorted batches -> text with word timings.

A recognizer is a Keras model (librosa features, :class:`Recognizer`) or an exported
SavedModel (in-graph features, :class:`speech_lstm.export.ExportedRecognizer`); both expose
``sample_rate``, ``frame_seconds``, ``vocab`` and ``decode(waveforms, options)``.
:func:`load_recognizer` picks one from a path.

:func:`transcribe_files` splits long files in pauses (:mod:`speech_lstm.segment`), batches
segments of many files together by length, stitches each file's segments back with absolute
times, and yields results in input order. One bad input never stops a batch: it yields the
error that names it.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from speech_lstm.audio import audio_info
from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import Hypothesis, decode_hypotheses
from speech_lstm.errors import ConfigError, ParameterError, SpeechLSTMError
from speech_lstm.evaluate import inference_function, word_timing_errors
from speech_lstm.export import ExportedRecognizer, is_saved_model
from speech_lstm.features import compute_mfcc
from speech_lstm.segment import SegmentOptions, iter_segments
from speech_lstm.training import load_run

__all__ = ["Recognizer", "load_recognizer", "Transcript", "Word", "expand_inputs", "read_list_file",
           "transcribe_files", "calibrate_emission_lag", "AUDIO_EXTENSIONS"]

# Segments are sorted by length (less padding) within a window of this many batches or seconds.
WINDOW_SEGMENTS, WINDOW_SECONDS = 8, 600

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus", ".w64", ".caf"}


@dataclass
class Word:
    """A decoded word: start/end in seconds, confidence = mean posterior of its characters."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass
class Transcript:
    """The result for one input: text, word timings, duration (s), the speech segments it was
    cut into (``{"start", "end", "text"}``) and, for a one-segment input under beam search,
    the n-best list (``{"text", "score"}``)."""

    path: str
    text: str
    duration: float
    words: list = field(default_factory=list)
    nbest: list | None = None
    segments: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {"audio_filepath": self.path, "text": self.text, "duration": round(self.duration, 3),
             "words": [vars(w) for w in self.words], "segments": self.segments}
        if self.nbest is not None:
            d["nbest"] = self.nbest
        return d


def expand_inputs(items) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, directories (searched recursively for audio files) and globs -> (paths, problems).

    A problem is ``(item, reason)`` for an input that matched nothing.
    """
    paths, problems = [], []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                problems.append((item, "directory holds no audio files"))
            paths.extend(found)
        elif any(ch in item for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(item, recursive=True) if Path(q).is_file())
            if not found:
                problems.append((item, "pattern matched no files"))
            paths.extend(found)
        else:
            paths.append(p)  # missing files are reported when loaded, in order
    return paths, problems


def read_list_file(path) -> list[str]:
    """Inputs listed one per line (blank lines and ``#`` comments skipped); relative entries
    are taken relative to the list file's folder."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the input list ({e.strerror or e})") from e
    items = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [item if Path(item).is_absolute() else str(path.parent / item) for item in items]


class Recognizer:
    """A Keras recognizer (model + its FeatureConfig + vocabulary) with the librosa front end.

    emission_lag: seconds by which CTC emits a word after it starts; word start times are moved
    back by it (see :func:`calibrate_emission_lag`).
    """

    def __init__(self, model, feature_config, vocab, emission_lag: float = 0.0):
        self.model, self.feature_config, self.vocab = model, feature_config, vocab
        self.emission_lag = emission_lag
        self.sample_rate = feature_config.sample_rate
        self.frame_seconds = model.subsample_factor / feature_config.frames_per_second
        self._forward = inference_function(model)

    @classmethod
    def load(cls, path) -> "Recognizer":
        return cls(*load_run(path))

    def featurize(self, waveform: np.ndarray) -> np.ndarray:
        return compute_mfcc(waveform, self.feature_config)

    def logits(self, features_list):
        """Padded batch forward pass: list of [frames, dim] -> (logits [B, T', V], lengths [B])."""
        lengths = np.array([f.shape[0] for f in features_list], dtype=np.int32)
        batch = np.zeros((len(features_list), int(lengths.max()), self.feature_config.feature_dim), np.float32)
        for i, f in enumerate(features_list):
            batch[i, : f.shape[0]] = f
        logits, out_lengths = self._forward(batch, lengths)
        return logits.numpy(), out_lengths.numpy()

    def decode(self, waveforms, options: DecodeOptions) -> list[tuple[Hypothesis, list | None]]:
        """Float32 waveforms at :attr:`sample_rate` -> per waveform (best path, n-best or None)."""
        logits, lengths = self.logits([self.featurize(w) for w in waveforms])
        return decode_hypotheses(logits, lengths, self.vocab, options)


def load_recognizer(path):
    """A SavedModel directory (exported) or a run directory / ``.keras`` file (Keras)."""
    if is_saved_model(path):
        return ExportedRecognizer(path)
    if not Path(path).exists():
        raise ConfigError(f"--model {path}: no such file or directory (expected a SavedModel directory, "
                          "a run directory or a .keras file)")
    return Recognizer.load(path)


def _words(hyp: Hypothesis, vocab, frame_seconds: float, offset: float, lag: float = 0.0) -> list[Word]:
    """Words of a best path with times: a word starts at its first character's emission and
    ends at the emission of the space after it (its last character's frame + 1 at the end of a
    segment); starts are moved ``lag`` s earlier (CTC emits a character after its sound starts)."""
    if getattr(vocab, "is_words", False):  # one id per word: it ends where the next one starts
        ends = list(hyp.frames[1:]) + [hyp.frames[-1] + 1 if hyp.frames else 0]
        return [Word(vocab.id_to_char(k), round(max(offset, offset + f * frame_seconds - lag), 3),
                     round(offset + e * frame_seconds, 3), round(float(c), 4))
                for k, f, e, c in zip(hyp.ids, hyp.frames, ends, hyp.confidences)]
    words, current = [], []
    for k, frame, conf in zip(hyp.ids, hyp.frames, hyp.confidences):
        if vocab.id_to_char(k) == " ":
            if current:
                words.append((current, frame))
            current = []
        else:
            current.append((vocab.id_to_char(k), frame, conf))
    if current:
        words.append((current, current[-1][1] + 1))

    def at(frame, shift=lag):
        return round(max(offset, offset + frame * frame_seconds - shift), 3)

    return [Word("".join(c for c, _, _ in w), at(w[0][1]), at(end, 0.0), round(float(np.mean([c for _, _, c in w])), 4))
            for w, end in words]


class _File:
    """One input's progress: its decoded segments, whether all were read, or its error."""

    def __init__(self, path):
        self.path, self.duration, self.info = str(path), 0.0, None
        self.results: dict = {}
        self.num_segments: int | None = None
        self.error: SpeechLSTMError | None = None
        self.done_seconds = 0.0

    @property
    def complete(self) -> bool:
        return self.error is not None or (self.num_segments is not None and len(self.results) == self.num_segments)

    def transcript(self, recognizer, options: DecodeOptions):
        if self.error is not None:
            return self.error
        words, segments, texts = [], [], []
        for i in range(self.num_segments):
            start, end, hyp, nbest = self.results[i]
            text = nbest[0]["text"] if nbest else recognizer.vocab.decode_words(hyp.ids)
            words += _words(hyp, recognizer.vocab, recognizer.frame_seconds, start, recognizer.emission_lag)
            segments.append({"start": round(start, 3), "end": round(end, 3), "text": text})
            texts.append(text)
        nbest = self.results[0][3] if self.num_segments == 1 else None
        return Transcript(self.path, " ".join(t for t in texts if t), self.duration, words, nbest, segments)


def transcribe_files(recognizer, paths, options: DecodeOptions | None = None, batch_size: int = 16,
                     segment_options: SegmentOptions | None = None, progress: bool | None = None):
    """Yield ``(path, Transcript | SpeechLSTMError)`` for each path, in input order.

    Long files are cut in pauses into segments of at most ``segment_options.max_seconds``;
    segments from several files are sorted by length into batches of ``batch_size``. Memory
    is bounded by the sorting window: ``WINDOW_SEGMENTS * batch_size`` segments or
    ``WINDOW_SECONDS`` of audio, whichever comes first. ``progress``: a bar on stderr
    (None: only when stderr is a terminal).
    """
    options = options or DecodeOptions()
    segment_options = segment_options or SegmentOptions()
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    min_samples = int(0.025 * recognizer.sample_rate)
    files = []
    for p in paths:
        f = _File(p)
        try:
            f.info = audio_info(p)
            f.duration = f.info[1] / f.info[0]
        except SpeechLSTMError as e:
            f.error = e
        files.append(f)
    bar = tqdm(total=round(sum(f.duration for f in files), 1), unit="s", desc="transcribe", file=sys.stderr,
               disable=(None if progress is None else not progress), dynamic_ncols=True, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
    window, emitted = [], 0
    window_samples = [0]
    max_samples = WINDOW_SECONDS * recognizer.sample_rate

    def full():
        return len(window) >= WINDOW_SEGMENTS * batch_size or window_samples[0] >= max_samples

    def run_window():
        window.sort(key=lambda item: len(item[1].waveform))
        for i in range(0, len(window), batch_size):
            batch = window[i: i + batch_size]
            decoded = recognizer.decode([seg.waveform for _, seg in batch], options)
            for (f, seg), (hyp, nbest) in zip(batch, decoded):
                seconds = len(seg.waveform) / recognizer.sample_rate
                f.results[seg.index] = (seg.start, seg.start + seconds, hyp, nbest)
                f.done_seconds += seconds
                bar.update(seconds)
        window.clear()
        window_samples[0] = 0

    def finished():
        nonlocal emitted
        while emitted < len(files) and files[emitted].complete:
            f = files[emitted]
            bar.update(max(0.0, f.duration - f.done_seconds))  # silence that was skipped
            yield Path(f.path), f.transcript(recognizer, options)
            files[emitted] = None  # free its results
            emitted += 1

    try:
        for i in range(len(files)):
            f = files[i]  # None once emitted
            if f is not None and f.error is None:
                try:
                    kept = 0
                    for seg in iter_segments(f.path, recognizer.sample_rate, segment_options, min_samples, f.info):
                        if len(seg.waveform) < min_samples:
                            continue  # a click between pauses
                        seg.index, kept = kept, kept + 1
                        window.append((f, seg))
                        window_samples[0] += len(seg.waveform)
                        if full():  # a long file streams through the window
                            run_window()
                    f.num_segments = kept
                except SpeechLSTMError as e:
                    f.error = e
                    window[:] = [item for item in window if item[0] is not f]
                    window_samples[0] = sum(len(seg.waveform) for _, seg in window)
            if full():
                run_window()
            yield from finished()
        run_window()
        yield from finished()
    finally:
        bar.close()


def compare_recognizers(first, second, paths, options: DecodeOptions | None = None, batch_size: int = 32) -> dict:
    """Transcribe ``paths`` with two recognizers (e.g. a Keras model and its export):
    ``{"utterances", "identical", "differing": [(path, first text, second text), ...]}``."""
    texts = []
    for recognizer in (first, second):
        texts.append([tr.text if not isinstance(tr, Exception) else repr(tr)
                      for _, tr in transcribe_files(recognizer, paths, options, batch_size=batch_size, progress=False)])
    differing = [(str(p), a, b) for p, a, b in zip(paths, *texts) if a != b]
    return {"utterances": len(paths), "identical": len(paths) - len(differing), "differing": differing[:20]}


def calibrate_emission_lag(recognizer, wav_path, ref_words, spans=None) -> dict:
    """Measure how late the recognizer's word start times are on a recording with known word
    times (``ref_words``: dicts with ``word``, ``start``, ``end``; ``spans``: the utterances'
    (start, end), see :func:`speech_lstm.evaluate.word_timing_errors`), e.g. one made by
    :func:`speech_lstm.data.long_recording.build_long_recording` with a seed of its own.

    Returns ``{"emission_lag", "matched", "words"}``: the median start error of correctly
    recognized words with the recognizer's current lag removed.
    """
    saved, recognizer.emission_lag = recognizer.emission_lag, 0.0
    try:
        (_, result), = transcribe_files(recognizer, [wav_path], progress=False)
    finally:
        recognizer.emission_lag = saved
    if isinstance(result, SpeechLSTMError):
        raise result
    errors = word_timing_errors(ref_words, result.words, spans)
    if errors["matched"] == 0:
        raise ParameterError(f"{wav_path}: no word was recognized, cannot calibrate timings")
    return {"emission_lag": round(float(np.median(errors["start_errors"])), 3), "matched": errors["matched"],
            "words": len(ref_words)}
