import json

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.data.manifest import read_manifest, validate_manifest, write_manifest
from speech_lstm.errors import ManifestError
from speech_lstm.text import Vocabulary


def _lines(path, items):
    path.write_text("\n".join(i if isinstance(i, str) else json.dumps(i) for i in items) + "\n")
    return path


def test_relative_paths_resolve_against_manifest_folder(tmp_path, tone):
    (tmp_path / "corpus" / "wavs").mkdir(parents=True)
    sf.write(str(tmp_path / "corpus" / "wavs" / "a.wav"), tone, 16000)
    m = _lines(tmp_path / "corpus" / "m.jsonl", [{"audio_filepath": "wavs/a.wav", "text": "a", "duration": 0.5}])
    entries = read_manifest(m)
    assert entries[0]["audio_filepath"] == str(tmp_path / "corpus" / "wavs" / "a.wav")
    # Written back relative, so the folder can move.
    write_manifest(entries, tmp_path / "corpus" / "copy.jsonl")
    assert json.loads((tmp_path / "corpus" / "copy.jsonl").read_text())["audio_filepath"] == "wavs/a.wav"
    moved = tmp_path / "moved"
    (tmp_path / "corpus").rename(moved)
    assert read_manifest(moved / "copy.jsonl")[0]["audio_filepath"] == str(moved / "wavs" / "a.wav")


def test_malformed_lines_all_reported_with_line_numbers(tmp_path):
    m = _lines(tmp_path / "bad.jsonl", [
        {"audio_filepath": "a.wav", "text": "ok", "duration": 1.0},
        "{not json",
        {"audio_filepath": "b.wav", "text": "x"},
        {"audio_filepath": "c.wav", "text": "x", "duration": "long"},
        [1, 2],
        {"audio_filepath": "d.wav", "text": "x", "duration": 1, "offset": -2},
    ])
    with pytest.raises(ManifestError, match="5 malformed line") as exc:
        read_manifest(m)
    msg = str(exc.value)
    for needle in ("bad.jsonl:2: not valid JSON", "bad.jsonl:3: missing key(s) duration",
                   "bad.jsonl:4: duration must be a number", "bad.jsonl:5: expected a JSON object",
                   "bad.jsonl:6: offset must be"):
        assert needle in msg


def test_missing_and_empty_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ManifestError, match="no entries"):
        read_manifest(tmp_path / "empty.jsonl")


def test_validate_reports_every_problem_at_once(tmp_path, tone):
    sf.write(str(tmp_path / "good.wav"), tone, 16000)
    sf.write(str(tmp_path / "silent.wav"), np.zeros(8000, np.float32), 16000)
    (tmp_path / "text.wav").write_text("hello")
    m = _lines(tmp_path / "m.jsonl", [
        {"audio_filepath": "good.wav", "text": "fine", "duration": 0.5},
        {"audio_filepath": "missing.wav", "text": "gone", "duration": 0.5},
        {"audio_filepath": "good.wav", "text": "  ", "duration": 0.5},
        {"audio_filepath": "good.wav", "text": "Room 7", "duration": 0.5},
        {"audio_filepath": "good.wav", "text": "long", "duration": 99.0},
        {"audio_filepath": "text.wav", "text": "junk", "duration": 0.5},
        {"audio_filepath": "silent.wav", "text": "quiet", "duration": 0.5},
    ])
    entries = read_manifest(m)
    with pytest.raises(ManifestError, match=r"6 problem\(s\) in 7 entries") as exc:
        validate_manifest(entries, Vocabulary(), 0.1, 20.0, decode_audio=True, name="m.jsonl")
    msg = str(exc.value)
    assert "m.jsonl:2: " in msg and "missing.wav: file not found" in msg
    assert "m.jsonl:3: empty transcript" in msg
    assert "m.jsonl:4: characters not in the vocabulary '7R'" in msg
    assert "m.jsonl:5: duration 99.00s outside [0.1, 20.0] s" in msg
    assert "text.wav: not a readable audio file" in msg
    assert "silent.wav: audio is silent" in msg
    problems = validate_manifest(entries, Vocabulary(), 0.1, 20.0, decode_audio=False, raise_on_error=False)
    assert len(problems) == 5  # without decoding, the silent file passes


def test_synthesized_corpus_validates(digits_corpus):
    for path in digits_corpus.values():
        entries = read_manifest(path)
        assert validate_manifest(entries, Vocabulary(), decode_audio=True) == []
