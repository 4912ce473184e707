"""Output formats for transcripts: plain text, JSON, JSON lines and SRT / WebVTT subtitles.

``format_transcript`` renders one :class:`~speech_lstm.transcribe.Transcript`; ``txt`` and
``jsonl`` are single lines without a newline (the CLI prints them one per input), the other
formats are whole documents ending in a newline.  Subtitles group the word timings into
cues (:func:`subtitle_cues`).  ``write_transcript`` writes a file atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from speech_lstm.files import atomic_write
from speech_lstm.errors import ParameterError

__all__ = ["FORMATS", "EXTENSIONS", "format_transcript", "subtitle_cues", "write_transcript", "format_timestamp"]

FORMATS = ("txt", "json", "jsonl", "srt", "vtt")
EXTENSIONS = {"txt": ".txt", "json": ".json", "jsonl": ".jsonl", "srt": ".srt", "vtt": ".vtt"}

MIN_CUE_SECONDS = 0.2

Cue = tuple[float, float, str]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ParameterError(f"unknown transcript format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def format_timestamp(seconds: float, decimal_marker: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``decimal_marker="."``, ``HH:MM:SS.mmm`` (WebVTT).

    Rounded to the millisecond; negative times clamp to zero; hours grow past 99 if needed.
    """
    total_ms = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


def subtitle_cues(words, max_gap: float = 1.0, max_seconds: float = 7.0, max_chars: int = 42) -> list[Cue]:
    """Group consecutive words (objects with ``word``, ``start``, ``end`` in seconds) into cues.

    A new cue starts when the silence before a word exceeds ``max_gap``, when the cue would
    last longer than ``max_seconds``, or when its text would exceed ``max_chars`` (a single
    longer word gets a cue of its own).  Returns ``(start, end, text)`` with start = first
    word's start and end = last word's end, but at least :data:`MIN_CUE_SECONDS` after start.
    """
    if max_gap < 0 or max_seconds <= 0 or max_chars < 1:
        raise ParameterError(
            f"need max_gap >= 0, max_seconds > 0 and max_chars >= 1, got {max_gap}, {max_seconds}, {max_chars}"
        )
    groups: list[list] = []
    for w in words:
        if groups and _fits(groups[-1], w, max_gap, max_seconds, max_chars):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [_cue(g) for g in groups]


def _fits(group: list, word, max_gap: float, max_seconds: float, max_chars: int) -> bool:
    """Whether ``word`` may join the cue made of ``group``."""
    last = group[-1]
    text_length = sum(len(w.word) for w in group) + len(group) + len(word.word)  # with the spaces
    return (
        word.start - last.end <= max_gap
        and word.end - group[0].start <= max_seconds
        and text_length <= max_chars
    )


def _cue(group: list) -> Cue:
    start = float(group[0].start)
    end = max(float(group[-1].end), start + MIN_CUE_SECONDS)
    return start, end, " ".join(w.word for w in group)


def _srt(cues: list[Cue]) -> str:
    blocks = [
        f"{i}\n{format_timestamp(start)} --> {format_timestamp(end)}\n{text}\n"
        for i, (start, end, text) in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt(cues: list[Cue]) -> str:
    blocks = [
        f"{format_timestamp(start, '.')} --> {format_timestamp(end, '.')}\n{_vtt_escape(text)}\n"
        for start, end, text in cues
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def format_transcript(transcript, fmt: str) -> str:
    """One transcript as ``fmt`` (one of :data:`FORMATS`).

    txt: the text; jsonl: one compact JSON object (both one line, no trailing newline).
    json: ``transcript.to_dict()`` indented; srt / vtt: subtitles from the word timings
    (both whole documents ending in a newline; no words -> an empty SRT, a header-only VTT).
    """
    _check_format(fmt)
    if fmt == "txt":
        return transcript.text
    if fmt == "jsonl":
        return json.dumps(transcript.to_dict(), ensure_ascii=False)
    if fmt == "json":
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"
    cues = subtitle_cues(transcript.words)
    return _srt(cues) if fmt == "srt" else _vtt(cues)


def write_transcript(transcript, path, fmt: str) -> Path:
    """Write ``transcript`` as ``fmt`` to ``path`` atomically; parent folders are created.

    The text goes to a temporary file in the same folder, then replaces ``path``, so readers
    never see a partial file.  Single-line formats (txt, jsonl) get a final newline.
    """
    _check_format(fmt)
    text = format_transcript(transcript, fmt)
    if fmt in ("txt", "jsonl"):
        text += "\n"
    path = Path(path)
    with atomic_write(path) as f:
        f.write(text)
    return path
