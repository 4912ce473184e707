"""CTC math: the loss with true lengths, greedy and beam-search decoding, alignments.

Blank is index 0 everywhere and is always passed explicitly. Logits are float32
[batch, frames, classes]; lengths are int32 [batch] true (unpadded) frame counts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

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
    "Lexicon",
    "ctc_lexicon_decode",
    "ctc_align",
    "decode_hypotheses",
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
    if options.searches_words:
        return [vocab.decode_words(best.ids) for best, _ in decode_hypotheses(logits, lengths, vocab, options)]
    return [vocab.decode_words(hs[0].ids) for hs in ctc_beam_decode(logits, lengths, options.beam_width, options.top_paths)]


class Lexicon:
    """The words a decoder may output, as a character trie over vocabulary ids.

    ``words``: strings in the vocabulary's characters, without spaces (normalised text).
    Raises ParameterError for an empty list or a word the vocabulary cannot spell."""

    def __init__(self, words, vocab):
        words = sorted({w.strip() for w in words if w.strip()})
        if not words:
            raise ParameterError("the word list is empty")
        self.words, self.space = words, vocab.encode(" ")[0]
        self.children: list[dict[int, int]] = [{}]  # node -> {char id: child node}; node 0 is the root
        self.is_word: list[bool] = [False]
        for w in words:
            if " " in w or vocab.unknown_chars(w):
                raise ParameterError(f"lexicon word {w!r} has characters outside the vocabulary (or a space)")
            node = 0
            for c in vocab.encode(w):
                c = int(c)
                if c not in self.children[node]:
                    self.children[node][c] = len(self.children)
                    self.children.append({})
                    self.is_word.append(False)
                node = self.children[node][c]
            self.is_word[node] = True


def ctc_lexicon_decode(logits: np.ndarray, lengths, lexicon: Lexicon, beam_width: int = 16,
                       top_paths: int = 1, prune: float = -12.0) -> list[list[Hypothesis]]:
    """CTC prefix beam search that can only spell words of ``lexicon``, separated by single spaces.

    Every prefix is a path in the lexicon's trie; a space may follow only a complete word, and
    a hypothesis counts only if its last word is complete, so a word outside the list can never
    be emitted. Characters with log-probability below ``prune`` at a frame are not tried.
    Returns, per example, up to ``top_paths`` hypotheses (best first; an empty transcript if no
    word fits), with frames and confidences from a forced alignment of the result.
    """
    logp_all = log_softmax(np.asarray(logits, dtype=np.float32))
    lengths = np.asarray(lengths).reshape(-1)
    if top_paths > beam_width:
        raise ParameterError(f"top_paths ({top_paths}) must be <= beam_width ({beam_width})")
    neg = -np.inf
    out = []
    for b in range(logp_all.shape[0]):
        logp = logp_all[b, : int(min(lengths[b], logp_all.shape[1]))]
        # prefix -> [p_blank, p_nonblank, trie node]
        beams = {(): [0.0, neg, 0]}
        for t in range(len(logp)):
            row = logp[t]
            allowed = set(np.flatnonzero(row > prune).tolist())
            nxt: dict[tuple, list] = {}

            def add(prefix, node, pb=neg, pnb=neg):
                cur = nxt.get(prefix)
                if cur is None:
                    nxt[prefix] = [pb, pnb, node]
                else:
                    cur[0], cur[1] = np.logaddexp(cur[0], pb), np.logaddexp(cur[1], pnb)

            for prefix, (pb, pnb, node) in beams.items():
                total = np.logaddexp(pb, pnb)
                add(prefix, node, pb=total + row[BLANK_ID])
                if prefix:
                    add(prefix, node, pnb=pnb + row[prefix[-1]])  # the last symbol held
                options = dict(lexicon.children[node])
                if lexicon.is_word[node]:
                    options[lexicon.space] = 0  # a complete word: a space returns to the root
                for c, child in options.items():
                    if c not in allowed:
                        continue
                    p = (pb if prefix and prefix[-1] == c else total) + row[c]
                    add(prefix + (c,), child, pnb=p)
            ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(kv[1][0], kv[1][1]))
            beams = dict(ranked[:beam_width])
        finals = []
        for prefix, (pb, pnb, node) in beams.items():
            ids = list(prefix)
            if ids and ids[-1] == lexicon.space:
                ids = ids[:-1]
                node = 0
            if node != 0 and not lexicon.is_word[node]:
                continue  # the last word is unfinished
            finals.append((float(np.logaddexp(pb, pnb)), ids))
        merged: dict[tuple, float] = {}
        for score, ids in finals:
            merged[tuple(ids)] = float(np.logaddexp(merged.get(tuple(ids), neg), score))
        best = sorted(merged.items(), key=lambda kv: -kv[1])[:top_paths] or [((), float(neg))]
        hyps = []
        for ids, score in best:
            frames, confs = ctc_align(logp, list(ids))
            hyps.append(Hypothesis(list(ids), score, frames, confs))
        out.append(hyps)
    return out


def parse_hot_words(spec: str, default_boost: float = 8.0) -> tuple:
    """``"word:boost,word,..."`` -> ``(("word", boost), ...)`` (normalised words; a word without
    ``:boost`` gets ``default_boost``, a log-score bonus per occurrence)."""
    from speech_lstm.text import normalize_text

    out = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        word, _, boost = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            value = float(boost) if boost else default_boost
        except ValueError:
            raise ParameterError(f"hot word {item.strip()!r}: the boost after ':' must be a number") from None
        for w in normalize_text(word).split():
            out[w] = max(out.get(w, value), value)
    if not out:
        raise ParameterError(f"no hot words in {spec!r}")
    return tuple(out.items())


def _pyctcdecode():
    try:
        import pyctcdecode
    except ImportError as e:
        raise ParameterError(
            "language-model and hot-word decoding need pyctcdecode and kenlm: `make install` installs them; by hand: "
            "pip install kenlm && pip install --no-deps pyctcdecode==0.5.0 pygtrie==2.6.2 (pyctcdecode's metadata "
            "asks for numpy<2, which TensorFlow cannot use; it runs on numpy 2)") from e
    return pyctcdecode


@functools.lru_cache(maxsize=4)
def _lm_decoder(labels: tuple, lm: str | None, mtime: float):
    """One decoder per alphabet and LM file (loading an ARPA file takes seconds); the weights are
    set per call with ``reset_params``."""
    import logging

    pyctcdecode = _pyctcdecode()
    from pyctcdecode.language_model import LanguageModel

    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)  # "only N unigrams" on small LMs

    from speech_lstm.lm import load_kenlm

    model = None
    if lm is not None:
        from pyctcdecode.language_model import load_unigram_set_from_arpa

        kenlm_model = load_kenlm(lm)
        unigrams = load_unigram_set_from_arpa(lm) if lm.endswith(".arpa") else None
        model = LanguageModel(kenlm_model, unigrams)
    from pyctcdecode.alphabet import Alphabet

    alphabet = Alphabet.build_alphabet(list(labels))
    return pyctcdecode.BeamSearchDecoderCTC(alphabet, model)


@functools.lru_cache(maxsize=8)
def _hot_word_scorer(hot_words: tuple):
    from pyctcdecode.language_model import HotwordScorer

    boosts = dict(hot_words)
    base = HotwordScorer.build_scorer(list(boosts), 1.0)

    class WeightedHotwords(HotwordScorer):
        """pyctcdecode's hot-word scorer with a boost per word instead of one for all."""

        def score(self, text: str) -> float:
            return float(sum(boosts[m] for m in self._match_ptn.findall(text)))

        def score_partial_token(self, token: str) -> float:
            if not boosts or token not in self:
                return 0.0
            word = min(self._char_trie.iterkeys(token, shallow=False), key=len)
            return boosts[word] * len(token) / len(word)

    return WeightedHotwords(base._match_ptn, base._char_trie, 1.0)


