"""What the recipes (``recipes/*/run.py``) share: stage banners and making the corpora a config needs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from speech_lstm.errors import ConfigError

__all__ = ["stage", "synthesize_corpora"]


def stage(name: str) -> float:
    """Print a stage banner; returns the start time (``time.perf_counter()``)."""
    print(f"\n=== {name} ===", flush=True)
    return time.perf_counter()


def synthesize_corpora(manifests: dict, corpora: dict, workers: int = 2) -> dict[str, Path]:
    """Synthesize every corpus that ``manifests`` (split -> ``data/<folder>/<split>.jsonl``) come
    from, each once, by its spec in ``corpora`` (folder name -> :class:`~speech_lstm.data.synth.CorpusSpec`
    keyword arguments). Already-made corpora are kept (synthesis is idempotent). Returns the
    manifests as paths; ConfigError names a folder with no spec."""
    from speech_lstm.data.synth import CorpusSpec, synthesize_corpus

    made = set()
    for manifest in manifests.values():
        corpus_dir = Path(manifest).parent
        if corpus_dir.name not in corpora:
            raise ConfigError(f"{manifest}: no corpus recipe for folder {corpus_dir.name!r} "
                              f"(known: {', '.join(corpora)})")
        if corpus_dir in made:
            continue
        synthesize_corpus(corpus_dir, CorpusSpec(**corpora[corpus_dir.name]), workers=workers)
        made.add(corpus_dir)
        meta = json.loads((corpus_dir / "corpus.json").read_text())
        print(f"{corpus_dir}: hours {meta['hours']}; test voices (never in training): "
              f"{', '.join(meta['voices']['test'])}")
    return {split: Path(m) for split, m in manifests.items()}
