"""CTC math: the loss with true lengths, greedy and beam-search decoding, alignments.

Blank is index 0 everywhere and is always passed explicitly. Logits are float32
[batch, frames, classes]; lengths are int32 [batch] true (unpadded) frame counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from speech_lstm.config import DecodeOptions
from speech_lstm.errors import ParameterError

__all__ = [
    "ctc_loss",
    "ctc_greedy_decode",
    "ctc_beam_decode",
    "decode_logits",
    "Hypothesis",
    "log_softmax",
]

BLANK_ID = 0


def ctc_loss(labels, logits, label_lengths, logit_lengths):
    """Per-example CTC negative log-likelihood, float32 [batch].

    labels: int32 [batch, max_label_len] (padding ignored via label_lengths).
    logits: float [batch, frames, classes] unnormalised.  Lengths: int32 [batch], true lengths.
    """
    return keras.ops.ctc_loss(
        keras.ops.cast(labels, "int32"),
        logits,
        keras.ops.cast(label_lengths, "int32"),
        keras.ops.cast(logit_lengths, "int32"),
        mask_index=BLANK_ID,
    )


def log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    z = logits - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass
class Hypothesis:
    """One decoded transcript.

    ids: label ids (no blanks).  frames: for each id, the output frame where it is emitted
    (first frame of its run; greedy only, else None).  score: log-probability of the best path
    (greedy) or the beam score.  confidences: per id, mean posterior over its run (greedy only).
    """

    ids: list
    score: float
    frames: list | None = None
    confidences: list | None = None


def ctc_greedy_decode(logits: np.ndarray, lengths) -> list[Hypothesis]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks (blank = 0).

    logits: float [batch, frames, classes]; lengths: int [batch]. Returns one Hypothesis per
    example with each emitted id's frame and confidence.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 3:
        raise ParameterError(f"logits must be [batch, frames, classes], got shape {logits.shape}")
    lengths = np.asarray(lengths).reshape(-1)
    if lengths.shape[0] != logits.shape[0]:
        raise ParameterError(f"lengths has {lengths.shape[0]} entries for a batch of {logits.shape[0]}")
    logp = log_softmax(logits)
    out = []
    for b in range(logits.shape[0]):
        n = int(min(lengths[b], logits.shape[1]))
        best = logp[b, :n].argmax(axis=-1)
        score = float(logp[b, np.arange(n), best].sum())
        ids, frames, confs = [], [], []
        prev = BLANK_ID
        run_probs = None
        for t, k in enumerate(best):
            k = int(k)
            if k != prev and k != BLANK_ID:
                ids.append(k)
                frames.append(t)
                run_probs = [float(np.exp(logp[b, t, k]))]
                confs.append(run_probs)
            elif k == prev and k != BLANK_ID and run_probs is not None:
                run_probs.append(float(np.exp(logp[b, t, k])))
            prev = k
        out.append(Hypothesis(ids, score, frames, [float(np.mean(c)) for c in confs]))
    return out


def ctc_beam_decode(logits: np.ndarray, lengths, beam_width: int = 16, top_paths: int = 1) -> list[list[Hypothesis]]:
    """CTC prefix beam search (TensorFlow's decoder, blank index 0 passed explicitly).

    Returns, per example, ``top_paths`` hypotheses best first with their log-probability scores.
    """
    logits = np.asarray(logits, dtype=np.float32)
    lengths = np.asarray(lengths, dtype=np.int32).reshape(-1)
    if top_paths > beam_width:
        raise ParameterError(f"top_paths ({top_paths}) must be <= beam_width ({beam_width})")
    decoded, scores = keras.ops.ctc_decode(
        log_softmax(logits),
        lengths,
        strategy="beam_search",
        beam_width=beam_width,
        top_paths=top_paths,
        mask_index=BLANK_ID,
    )
    decoded = keras.ops.convert_to_numpy(decoded)  # [top_paths, batch, frames], -1 padded
    scores = keras.ops.convert_to_numpy(scores)  # [batch, top_paths]
    out = []
    for b in range(logits.shape[0]):
        hyps = []
        for p in range(top_paths):
            ids = [int(i) for i in decoded[p, b] if i > 0]
            hyps.append(Hypothesis(ids, float(scores[b, p])))
        out.append(hyps)
    return out


def decode_logits(logits, lengths, vocab, options: DecodeOptions | None = None) -> list[str]:
    """Logits -> best transcript per example, with greedy or beam search per ``options``."""
    options = options or DecodeOptions()
    if options.strategy == "greedy":
        return [vocab.decode_words(h.ids) for h in ctc_greedy_decode(logits, lengths)]
    return [vocab.decode_words(hs[0].ids) for hs in ctc_beam_decode(logits, lengths, options.beam_width, options.top_paths)]
