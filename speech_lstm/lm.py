"""Word n-gram language models in ARPA format, for CTC beam search with pyctcdecode and KenLM.

KenLM's estimator (``lmplz``) is a C++ program that its PyPI package does not ship, and no
package on PyPI estimates ARPA models, so :func:`build_arpa` estimates an interpolated
Kneser-Ney model (Chen and Goodman's formulation, one discount per order, as SRILM's
``-kndiscount -interpolate``) in plain Python: fine for the millions of words of a recipe's
training text. Querying and decoding stay with KenLM and pyctcdecode.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from speech_lstm.errors import ParameterError
from speech_lstm.files import atomic_write

__all__ = ["build_arpa", "read_arpa_header", "load_kenlm"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def _discount(counts: Counter) -> float:
    """Kneser-Ney's D = n1 / (n1 + 2 n2) from the count-of-counts (0.5 when undefined)."""
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def build_arpa(sentences, path, order: int = 3, min_count: int = 1) -> dict:
    """Estimate an interpolated Kneser-Ney ``order``-gram model from ``sentences`` (iterable of
    normalised strings, words separated by spaces) and write it to ``path`` in ARPA format.

    ``min_count``: highest-order n-grams seen fewer times are dropped (pruning; their mass
    goes to the back-off). ``<unk>`` gets the mass of the uniform floor of the unigrams.
    Written atomically. Returns ``{"order", "sentences", "words", "ngrams": [count per order]}``.
    """
    if not 2 <= order <= 6:
        raise ParameterError(f"order must be in 2..6 (KenLM reads bigram models and up), got {order}")
    raw = [Counter() for _ in range(order)]  # raw[n-1][ngram]: times seen
    n_sent = n_words = 0
    for s in sentences:
        words = s.split()
        if not words:
            continue
        n_sent += 1
        n_words += len(words)
        toks = [BOS] + words + [EOS]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                g = tuple(toks[i:i + n])
                if g != (BOS,):
                    raw[n - 1][g] += 1
    if not n_sent:
        raise ParameterError("no text to build a language model from")
    # Kneser-Ney counts: the highest order keeps raw counts; a lower-order n-gram counts the
    # distinct words seen before it, except at a sentence start (nothing can come before <s>).
    # Adjusted counts come from the unpruned n-grams, so every prefix of a kept n-gram is an entry.
    counts = [Counter() for _ in range(order)]
    counts[-1] = raw[-1]
    for n in range(order - 1, 0, -1):
        cont = Counter(g[1:] for g in raw[n])
        counts[n - 1] = Counter({g: (c if g[0] == BOS else cont[g]) for g, c in raw[n - 1].items()})
    if min_count > 1 and order > 1:
        counts[-1] = Counter({g: c for g, c in raw[-1].items() if c >= min_count})
    # probabilities, low order first
    logp: list[dict] = [dict() for _ in range(order)]
    bow: list[dict] = [dict() for _ in range(order)]
    uni = counts[0]
    d = _discount(uni)
    total = sum(uni.values())
    vocab = sorted(w for (w,) in uni if w != BOS)
    floor = d * len(vocab) / total / (len(vocab) + 1)  # the discounted mass, spread over vocab + <unk>
    for (w,), c in uni.items():
        if w != BOS:
            logp[0][(w,)] = math.log10(max(c - d, 0) / total + floor)
    logp[0][(UNK,)] = math.log10(floor)
    logp[0][(BOS,)] = -99.0

    def prob(ctx: tuple, w: str) -> float:  # interpolated P(w | ctx) from the orders done so far
        for k in range(len(ctx) + 1):
            h = ctx[k:]
            lp = logp[len(h)].get(h + (w,))
            if lp is not None:
                return 10 ** (lp + sum(bow[len(ctx[j:]) - 1].get(ctx[j:], 0.0) for j in range(k)))
        return 10 ** logp[0][(UNK,)]

    for n in range(2, order + 1):
        d = _discount(counts[n - 1])
        by_ctx = defaultdict(list)
        for g, c in counts[n - 1].items():
            by_ctx[g[:-1]].append((g[-1], c))
        for h, items in by_ctx.items():
            s = sum(c for _, c in items)
            gamma = d * len(items) / s
            bow[n - 2][h] = math.log10(gamma)
            for w, c in items:
                logp[n - 1][h + (w,)] = math.log10(max(c - d, 0) / s + gamma * prob(h[1:], w))
    with atomic_write(path) as f:
        f.write("\n\\data\\\n")
        for n in range(order):
            f.write(f"ngram {n + 1}={len(logp[n])}\n")
        for n in range(order):
            f.write(f"\n\\{n + 1}-grams:\n")
            for g in sorted(logp[n]):
                line = f"{logp[n][g]:.6f}\t{' '.join(g)}"
                if n < order - 1:
                    line += f"\t{bow[n].get(g, 0.0):.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    return {"order": order, "sentences": n_sent, "words": n_words, "ngrams": [len(x) for x in logp]}


def read_arpa_header(path) -> dict:
    """``{n: count}`` from an ARPA file's ``\\data\\`` section; ParameterError if it is not ARPA."""
    counts = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("ngram "):
                    n, c = line[6:].split("=")
                    counts[int(n)] = int(c)
                elif line.startswith("\\1-grams:"):
                    break
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ParameterError(f"{path}: cannot read it as an ARPA language model ({e})") from e
    if not counts:
        raise ParameterError(f"{path}: not an ARPA language model (no \\data\\ section with ngram counts)")
    return counts


def load_kenlm(path):
    """A ``kenlm.Model`` (ARPA or KenLM binary), with a clear error when it cannot be read."""
    try:
        import kenlm
    except ImportError as e:
        raise ParameterError("language-model decoding needs the kenlm package (pip install kenlm)") from e
    if not Path(path).is_file():
        raise ParameterError(f"language model {path}: no such file")
    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError) as e:
        raise ParameterError(f"language model {path}: KenLM cannot read it ({e})") from e
