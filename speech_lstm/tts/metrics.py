"""Evaluation of synthesized speech: mel-cepstral distortion, phoneme durations, intelligibility.

* :func:`mel_cepstral_distortion` — spectral distance (dB) between a recording and a synthesis of
  the same text, frames aligned by DTW, so the two need not have the same length.
* :func:`duration_error_ms` — per-phoneme duration error of a duration predictor, in ms.
* :func:`word_error_rate` — jiwer WER of normalised (lowercase-word) transcripts, a fraction.
* :func:`intelligibility` — PocketSphinx (:mod:`speech_lstm.sphinx`, open vocabulary) WER on the
  reference recordings and on the synthesized ones: a recogniser that never saw this package's
  models says how much harder the synthesis is to understand than the real thing. Its absolute
  WER on eSpeak NG speech is high (its acoustic model was trained on human speech), so read the
  difference, not the level.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from speech_lstm.errors import AudioLoadError, ParameterError

__all__ = ["mel_cepstral_distortion", "duration_error_ms", "word_error_rate", "intelligibility"]

_DB = 10.0 / np.log(10.0)  # natural-log cepstral distance -> dB


def _waveform(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ParameterError(f"{name} must be mono float [samples], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"{name} must be a float waveform in [-1, 1], got dtype {x.dtype} "
                             "(int16 audio: divide by 32768)")
    if x.size == 0:
        raise ParameterError(f"{name} is empty (0 samples)")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{name} contains NaN or infinite samples")
    if not np.any(x):
        raise ParameterError(f"{name} is silent (all samples are 0)")
    return x.astype(np.float32, copy=False)


def _mel_cepstrum(y: np.ndarray, sample_rate: int, n_mfcc: int, n_mels: int, n_fft: int,
                  hop_length: int) -> np.ndarray:
    """c1..c(n_mfcc-1) of the natural-log mel magnitude spectrogram: float [n_mfcc - 1, frames]."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                         fmax=min(8000.0, sample_rate / 2), power=1.0)
    # Log magnitude, as mel-cepstra are (the 10 / ln 10 * sqrt(2 ...) of the MCD formula assumes
    # natural-log amplitude cepstra), floored 60 dB below the utterance's peak: eSpeak NG leaves
    # bands and pauses digitally empty, and without a floor their log would swamp the distance.
    log_mel = librosa.amplitude_to_db(mel, ref=np.max, top_db=60.0) * (np.log(10.0) / 20.0)
    return librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)[1:]


