"""What the recipes (``recipes/*/run.py``) share: stage banners and making the corpora a config needs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from speech_lstm.errors import ConfigError

__all__ = ["stage", "synthesize_corpora", "check_unseen_voices", "recipe_arguments", "load_recipe_config", "prepare_and_train",
           "build_lm", "tune_lm_weights", "evaluate_sets", "export_and_check", "write_summary"]


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


def recipe_arguments(doc: str, argv=None, source: str | None = None, out=None):
    """The command line every recipe takes: ``--config NAME|PATH``, ``--set``, ``--force``; plus
    a required ``--source`` (described by ``source``) for a recipe over a corpus the user brings,
    and ``--out`` (default ``out``) for one that can write its data and runs elsewhere."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="a name in configs/ or a YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--force", action="store_true", help="retrain even if the run finished")
    if source:
        parser.add_argument("--source", required=True, help=source)
    if out is not None:
        parser.add_argument("--out", default=str(out), help="folder for data/ and exp/ (default: %(default)s)")
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


def build_lm(run_dir, train_manifest, train_entries, order: int = 3) -> Path:
    """A word ``order``-gram LM (``run_dir/lm.arpa``) from the training transcripts; rebuilt only
    when the training manifest or the order changed (``lm.json`` records them)."""
    from speech_lstm.lm import build_arpa

    lm, info_path = Path(run_dir) / "lm.arpa", Path(run_dir) / "lm.json"
    source = str(Path(train_manifest).resolve())
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    if not lm.exists() or info.get("source") != source or info.get("order") != order:
        info = {**build_arpa((e["text"] for e in train_entries), lm, order=order), "source": source}
        info_path.write_text(json.dumps(info, indent=1))
    print(f"{lm}: {info['order']}-gram, {info['sentences']} sentences, {info['words']} words, n-grams {info['ngrams']}")
    return lm


def tune_lm_weights(run_dir, model, fc, vocab, dev_entries, lm, alphas, betas, beam_width):
    """Grid-search the LM weight and word bonus on ``dev_entries`` (``run_dir/lm_tune.json``);
    returns the DecodeOptions of the best pair."""
    from speech_lstm.config import DecodeOptions
    from speech_lstm.evaluate import collect_logits, tune_lm

    tuned = tune_lm(collect_logits(model, dev_entries, fc, vocab), [e["text"] for e in dev_entries], vocab, lm,
                    alphas, betas, beam_width)
    (Path(run_dir) / "lm_tune.json").write_text(json.dumps(tuned, indent=1))
    best = tuned["best"]
    print(f"dev ({len(dev_entries)} utterances): greedy WER {100 * tuned['greedy']['wer']:.2f} %; best alpha "
          f"{best['alpha']} beta {best['beta']}: WER {100 * best['wer']:.2f} %")
    return DecodeOptions("beam", beam_width, lm=str(lm), alpha=best["alpha"], beta=best["beta"])


def evaluate_sets(run_dir, model, fc, vocab, sets: dict, lm_options) -> dict:
    """Greedy and LM-decoded WER/CER of each manifest in ``sets`` (name -> path), written as
    ``<name>`` and ``<name>_lm`` into the run's results.json / RESULTS.md; returns the results."""
    from speech_lstm.config import DecodeOptions
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.evaluate import evaluate_model, write_results

    results = {}
    for set_name, manifest in sets.items():
        entries = read_manifest(manifest)
        for suffix, options in (("", DecodeOptions()), ("_lm", lm_options)):
            r = evaluate_model(model, entries, fc, vocab, batch_size=32, options=options)
            r["manifest"] = str(Path(manifest).resolve())
            write_results(r, run_dir, name=set_name + suffix)
            results[set_name + suffix] = r
            print(f"{set_name + suffix:22s} WER {100 * r['wer']:6.2f} %  CER {100 * r['cer']:6.2f} %  "
                  f"({r['num_utterances']} utterances, RTF {r['rtf']:.4f})")
    return results


def export_and_check(run_dir, model, fc, vocab, test_entries, parity: int, lm_options) -> tuple[Path, dict]:
    """Export a SavedModel to ``run_dir/export``, check that it transcribes the first ``parity``
    test files as the Keras model does (``export_check.json``), show three with the LM."""
    from speech_lstm.export import ExportedRecognizer, export_saved_model
    from speech_lstm.transcribe import Recognizer, compare_recognizers, transcribe_files

    export = export_saved_model(run_dir, Path(run_dir) / "export", force=True)
    exported = ExportedRecognizer(export)
    sample = [e["audio_filepath"] for e in test_entries[:parity]]
    check = compare_recognizers(Recognizer(model, fc, vocab), exported, sample)
    (Path(run_dir) / "export_check.json").write_text(json.dumps(check, indent=1))
    print(f"{export}: {check['identical']}/{check['utterances']} test transcripts identical to the Keras model's")
    for (path, tr), e in zip(transcribe_files(exported, sample[:3], lm_options, progress=False), test_entries):
        print(f"{Path(path).name}: ref {e['text']!r}\n{'':16s}LM  {tr.text!r}")
    return export, check


def write_summary(run_dir, summary: dict, results: dict, sets, export, check: dict, timings: dict) -> None:
    """Write ``recipe_timings.json`` and print a speech recipe's closing summary: training, greedy
    and LM figures of each set in ``sets``, the export check, stage times."""
    run_dir = Path(run_dir)
    times = {k: round(v, 1) for k, v in timings.items()}
    (run_dir / "recipe_timings.json").write_text(json.dumps(times, indent=1))
    print("\n=== summary ===")
    print(f"training audio {summary['train_hours']} h; {summary['epochs_completed']} epochs, median "
          f"{summary['median_epoch_seconds']} s/epoch ({summary['median_audio_sec_per_sec']} audio-s/s)")
    for key in sets:
        g, l = results[key], results[key + "_lm"]
        print(f"{key:20s} greedy WER {100 * g['wer']:6.2f} % CER {100 * g['cer']:6.2f} %   "
              f"LM WER {100 * l['wer']:6.2f} % CER {100 * l['cer']:6.2f} %")
    print(f"export: {export}  ({check['identical']}/{check['utterances']} transcripts identical to the Keras model's)")
    print(f"stage times (s): {json.dumps(times)}")
    print(f"results: {run_dir / 'results.json'}  {run_dir / 'RESULTS.md'}  plots: {run_dir / 'training_curves.png'}")
