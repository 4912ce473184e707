"""Transcription: audio files -> features -> model -> CTC decoding -> text with word timings.

One bad input never stops a batch: each path yields either a result or the error that
names it.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speech_lstm.audio import load_audio
from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import ctc_beam_decode, ctc_greedy_decode
from speech_lstm.errors import AudioLoadError, ParameterError, SpeechLSTMError
from speech_lstm.evaluate import inference_function
from speech_lstm.features import compute_mfcc
from speech_lstm.training import load_run

__all__ = ["Recognizer", "Transcript", "Word", "expand_inputs", "AUDIO_EXTENSIONS"]

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
    """The result for one input: text, word timings, duration (s) and the n-best list (beam only)."""

    path: str
    text: str
    duration: float
    words: list = field(default_factory=list)
    nbest: list | None = None

    def to_dict(self) -> dict:
        d = {"audio_filepath": self.path, "text": self.text, "duration": round(self.duration, 3),
             "words": [vars(w) for w in self.words]}
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


class Recognizer:
    """A trained recognizer ready to transcribe: model + its FeatureConfig + vocabulary.

    ``Recognizer.load(path)`` takes a run directory or a ``.keras`` file.
    """

    def __init__(self, model, feature_config, vocab, options: DecodeOptions | None = None):
        self.model, self.feature_config, self.vocab = model, feature_config, vocab
        self.options = options or DecodeOptions()
        self._forward = inference_function(model)
        self.output_seconds = model.subsample_factor / feature_config.frames_per_second

    @classmethod
    def load(cls, path, options: DecodeOptions | None = None) -> "Recognizer":
        model, fc, vocab = load_run(path)
        return cls(model, fc, vocab, options)

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

    def _words(self, hyp) -> list[Word]:
        words, current = [], []
        for k, frame, conf in zip(hyp.ids, hyp.frames, hyp.confidences):
            ch = self.vocab.id_to_char(k)
            if ch == " ":
                if current:
                    words.append(current)
                current = []
            else:
                current.append((ch, frame, conf))
        if current:
            words.append(current)
        step = self.output_seconds
        return [
            Word("".join(c for c, _, _ in w), round(w[0][1] * step, 3), round((w[-1][1] + 1) * step, 3),
                 round(float(np.mean([c for _, _, c in w])), 4))
            for w in words
        ]

    def transcribe_waveforms(self, waveforms, names=None) -> list[Transcript]:
        """Float32 waveforms [samples] at the model's sample rate -> Transcripts (one batch)."""
        names = names or [f"<waveform {i}>" for i in range(len(waveforms))]
        feats = [self.featurize(w) for w in waveforms]
        logits, lengths = self.logits(feats)
        greedy = ctc_greedy_decode(logits, lengths)
        out = []
        beams = None
        if self.options.strategy == "beam":
            beams = ctc_beam_decode(logits, lengths, self.options.beam_width, self.options.top_paths)
        for i, (name, w) in enumerate(zip(names, waveforms)):
            duration = len(w) / self.feature_config.sample_rate
            if beams is None:
                out.append(Transcript(str(name), self.vocab.decode_words(greedy[i].ids), duration, self._words(greedy[i])))
            else:
                nbest = [{"text": self.vocab.decode_words(h.ids), "score": round(h.score, 4)} for h in beams[i]]
                # Word timings come from the best path; the text from the beam.
                out.append(Transcript(str(name), nbest[0]["text"], duration, self._words(greedy[i]), nbest))
        return out

    def transcribe_paths(self, paths, batch_size: int = 16):
        """Yield ``(path, Transcript | SpeechLSTMError)`` for each path, in input order.

        Unreadable, empty, silent or missing files yield their AudioLoadError and the batch
        goes on. Files are batched in input order, ``batch_size`` at a time.
        """
        if batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
        pending = []

        def flush():
            ok = [i for i, (_, w) in enumerate(pending) if not isinstance(w, SpeechLSTMError)]
            results = {}
            if ok:
                done = self.transcribe_waveforms([pending[i][1] for i in ok], [pending[i][0] for i in ok])
                results = dict(zip(ok, done))
            for i, (p, w) in enumerate(pending):
                yield p, results.get(i, w)
            pending.clear()

        for path in paths:
            try:
                wav = load_audio(path, self.feature_config.sample_rate)
                if len(wav) < self.feature_config.win_length:
                    raise AudioLoadError(path, f"too short ({len(wav)} samples after resampling)")
            except SpeechLSTMError as e:
                wav = e
            pending.append((str(path), wav))
            if len(pending) >= batch_size:
                yield from flush()
        if pending:
            yield from flush()