def mel_cepstral_distortion(reference, synthesized, sample_rate: int, n_mfcc: int = 25, n_mels: int = 80,
                            n_fft: int = 1024, hop_length: int = 256, trim_db: float | None = 40.0) -> float:
    """Mel-cepstral distortion (dB) between two waveforms of the same text, aligned by DTW.

    ``reference``, ``synthesized``: float [samples] in [-1, 1], mono, both at ``sample_rate`` Hz
    (int > 0); their lengths may differ. ``n_fft``, ``hop_length``: samples.

    Definition (the MFCC-based MCD-DTW as commonly reported; not the SPTK mel-cepstrum, so the
    figures are not comparable with SPTK/WORLD-based MCDs):

    1. ``trim_db``: leading and trailing silence quieter than ``trim_db`` dB below each signal's
       peak is cut from both (``librosa.effects.trim``); None keeps them. Trimming is the default
       so that silence of different lengths, or a recording's room noise against a synthesizer's
       digital silence, does not count as distortion of the speech.
    2. Mel-cepstra ``c_0..c_{n_mfcc-1}`` per frame: librosa MFCCs (orthonormal DCT-II) of the
       natural log of the ``n_mels``-band mel magnitude spectrogram up to 8 kHz, floored 60 dB
       below the utterance's peak. ``c_0`` (overall level) is dropped: ``c_1..c_24``.
    3. Frames aligned with ``librosa.sequence.dtw`` (Euclidean cost between cepstral vectors).
    4. ``MCD = mean over the aligned path of (10 / ln 10) * sqrt(2 * sum_k (c_k - c'_k)^2)``.

    Identical signals give 0. ParameterError for an empty, silent, non-finite or non-mono input,
    or a bad option.
    """
    import librosa

    for name, value in (("sample_rate", sample_rate), ("n_mels", n_mels), ("n_fft", n_fft),
                        ("hop_length", hop_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be an int > 0, got {value!r}")
    if isinstance(n_mfcc, bool) or not isinstance(n_mfcc, (int, np.integer)) or not 2 <= n_mfcc <= n_mels:
        raise ParameterError(f"n_mfcc must be an int in [2, n_mels={n_mels}] (c0 is dropped), got {n_mfcc!r}")
    if trim_db is not None and not trim_db > 0:
        raise ParameterError(f"trim_db must be > 0 dB or None, got {trim_db!r}")
    ref = _waveform(reference, "reference")
    syn = _waveform(synthesized, "synthesized")
    if trim_db is not None:
        ref = librosa.effects.trim(ref, top_db=trim_db, frame_length=n_fft, hop_length=hop_length)[0]
        syn = librosa.effects.trim(syn, top_db=trim_db, frame_length=n_fft, hop_length=hop_length)[0]
    a = _mel_cepstrum(ref, sample_rate, n_mfcc, n_mels, n_fft, hop_length)
    b = _mel_cepstrum(syn, sample_rate, n_mfcc, n_mels, n_fft, hop_length)
    _, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")
    diff = a[:, path[:, 0]] - b[:, path[:, 1]]
    return float(np.mean(_DB * np.sqrt(2.0 * np.sum(diff * diff, axis=0))))


def duration_error_ms(predicted_frames, reference_frames, hop_seconds: float) -> dict:
    """Per-phoneme absolute duration error of predicted against reference durations.

    ``predicted_frames``, ``reference_frames``: [phonemes] durations in frames (ints or floats
    >= 0), the same phonemes in the same order. ``hop_seconds``: seconds per frame, > 0.
    Returns ``{"mae_ms": mean |error|, "rmse_ms": root mean square error, "phonemes": count}``.
    ParameterError names both lengths when they differ.
    """
    if not (isinstance(hop_seconds, (int, float, np.floating, np.integer)) and np.isfinite(hop_seconds)
            and hop_seconds > 0):
        raise ParameterError(f"hop_seconds must be > 0, got {hop_seconds!r}")
    pred = np.asarray(predicted_frames, dtype=np.float64)
    ref = np.asarray(reference_frames, dtype=np.float64)
    for name, x in (("predicted_frames", pred), ("reference_frames", ref)):
        if x.ndim != 1:
            raise ParameterError(f"{name} must be 1-D [phonemes], got shape {x.shape}")
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ParameterError(f"{name} must be finite durations >= 0")
    if pred.shape != ref.shape:
        raise ParameterError(f"predicted_frames has {pred.size} phonemes, reference_frames has {ref.size}: "
                             "they must be the same phonemes")
    if pred.size == 0:
        raise ParameterError("no phonemes: predicted_frames and reference_frames are empty")
    error_ms = (pred - ref) * (hop_seconds * 1000.0)
    return {
        "mae_ms": float(np.mean(np.abs(error_ms))),
        "rmse_ms": float(np.sqrt(np.mean(error_ms * error_ms))),
        "phonemes": int(pred.size),
    }


def _texts(texts, name: str) -> list[str]:
    if isinstance(texts, str):
        raise ParameterError(f"{name} must be a list of strings, one per utterance, got one string")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ParameterError(f"{name} must be strings, item {bad[0]} is {type(texts[bad[0]]).__name__}")
    return texts


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER (jiwer: word edits / reference words) as a fraction, 0.0 = perfect.

    ``references``, ``hypotheses``: one normalised transcript per utterance (lowercase words
    separated by spaces; an empty hypothesis is all deletions, an empty reference's words are
    insertions). ParameterError if the counts differ or the references hold no words.
    """
    import jiwer

    references, hypotheses = _texts(references, "references"), _texts(hypotheses, "hypotheses")
    if len(references) != len(hypotheses):
        raise ParameterError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not any(r.split() for r in references):
        raise ParameterError("the references hold no words: WER is undefined")
    return float(jiwer.wer(references, hypotheses))


def intelligibility(reference_paths: Sequence[str | os.PathLike], synthesized_paths: Sequence[str | os.PathLike],
                    texts: Sequence[str], workers: int = 2) -> dict:
    """PocketSphinx WER of the reference recordings and of the synthesized ones, same texts.

    ``reference_paths[i]`` and ``synthesized_paths[i]`` speak ``texts[i]`` (normalised: lowercase
    words). Audio files of any rate are resampled to 16 kHz; both sets are decoded by one pool
    of ``workers`` spawned processes (a calling script needs ``if __name__ == "__main__":``),
    open-vocabulary (PocketSphinx's en-us language model, :func:`speech_lstm.sphinx.build_decoder`).

    Returns ``{"utterances", "reference_wer", "synthesized_wer", "wer_difference_points"}``
    (fractions; the difference is synthesized minus reference, in percentage points) plus
    ``"reference_hypotheses"`` and ``"synthesized_hypotheses"``: the transcripts, in order, for
    showing examples. AudioLoadError names the first missing file; ParameterError if the three
    lists differ in length or are empty.
    """
    from speech_lstm.sphinx import transcribe_pocketsphinx

    reference_paths, synthesized_paths, texts = list(reference_paths), list(synthesized_paths), list(texts)
    if not len(reference_paths) == len(synthesized_paths) == len(texts):
        raise ParameterError(f"{len(reference_paths)} reference_paths, {len(synthesized_paths)} synthesized_paths "
                             f"and {len(texts)} texts: one of each per utterance")
    if not texts:
        raise ParameterError("no utterances to score")
    paths = reference_paths + synthesized_paths
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise AudioLoadError(missing[0], f"file not found ({len(missing)} of {len(paths)} missing)")
    hyps = transcribe_pocketsphinx(paths, workers=workers)
    ref_hyps, syn_hyps = hyps[:len(texts)], hyps[len(texts):]
    ref_wer = word_error_rate(texts, ref_hyps)
    syn_wer = word_error_rate(texts, syn_hyps)
    return {
        "utterances": len(texts),
        "reference_wer": ref_wer,
        "synthesized_wer": syn_wer,
        "wer_difference_points": 100.0 * (syn_wer - ref_wer),
        "reference_hypotheses": ref_hyps,
        "synthesized_hypotheses": syn_hyps,
    }
