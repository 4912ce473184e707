"""Scoring: WER/CER with jiwer, worst examples, decoding real-time factor, results files.

``predict_dataset`` is the one place a Keras recognizer is run over a tf.data pipeline; the
training-time validation callback and ``evaluate_model`` both use it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jiwer
import numpy as np
import tensorflow as tf

from speech_lstm.config import DecodeOptions, FeatureConfig
from speech_lstm.ctc import ctc_loss, decode_logits
from speech_lstm.data.pipeline import make_dataset
from speech_lstm.text import Vocabulary

__all__ = ["error_rates", "word_timing_errors", "recording_timing_report", "predict_dataset", "evaluate_model",
           "write_results", "inference_function", "collect_logits", "tune_lm"]


def error_rates(refs: list[str], hyps: list[str]) -> dict:
    """Corpus WER and CER (jiwer) with the edit-operation counts. Empty references are skipped."""
    pairs = [(r, h) for r, h in zip(refs, hyps) if r.strip()]
    if not pairs:
        return {"wer": float("nan"), "cer": float("nan"), "num_utterances": 0, "num_words": 0}
    refs, hyps = [p[0] for p in pairs], [p[1] for p in pairs]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {
        "wer": float(words.wer),
        "cer": float(chars.cer),
        "substitutions": int(words.substitutions),
        "deletions": int(words.deletions),
        "insertions": int(words.insertions),
        "num_words": int(words.hits + words.substitutions + words.deletions),
        "num_utterances": len(refs),
        "sentence_error_rate": float(np.mean([r != h for r, h in pairs])),
    }


def word_timing_errors(ref_words, hyp_words, spans=None, slack: float = 0.25) -> dict:
    """Start/end errors (hyp - ref, seconds) of the words a transcript got right.

    ref_words / hyp_words: sequences of objects or dicts with ``word``, ``start``, ``end``. The
    word sequences are aligned with jiwer; only words in matching runs are timed. ``spans``:
    optional (start, end) times of the reference utterances; each is aligned on its own (with the
    hypothesis words starting within ``slack`` s of it), so a recognition error cannot pair a word
    with a namesake in another utterance. Returns ``{"matched", "start_errors", "end_errors"}``.
    """
    def get(w, key):
        return w[key] if isinstance(w, dict) else getattr(w, key)

    if spans is None:
        groups = [(list(ref_words), list(hyp_words))]
    else:
        groups = [([w for w in ref_words if a <= get(w, "start") < b],
                   [w for w in hyp_words if a - slack <= get(w, "start") < b + slack]) for a, b in spans]
    starts, ends = [], []
    for refs, hyps in groups:
        ref_text, hyp_text = " ".join(get(w, "word") for w in refs), " ".join(get(w, "word") for w in hyps)
        if not (ref_text and hyp_text):
            continue
        for chunk in jiwer.process_words(ref_text, hyp_text).alignments[0]:
            if chunk.type == "equal":
                for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                    r, h = refs[chunk.ref_start_idx + k], hyps[chunk.hyp_start_idx + k]
                    starts.append(get(h, "start") - get(r, "start"))
                    ends.append(get(h, "end") - get(r, "end"))
    return {"matched": len(starts), "start_errors": np.array(starts), "end_errors": np.array(ends)}


def recording_timing_report(ref: dict, transcript) -> dict:
    """WER and word-timing figures of a transcript of a recording with known word times.

    ref: ``{"words": [{"word", "start", "end"}], "utterances": [{"start", "end"}, ...]}`` (as
    ``speech_lstm.data.long_recording`` writes it); transcript: has ``text``, ``words``,
    ``segments``. Timing errors are over correctly recognised words, aligned per utterance.
    """
    err = word_timing_errors(ref["words"], transcript.words, [(u["start"], u["end"]) for u in ref["utterances"]])
    starts, ends = err["start_errors"], err["end_errors"]
    out = {
        "words": len(ref["words"]), "segments": len(transcript.segments),
        "wer": round(jiwer.wer(" ".join(w["word"] for w in ref["words"]), transcript.text), 5),
        "timed_words": err["matched"],
    }
    if not err["matched"]:  # nothing recognised correctly: no timing figures (None, not a crash)
        keys = ("start_error_mean", "start_error_abs_max", "starts_off_by_more_than_0.2s", "end_error_mean",
                "end_error_abs_max", "end_error_abs_median", "ends_off_by_more_than_0.2s")
        return {**out, **dict.fromkeys(keys)}
    return {
        **out,
        "start_error_mean": round(float(starts.mean()), 3),
        "start_error_abs_max": round(float(np.abs(starts).max()), 3),
        "starts_off_by_more_than_0.2s": int((np.abs(starts) > 0.2).sum()),
        "end_error_mean": round(float(ends.mean()), 3),
        "end_error_abs_max": round(float(np.abs(ends).max()), 3),
        "end_error_abs_median": round(float(np.median(np.abs(ends))), 3),
        "ends_off_by_more_than_0.2s": int((np.abs(ends) > 0.2).sum()),
    }


def inference_function(model):
    """A traced forward pass (no dropout) that accepts any batch and length without retracing storms."""

    @tf.function(reduce_retracing=True)
    def forward(features, feature_lengths):
        logits = model({"features": features, "feature_lengths": feature_lengths}, training=False)
        return logits, model.output_lengths(feature_lengths)

    return forward


def predict_dataset(model, dataset, vocab: Vocabulary, options: DecodeOptions | None = None, forward=None,
                    limit=None, with_loss=False):
    """Run ``model`` over a make_dataset() pipeline and decode.

    Returns a list of dicts ``{"index", "ref", "hyp"}`` (index into the entries the dataset was
    built from; plus ``"loss"``, the per-utterance CTC loss, when ``with_loss``) and the
    seconds spent in the forward pass and decoding.
    """
    forward = forward or inference_function(model)
    rows, seconds = [], 0.0
    for inputs, targets in dataset:
        t0 = time.perf_counter()
        logits, lengths = forward(inputs["features"], inputs["feature_lengths"])
        hyps = decode_logits(logits.numpy(), lengths.numpy(), vocab, options)
        seconds += time.perf_counter() - t0
        labels, label_lengths = targets["labels"].numpy(), targets["label_lengths"].numpy()
        losses = None
        if with_loss:
            losses = np.asarray(ctc_loss(labels, logits, label_lengths, lengths))
        for b, hyp in enumerate(hyps):
            rows.append({
                "index": int(targets["index"][b]),
                "ref": vocab.decode(labels[b, : label_lengths[b]]),
                "hyp": hyp,
            })
            if losses is not None:
                rows[-1]["loss"] = float(losses[b])
        if limit is not None and len(rows) >= limit:
            break
    return rows, seconds


def evaluate_model(
    model,
    entries,
    feature_config: FeatureConfig,
    vocab: Vocabulary,
    batch_size: int = 32,
    bucket_seconds=(2.0, 4.0, 8.0, 16.0, 30.0),
    options: DecodeOptions | None = None,
    cache=None,
    num_worst: int = 10,
) -> dict:
    """Score ``model`` on manifest ``entries``: WER, CER, worst examples, real-time factor.

    rtf: wall seconds of feature extraction + forward pass + decoding per second of audio
    (lower is faster; the whole pass, on this machine).
    """
    options = options or DecodeOptions()
    dataset = _eval_dataset(entries, feature_config, vocab, batch_size, bucket_seconds, cache)
    forward = inference_function(model)
    t0 = time.perf_counter()
    rows, _ = predict_dataset(model, dataset, vocab, options, forward)
    wall = time.perf_counter() - t0
    audio_seconds = float(sum(float(e["duration"]) for e in entries))
    rows.sort(key=lambda r: r["index"])
    scores = error_rates([r["ref"] for r in rows], [r["hyp"] for r in rows])
    for r in rows:
        r["audio_filepath"] = entries[r["index"]]["audio_filepath"]
        r["speaker"] = entries[r["index"]].get("speaker")
        r["errors"] = _word_errors(r["ref"], r["hyp"])
    worst = sorted((r for r in rows if r["errors"]), key=lambda r: -r["errors"])[:num_worst]
    by_speaker = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"] or "unknown", []).append(r)
    return {
        **scores,
        "decode": {"strategy": options.strategy, "beam_width": options.beam_width,
                   **({"lexicon_words": len(options.words)} if options.words else {})},
        "audio_seconds": round(audio_seconds, 2),
        "wall_seconds": round(wall, 2),
        "rtf": round(wall / max(audio_seconds, 1e-9), 5),
        "per_speaker_wer": {
            s: round(error_rates([r["ref"] for r in rs], [r["hyp"] for r in rs])["wer"], 4)
            for s, rs in sorted(by_speaker.items())
        },
        "worst": [{k: r[k] for k in ("audio_filepath", "ref", "hyp", "errors")} for r in worst],
        "utterances": [{k: r[k] for k in ("audio_filepath", "ref", "hyp")} for r in rows],
    }


def _eval_dataset(entries, feature_config, vocab, batch_size, bucket_seconds, cache=None):
    """An unshuffled pipeline over ``entries`` whose last bucket fits the longest one."""
    longest = max(float(e["duration"]) for e in entries)
    edges = tuple(b for b in bucket_seconds if b < longest) + (longest + 1.0,)
    return make_dataset(entries, feature_config, vocab, batch_size, edges, training=False, cache=cache,
                        pad_to_edges=False)


def collect_logits(model, entries, feature_config: FeatureConfig, vocab: Vocabulary, batch_size: int = 32,
                   bucket_seconds=(2.0, 4.0, 8.0, 16.0, 30.0)) -> list[np.ndarray]:
    """The model's output logits [frames, classes] for each of ``entries``, in their order (to
    decode one forward pass many ways, as :func:`tune_lm` does)."""
    dataset = _eval_dataset(entries, feature_config, vocab, batch_size, bucket_seconds)
    forward = inference_function(model)
    out = [None] * len(entries)
    for inputs, targets in dataset:
        logits, lengths = forward(inputs["features"], inputs["feature_lengths"])
        logits, lengths = logits.numpy(), lengths.numpy()
        for b, i in enumerate(targets["index"].numpy()):
            out[int(i)] = logits[b, : lengths[b]]
    return out


def tune_lm(logits: list, refs: list[str], vocab: Vocabulary, lm, alphas, betas, beam_width: int = 64,
            progress: bool = True) -> dict:
    """Grid search of the LM weight ``alpha`` and word bonus ``beta`` on held-out ``logits``
    (from :func:`collect_logits`) with references ``refs``: ``{"greedy": {wer, cer}, "grid":
    [{alpha, beta, wer, cer}, ...], "best": the lowest-WER point (ties: lower CER)}``."""
    from tqdm.auto import tqdm

    def score(options):
        hyps = [decode_logits(lg[None], np.array([len(lg)]), vocab, options)[0] for lg in logits]
        r = error_rates(refs, hyps)
        return {"wer": round(r["wer"], 5), "cer": round(r["cer"], 5)}

    grid = []
    points = [(float(a), float(b)) for a in alphas for b in betas]
    for a, b in tqdm(points, desc="alpha x beta", unit="point", disable=not progress):
        grid.append({"alpha": a, "beta": b, **score(DecodeOptions("beam", beam_width, lm=str(lm), alpha=a, beta=b))})
    best = min(grid, key=lambda g: (g["wer"], g["cer"]))
    return {"lm": str(lm), "beam_width": beam_width, "utterances": len(refs), "greedy": score(DecodeOptions()),
            "grid": grid, "best": best}


def _word_errors(ref: str, hyp: str) -> int:
    if not ref.strip():
        return len(hyp.split())
    o = jiwer.process_words(ref, hyp)
    return int(o.substitutions + o.deletions + o.insertions)


def write_results(results: dict, run_dir, name: str = "test") -> Path:
    """Merge ``results`` under ``name`` into ``run_dir/results.json`` and rewrite RESULTS.md."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = results
    path.write_text(json.dumps(data, indent=1))
    lines = ["# Results", "", "| split | utterances | WER % | CER % | SER % | RTF | decoding |", "|---|---|---|---|---|---|---|"]
    for split, r in data.items():
        if not isinstance(r, dict) or "wer" not in r:
            continue
        lines.append(
            f"| {split} | {r['num_utterances']} | {100 * r['wer']:.2f} | {100 * r['cer']:.2f} | "
            f"{100 * r.get('sentence_error_rate', float('nan')):.1f} | {r.get('rtf', float('nan')):.4f} | "
            f"{r.get('decode', {}).get('strategy', '')} |"
        )
    for split, r in data.items():
        if isinstance(r, dict) and r.get("worst"):
            lines += ["", f"## Worst {split} examples", "", "| errors | reference | hypothesis | file |", "|---|---|---|---|"]
            for w in r["worst"]:
                lines.append(f"| {w['errors']} | {w['ref']} | {w['hyp']} | {Path(w['audio_filepath']).name} |")
    (run_dir / "RESULTS.md").write_text("\n".join(lines) + "\n")
    return path