def ctc_lm_decode(logits: np.ndarray, lengths, vocab, lm=None, alpha: float = 0.5, beta: float = 1.0,
                  beam_width: int = 64, top_paths: int = 1, hot_words: tuple = ()) -> list[list[Hypothesis]]:
    """CTC prefix beam search with a word n-gram language model (shallow fusion: acoustic log
    score + ``alpha`` x LM log score + ``beta`` x words) and hot-word boosting, by pyctcdecode
    over KenLM. ``lm``: an ARPA (:func:`speech_lstm.lm.build_arpa`) or KenLM binary file, or
    None (hot words only). Character models only. Returns, per example, up to ``top_paths``
    hypotheses (best first) with frames and confidences from a forced alignment.
    """
    if getattr(vocab, "is_words", False):
        raise ParameterError("this model outputs whole words of its own list; a language model or hot words "
                             "apply to character models")
    _pyctcdecode()
    from pyctcdecode.constants import DEFAULT_MIN_TOKEN_LOGP, DEFAULT_PRUNE_BEAMS, DEFAULT_PRUNE_LOGP, MIN_TOKEN_CLIP_P

    labels = tuple([""] + list(vocab.chars))
    lm = None if lm is None else str(Path(lm).resolve())
    decoder = _lm_decoder(labels, lm, Path(lm).stat().st_mtime if lm and Path(lm).exists() else 0.0)
    decoder.reset_params(alpha=float(alpha), beta=float(beta))
    scorer = _hot_word_scorer(tuple(hot_words))
    logp_all = log_softmax(np.asarray(logits, dtype=np.float32))
    lengths = np.asarray(lengths).reshape(-1)
    out = []
    for b in range(logp_all.shape[0]):
        logp = logp_all[b, : int(min(lengths[b], logp_all.shape[1]))]
        beams = decoder._decode_logits(  # decode_beams() with our per-word hot-word scorer
            np.clip(logp, np.log(MIN_TOKEN_CLIP_P), 0).astype(np.float64), beam_width=beam_width,
            beam_prune_logp=DEFAULT_PRUNE_LOGP, token_min_logp=DEFAULT_MIN_TOKEN_LOGP,
            prune_history=DEFAULT_PRUNE_BEAMS, hotword_scorer=scorer, lm_start_state=None)
        hyps = []
        for beam in beams[:top_paths] or [("", None, [], 0.0, float("-inf"))]:
            text = " ".join(beam[0].split())
            ids = [int(i) for i in vocab.encode(text)] if text else []
            frames, confs = ctc_align(logp, ids)
            hyps.append(Hypothesis(ids, float(beam[4]), frames, confs))
        out.append(hyps)
    return out


