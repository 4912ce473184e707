"""A text-to-speech corpus: English sentences spoken by one fixed eSpeak NG voice, with the
phoneme tokens of each (eSpeak NG's phonemizer, :mod:`speech_lstm.tts.text`) and the sample at
which each token starts (eSpeak NG's phoneme events for the same synthesis), so the alignment
comes with the data. Split train/dev/test by sentence (no sentence in two splits).

Output in ``out_dir``: ``wavs/<split>/*.wav`` (16-bit, the voice's own 22,050 Hz),
``<split>.jsonl`` manifests (``audio_filepath``, ``text``, ``duration``, ``phonemes``,
``word_positions``, ``starts``) and ``corpus.json`` (spec, hours, sentences dropped because the
phonemizer and the synthesizer disagreed, crashes). Deterministic from the spec; idempotent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from speech_lstm.data.manifest import read_manifest, write_manifest
from speech_lstm.errors import ManifestError, ParameterError
from speech_lstm.files import atomic_write

__all__ = ["TTSCorpusSpec", "synthesize_tts_corpus", "read_tts_manifest", "SPLITS"]

SPLITS = ("train", "dev", "test")


@dataclasses.dataclass(frozen=True)
class TTSCorpusSpec:
    """voice: one eSpeak NG voice for every sentence.  rate: words per minute.  num_*:
    sentences per split (distinct texts).  min_words/max_words/vocab_size: the sentence text
    (:class:`speech_lstm.data.sentences.SentenceText`).  seed: text and order."""

    voice: str = "en-us"
    rate: int = 175
    num_train: int = 3000
    num_dev: int = 100
    num_test: int = 100
    min_words: int = 4
    max_words: int = 12
    vocab_size: int = 10000
    seed: int = 0

    def __post_init__(self):
        if min(self.num_train, self.num_dev, self.num_test) < 1:
            raise ParameterError("num_train, num_dev and num_test must be >= 1")
        if not 80 <= self.rate <= 450:
            raise ParameterError(f"rate must be 80..450 words per minute, got {self.rate}")
        if not 1 <= self.min_words <= self.max_words:
            raise ParameterError(f"need 1 <= min_words <= max_words, got {self.min_words}, {self.max_words}")


def _sentences(spec: TTSCorpusSpec) -> dict[str, list[str]]:
    """Distinct sentences for each split, deterministic from the spec."""
    from speech_lstm.data.sentences import SentenceText

    gen = SentenceText(spec.vocab_size, seed=spec.seed, min_words=spec.min_words, max_words=spec.max_words)
    need = spec.num_train + spec.num_dev + spec.num_test
    seen, texts = set(), []
    for _ in range(need * 3):
        text = gen.sentence()
        if text not in seen:
            seen.add(text)
            texts.append(text)
            if len(texts) == need:
                break
    else:
        raise ParameterError(f"the text generator gave only {len(texts)} distinct sentences of {need}")
    # the held-out splits first: a bigger training set keeps the same dev and test sentences
    dev, test = texts[: spec.num_dev], texts[spec.num_dev: spec.num_dev + spec.num_test]
    return {"train": texts[spec.num_dev + spec.num_test:], "dev": dev, "test": test}


def _render(job):
    """One sentence: WAV written, manifest entry returned (None when eSpeak NG's phonemizer and
    its synthesizer disagree on the phonemes, so there is no alignment)."""
    from speech_lstm.audio import write_audio
    from speech_lstm.data.espeak import ESpeak
    from speech_lstm.tts.text import Phonemizer, align_events

    engine = ESpeak()
    tokens = Phonemizer(job["voice"])(job["text"])
    engine.set_voice(job["voice"])
    engine.set_params(rate=job["rate"], pitch=50, range=50)
    audio, events = engine.synthesize_with_phonemes(job["text"])
    starts = align_events(tokens, events, len(audio))
    if starts is None:
        return {"dropped": job["text"]}
    write_audio(job["path"], audio.astype(np.float32) / 32768.0, engine.sample_rate, subtype="PCM_16")
    return {"split": job["split"], "audio_filepath": job["path"], "text": job["text"],
            "duration": round(len(audio) / engine.sample_rate, 4), "sample_rate": engine.sample_rate,
            "phonemes": [t.phoneme for t in tokens], "word_positions": [t.word_position for t in tokens],
            "starts": [int(s) for s in starts]}


def synthesize_tts_corpus(out_dir, spec: TTSCorpusSpec = TTSCorpusSpec(), workers: int = 2, force: bool = False,
                          progress: bool = True) -> dict[str, Path]:
    """Make the corpus in ``out_dir`` (see the module docstring); returns split -> manifest path.
    Nothing is redone when ``corpus.json`` records the same spec and the manifests exist."""
    from speech_lstm.data.synth import corpus_is_current, map_jobs, report_crashes

    out_dir = Path(out_dir).resolve()
    manifests = {s: out_dir / f"{s}.jsonl" for s in SPLITS}
    meta_path = out_dir / "corpus.json"
    spec_dict = dataclasses.asdict(spec)
    if not force and corpus_is_current(meta_path, spec_dict, manifests.values()):
        return manifests
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    jobs = [{"split": split, "text": text, "voice": spec.voice, "rate": spec.rate,
             "path": str(out_dir / "wavs" / split / f"{split}_{i:06d}.wav")}
            for split, texts in _sentences(spec).items() for i, text in enumerate(texts)]
    results, crashed = map_jobs(_render, jobs, workers, "synthesizing (TTS corpus)", progress)
    failed = report_crashes(jobs, crashed, "eSpeak NG")
    entries = [r for r in results if r is not None and "dropped" not in r]
    dropped = [r["dropped"] for r in results if r is not None and "dropped" in r]
    for split in SPLITS:
        write_manifest([{k: v for k, v in e.items() if k != "split"} for e in entries if e["split"] == split],
                       manifests[split])
    hours = {s: round(sum(e["duration"] for e in entries if e["split"] == s) / 3600, 3) for s in SPLITS}
    with atomic_write(meta_path) as f:
        json.dump({"spec": spec_dict, "hours": hours, "sentences": {s: sum(e["split"] == s for e in entries)
                                                                     for s in SPLITS},
                   "dropped_no_alignment": dropped, "failed": failed}, f, indent=1)
    return manifests


def read_tts_manifest(path) -> list[dict]:
    """A TTS manifest's entries, checked: every entry has phonemes, word positions and starts
    that fit (one start per token plus the end, non-decreasing). ManifestError lists problems."""
    entries = read_manifest(path)
    problems = []
    for i, e in enumerate(entries):
        ph, pos, st = e.get("phonemes"), e.get("word_positions"), e.get("starts")
        if not (isinstance(ph, list) and isinstance(pos, list) and isinstance(st, list)):
            problems.append(f"line {i + 1}: needs 'phonemes', 'word_positions' and 'starts' lists")
        elif not (len(ph) == len(pos) == len(st) - 1 and len(ph) >= 2):
            problems.append(f"line {i + 1}: {len(ph)} phonemes, {len(pos)} word positions and {len(st)} starts "
                            "(expected one start per phoneme plus the end)")
        elif any(b < a for a, b in zip(st, st[1:])):
            problems.append(f"line {i + 1}: 'starts' must not decrease")
    if problems:
        raise ManifestError(f"{path}: not a TTS manifest", problems)
    return entries
