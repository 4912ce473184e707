"""Output formats for transcripts: plain text and JSON lines."""

from __future__ import annotations

import json

__all__ = ["format_transcript", "FORMATS"]

FORMATS = ("txt", "jsonl")


def format_transcript(transcript, fmt: str) -> str:
    """One transcript as a line of ``fmt``: "txt" (the text) or "jsonl" (one JSON object)."""
    if fmt == "txt":
        return transcript.text
    if fmt == "jsonl":
        return json.dumps(transcript.to_dict(), ensure_ascii=False)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
