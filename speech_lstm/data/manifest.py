"""JSONL manifests: read, write and validate.

One utterance a line: ``{"audio_filepath": ..., "text": ..., "duration": ...}`` plus optional
``speaker`` and ``offset``. Relative paths are relative to the manifest's folder, so a corpus
folder can move.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from speech_lstm.files import atomic_write
from speech_lstm.audio import audio_info, load_audio
from speech_lstm.errors import AudioLoadError, ManifestError
from speech_lstm.text import Vocabulary

__all__ = ["read_manifest", "write_manifest", "validate_manifest", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("audio_filepath", "text", "duration")


def read_manifest(path) -> list[dict]:
    """Entries of a JSONL manifest with ``audio_filepath`` resolved to an absolute path.

    Raises ManifestError naming the file and line for malformed JSON, missing keys or
    wrong types (all bad lines listed at once).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    entries, problems = [], []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{lineno}: not valid JSON ({e.msg})")
                continue
            if not isinstance(item, dict):
                problems.append(f"{path}:{lineno}: expected a JSON object, got {type(item).__name__}")
                continue
            missing = [k for k in REQUIRED_KEYS if k not in item]
            if missing:
                problems.append(f"{path}:{lineno}: missing key(s) {', '.join(missing)}")
                continue
            if not isinstance(item["audio_filepath"], str) or not isinstance(item["text"], str):
                problems.append(f"{path}:{lineno}: audio_filepath and text must be strings")
                continue
            if not isinstance(item["duration"], (int, float)) or isinstance(item["duration"], bool):
                problems.append(f"{path}:{lineno}: duration must be a number of seconds, got {item['duration']!r}")
                continue
            offset = item.get("offset", 0.0)
            if not isinstance(offset, (int, float)) or offset < 0:
                problems.append(f"{path}:{lineno}: offset must be a number >= 0, got {offset!r}")
                continue
            audio = Path(item["audio_filepath"])
            if not audio.is_absolute():
                audio = path.parent / audio
            item["audio_filepath"] = str(audio)
            item["_line"] = lineno
            entries.append(item)
    if problems:
        raise ManifestError(f"{path}: {len(problems)} malformed line(s)", problems)
    if not entries:
        raise ManifestError(f"{path}: manifest has no entries")
    return entries


def write_manifest(entries, path) -> None:
    """Write entries as JSONL atomically; audio paths under the manifest's folder become relative."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.resolve()
    with atomic_write(path) as f:
        for e in entries:
            item = {k: v for k, v in e.items() if not k.startswith("_")}
            audio = Path(item["audio_filepath"])
            if audio.is_absolute():
                try:
                    item["audio_filepath"] = str(audio.resolve().relative_to(root))
                except ValueError:
                    pass
            f.write(json.dumps(item, ensure_ascii=False) + "\n")


def _check_entry(entry, vocab, min_duration, max_duration, decode_audio, name):
    where = f"{name}:{entry.get('_line', '?')}"
    problems = []
    audio = entry["audio_filepath"]
    text = entry["text"]
    if not text.strip():
        problems.append(f"{where}: empty transcript")
    elif vocab is not None:
        bad = vocab.unknown_chars(text)
        if bad:
            problems.append(f"{where}: characters not in the vocabulary {''.join(sorted(bad))!r} in {text!r}")
    duration = float(entry["duration"])
    if not min_duration <= duration <= max_duration:
        problems.append(f"{where}: duration {duration:.2f}s outside [{min_duration}, {max_duration}] s")
    try:
        if decode_audio:
            load_audio(audio, offset=float(entry.get("offset", 0.0)), duration=duration)
        else:
            audio_info(audio)
    except AudioLoadError as e:
        problems.append(f"{where}: {e}")
    return problems


def validate_manifest(
    entries,
    vocab: Vocabulary | None = None,
    min_duration: float = 0.0,
    max_duration: float = float("inf"),
    decode_audio: bool = False,
    name: str = "manifest",
    raise_on_error: bool = True,
) -> list[str]:
    """Check every entry and report all problems at once.

    Finds missing or unreadable audio (``decode_audio`` also decodes each file and catches
    empty/silent/NaN audio), empty transcripts, characters outside ``vocab`` and durations
    outside [min_duration, max_duration] seconds. Returns the problem list, or raises
    ManifestError listing them when ``raise_on_error``.
    """
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(
            lambda e: _check_entry(e, vocab, min_duration, max_duration, decode_audio, name), entries
        )
        problems = [p for r in results for p in r]
    if problems and raise_on_error:
        raise ManifestError(f"{name}: {len(problems)} problem(s) in {len(entries)} entries", problems)
    return problems