def ctc_align(logp: np.ndarray, ids) -> tuple[list, list]:
    """Viterbi forced alignment of label ``ids`` to log-probabilities [frames, classes]: per
    label, the first frame of its run and the mean posterior over the run. Labels that cannot
    fit (too few frames) get frame 0 and confidence 0."""
    ids = [int(i) for i in ids]
    n, T = len(ids), len(logp)
    if not n:
        return [], []
    states = [BLANK_ID]
    for i in ids:
        states += [i, BLANK_ID]
    S = len(states)
    score = np.full((T, S), -np.inf)
    back = np.zeros((T, S), np.int64)
    score[0, 0] = logp[0, states[0]]
    if S > 1:
        score[0, 1] = logp[0, states[1]]
    for t in range(1, T):
        for s in range(S):
            cands = [(score[t - 1, s], s)]
            if s >= 1:
                cands.append((score[t - 1, s - 1], s - 1))
            if s >= 2 and states[s] != BLANK_ID and states[s] != states[s - 2]:
                cands.append((score[t - 1, s - 2], s - 2))
            best, arg = max(cands)
            score[t, s] = best + logp[t, states[s]]
            back[t, s] = arg
    end = S - 1 if S == 1 or score[T - 1, S - 1] >= score[T - 1, S - 2] else S - 2
    if not np.isfinite(score[T - 1, end]):
        return [0] * n, [0.0] * n
    path = [end]
    for t in range(T - 1, 0, -1):
        path.append(back[t, path[-1]])
    path = path[::-1]
    frames, confs = [0] * n, [[] for _ in range(n)]
    for t, s in enumerate(path):
        if s % 2 == 1:
            k = s // 2
            if not confs[k]:
                frames[k] = t
            confs[k].append(float(np.exp(logp[t, states[s]])))
    return frames, [float(np.mean(c)) if c else 0.0 for c in confs]


def decode_hypotheses(logits, lengths, vocab, options: DecodeOptions) -> list[tuple[Hypothesis, list | None]]:
    """Logits -> per utterance (best path with frames, n-best or None): greedy, beam search,
    or beam search within a closed word list (``options.words``), whose best path replaces
    the greedy one (frames from a forced alignment)."""
    if options.lm or options.hot_words:
        beams = ctc_lm_decode(logits, lengths, vocab, options.lm, options.alpha, options.beta, options.beam_width,
                              options.top_paths, options.hot_words)
        return [(bs[0], [{"text": vocab.decode_words(b.ids), "score": round(b.score, 4)} for b in bs]) for bs in beams]
    if options.words:
        if getattr(vocab, "is_words", False):
            raise ParameterError("this model outputs whole words of its own list already; "
                                 "a word list (--words / --lexicon) applies to character models")
        lexicon = Lexicon(options.words, vocab)
        beams = ctc_lexicon_decode(logits, lengths, lexicon, options.beam_width, options.top_paths)
        return [(bs[0], [{"text": vocab.decode_words(b.ids), "score": round(b.score, 4)} for b in bs]) for bs in beams]
    greedy = ctc_greedy_decode(logits, lengths)
    if options.strategy != "beam":
        return [(h, None) for h in greedy]
    beams = ctc_beam_decode(logits, lengths, options.beam_width, options.top_paths)
    return [(h, [{"text": vocab.decode_words(b.ids), "score": round(b.score, 4)} for b in bs])
            for h, bs in zip(greedy, beams)]
