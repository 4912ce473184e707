"""Transcript output formats: txt, json, jsonl, SRT and WebVTT subtitles, atomic writes."""

import json
import os

import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.transcribe import Transcript, Word
from speech_lstm.writers import (
    EXTENSIONS,
    FORMATS,
    format_timestamp,
    format_transcript,
    subtitle_cues,
    write_transcript,
)

HOUR = 3600.0


@pytest.fixture
def transcript():
    """Five words past the one-hour mark; 1.7 s and 1.6 s gaps split them into three cues."""
    words = [
        Word("three", HOUR + 0.5, HOUR + 0.9, 0.98),
        Word("oh", HOUR + 1.0, HOUR + 1.2, 0.91),
        Word("five", HOUR + 1.3, HOUR + 1.8, 0.99),
        Word("nine", HOUR + 3.5, HOUR + 3.6, 0.87),  # 0.1 s long: the cue is stretched to 0.2 s
        Word("eight", HOUR + 5.2, HOUR + 5.75, 0.95),
    ]
    return Transcript("long.wav", "three oh five nine eight", HOUR + 6.0, words)


@pytest.fixture
def empty():
    return Transcript("silence.wav", "", 2.0, [])


EXPECTED_SRT = """\
1
01:00:00,500 --> 01:00:01,800
three oh five

2
01:00:03,500 --> 01:00:03,700
nine

3
01:00:05,200 --> 01:00:05,750
eight
"""

EXPECTED_VTT = """\
WEBVTT

01:00:00.500 --> 01:00:01.800
three oh five

01:00:03.500 --> 01:00:03.700
nine

01:00:05.200 --> 01:00:05.750
eight
"""


def test_formats_and_extensions_agree():
    assert FORMATS == ("txt", "json", "jsonl", "srt", "vtt")
    assert set(EXTENSIONS) == set(FORMATS) and all(EXTENSIONS[f] == "." + f for f in FORMATS)


def test_srt_and_vtt_documents(transcript):
    assert format_transcript(transcript, "srt") == EXPECTED_SRT
    assert format_transcript(transcript, "vtt") == EXPECTED_VTT


def test_single_line_formats_have_no_newline(transcript):
    assert format_transcript(transcript, "txt") == "three oh five nine eight"
    line = format_transcript(transcript, "jsonl")
    assert "\n" not in line and json.loads(line) == transcript.to_dict()


def test_json_round_trips(transcript):
    doc = format_transcript(transcript, "json")
    assert doc.endswith("}\n") and doc.count("\n") > 5
    data = json.loads(doc)
    assert data == transcript.to_dict()
    assert data["words"][4] == {"word": "eight", "start": HOUR + 5.2, "end": HOUR + 5.75, "confidence": 0.95}


def test_empty_transcript(empty):
    assert format_transcript(empty, "srt") == ""
    assert format_transcript(empty, "vtt") == "WEBVTT\n"
    assert format_transcript(empty, "txt") == ""
    assert json.loads(format_transcript(empty, "json"))["words"] == []


def test_timestamps():
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(59.9996) == "00:01:00,000"
    assert format_timestamp(HOUR + 62.0426, ".") == "01:01:02.043"
    assert format_timestamp(100 * HOUR + 1.5) == "100:00:01,500"
    assert format_timestamp(-0.01) == "00:00:00,000"


def test_cues_split_on_length_and_duration():
    words = [Word(w, 0.5 * i, 0.5 * i + 0.4, 1.0) for i, w in enumerate(["seven"] * 10)]
    cues = subtitle_cues(words)  # "seven" x7 is 41 characters, an eighth would make 47
    assert [c[2].count("seven") for c in cues] == [7, 3]
    assert all(len(text) <= 42 for _, _, text in cues)
    assert cues[0][:2] == (0.0, 3.4) and cues[1][:2] == (3.5, 4.9)
    slow = [Word("one", 2.0 * i, 2.0 * i + 0.9, 1.0) for i in range(6)]  # gaps 1.1 s > max_gap
    assert len(subtitle_cues(slow)) == 6
    assert [len(c[2].split()) for c in subtitle_cues(slow, max_gap=1.5)] == [4, 2]  # 7 s limit
    assert subtitle_cues([Word("x" * 50, 0.0, 1.0, 1.0)]) == [(0.0, 1.0, "x" * 50)]
    with pytest.raises(ParameterError, match="max_chars >= 1"):
        subtitle_cues(words, max_chars=0)


@pytest.mark.parametrize("writer", [format_transcript, lambda t, fmt: write_transcript(t, "x.out", fmt)])
def test_unknown_format(transcript, writer):
    valid = "txt, json, jsonl, srt, vtt"
    with pytest.raises(ParameterError, match=rf"unknown transcript format 'docx'; valid formats: {valid}"):
        writer(transcript, "docx")


def test_write_transcript_is_atomic_and_leaves_no_temp_files(transcript, tmp_path):
    out = tmp_path / "deep" / "folder" / "long.srt"
    assert write_transcript(transcript, out, "srt") == out
    assert out.read_text(encoding="utf-8") == EXPECTED_SRT
    write_transcript(transcript, out, "srt")  # replacing an existing file
    txt = write_transcript(transcript, tmp_path / "deep" / "folder" / "long.txt", "txt")
    assert txt.read_text() == "three oh five nine eight\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["long.srt", "long.txt"]
    if os.name == "posix":
        assert out.stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_old_file_and_no_temp(transcript, tmp_path, monkeypatch):
    out = tmp_path / "t.vtt"
    out.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_transcript(transcript, out, "vtt")
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["t.vtt"]


def test_atomic_write_permissions_and_failure(tmp_path):
    import os

    from speech_lstm.files import atomic_write

    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "sub" / "a.txt"
        with atomic_write(path) as f:
            f.write("one\n")
        assert path.read_text() == "one\n" and (path.stat().st_mode & 0o777) == 0o644  # not mkstemp's 0600
        os.chmod(path, 0o600)
        with atomic_write(path, "wb") as f:
            f.write(b"two\n")
        assert path.read_bytes() == b"two\n" and (path.stat().st_mode & 0o777) == 0o600  # kept
        with pytest.raises(RuntimeError):
            with atomic_write(path) as f:
                f.write("half")
                raise RuntimeError("killed")
        assert path.read_bytes() == b"two\n" and sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]
    finally:
        os.umask(old_umask)
