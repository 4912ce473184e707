"""What the recipes (``recipes/*/run.py``) share: stage banners and making the corpora a config needs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from speech_lstm.errors import ConfigError

__all__ = ["stage", "synthesize_corpora", "check_unseen_voices", "recipe_arguments", "load_recipe_config", "prepare_and_train"]


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


def check_unseen_voices(manifests: dict) -> None:
    """ConfigError when a speaker of the dev or test manifest (split -> path) is also in the
    train manifest: a recipe's dev and test splits hold voices never heard in training. (A
    training corpus made with another seed has another voice split: this catches it.)"""
    from speech_lstm.data.manifest import read_manifest

    speakers = {split: {e["speaker"] for e in read_manifest(path) if e.get("speaker")}
                for split, path in manifests.items()}
    for split in ("dev", "test"):
        heard = sorted(speakers.get(split, set()) & speakers["train"])
        if heard:
            raise ConfigError(f"{manifests[split]}: voices {', '.join(heard[:5])} are also in {manifests['train']}; "
                              f"the {split} split must hold voices never heard in training")


def recipe_arguments(doc: str, argv=None):
    """The command line every recipe takes: ``--config NAME|PATH``, ``--set``, ``--force``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="a name in configs/ or a YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--force", action="store_true", help="retrain even if the run finished")
    return parser.parse_args(argv)


def load_recipe_config(recipe_dir: Path, config: str, overrides=()):
    """(ExperimentConfig, config name) for ``--config`` (a name in ``recipe_dir/configs`` or a YAML path)."""
    from speech_lstm.config import load_config

    path = Path(config) if config.endswith(".yaml") else Path(recipe_dir) / "configs" / f"{config}.yaml"
    return load_config(path, list(overrides)), path.stem


def prepare_and_train(config, corpora: dict, run_dir, force: bool, timings: dict):
    """Stages 1-3 of a speech recipe: synthesize the corpora the config's manifests come from,
    validate every manifest (decoding every file), train. Returns (manifests, training summary);
    the stage times go into ``timings``."""
    from speech_lstm.data.manifest import read_manifest, validate_manifest
    from speech_lstm.text import Vocabulary, WordVocabulary
    from speech_lstm.training import train

    t = stage("1. synthesize the corpora with eSpeak NG (split by voice)")
    # The training corpus and the one dev/test come from may differ (when only the training
    # audio is randomized): each folder is made once, by its spec in ``corpora``.
    manifests = synthesize_corpora({"train": config.train.train_manifest, "dev": config.train.dev_manifest,
                                    "test": config.train.test_manifest}, corpora)
    timings["synthesize"] = time.perf_counter() - t

    t = stage("2. validate manifests")
    vocab = WordVocabulary(config.model.words) if config.model.words else Vocabulary()
    for path in manifests.values():
        entries = read_manifest(path)
        validate_manifest(entries, vocab, config.train.min_duration, config.train.max_duration, decode_audio=True,
                          name=str(path))
        print(f"{path}: {len(entries)} utterances OK")
    check_unseen_voices(manifests)
    timings["validate"] = time.perf_counter() - t

    t = stage("3. train")
    summary = train(config, run_dir, force=force)
    print(json.dumps({k: v for k, v in summary.items() if k != "last_epoch_history"}, indent=1))
    timings["train"] = time.perf_counter() - t
    return manifests, summary
