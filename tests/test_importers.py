"""Corpus importers on tiny fake copies of each layout (sine tones in the corpus's own formats)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.cli import IMPORT_CORPORA
from speech_lstm.data.importers import (IMPORTERS, REPORT_NAME, import_common_voice, import_folder, import_fsdd,
                                        import_librispeech, import_ljspeech, import_nemo, import_speech_commands,
                                        import_timit)
from speech_lstm.data.manifest import read_manifest
from speech_lstm.errors import CorpusLayoutError, ParameterError

QUIET = {"progress": False, "workers": 2}


def audio(path, seconds=0.5, sr=16000, **kw):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, **kw)
    return path


def text(path, content):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def manifests(result):
    return {split: read_manifest(path) for split, path in result.manifests.items()}


def report(result):
    return json.loads(result.report.read_text())


def test_librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    chapter = root / "train-clean-100" / "103" / "1240"
    text(chapter / "103-1240.trans.txt", "103-1240-0000 CHAPTER ONE MISSUS RACHEL\n103-1240-0001 IT'S LATE\n"
                                         "103-1240-0002 NO AUDIO FOR THIS LINE\n")
    audio(chapter / "103-1240-0000.flac", 0.5)
    audio(chapter / "103-1240-0001.flac", 0.25)
    text(root / "dev-clean" / "2" / "3" / "2-3.trans.txt", "2-3-0000 HELLO WORLD\n")
    audio(root / "dev-clean" / "2" / "3" / "2-3-0000.flac", 1.0)
    result = import_librispeech(root, tmp_path / "out", **QUIET)
    got = manifests(result)
    assert sorted(got) == ["dev-clean", "train-clean-100"]
    assert [(e["text"], e["duration"], e["speaker"]) for e in got["train-clean-100"]] == [
        ("chapter one missus rachel", 0.5, "103"), ("it's late", 0.25, "103")]
    assert got["dev-clean"][0]["audio_filepath"] == str(root / "dev-clean" / "2" / "3" / "2-3-0000.flac")
    assert result.dropped == {"missing_audio": 1}
    example = report(result)["dropped"]["missing_audio"]["examples"][0]
    assert example["audio"].endswith("103-1240-0002.flac") and example["split"] == "train-clean-100"
    only = import_librispeech(root, tmp_path / "dev", subsets=["dev-clean"], min_duration=2.0, **QUIET)
    assert only.kept == {"dev-clean": 0} and only.dropped == {"too_short": 1} and not only.manifests
    with pytest.raises(CorpusLayoutError, match="test-other: missing folder"):
        import_librispeech(root, tmp_path / "x", subsets=["test-other"], **QUIET)
    with pytest.raises(CorpusLayoutError, match=r"no <subset>/<speaker>/.*found under .*LibriSpeech: pass that"):
        import_librispeech(tmp_path, tmp_path / "x", **QUIET)


def test_common_voice_mp3_and_bad_rows(tmp_path):
    root = tmp_path / "cv"
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\n"
    text(root / "train.tsv", header + "c1\ta.mp3\tHello, World!\t2\t0\nc2\tb.mp3\tCafé au lait\t2\t0\n"
                             "c1\tc.mp3\tIt costs 3.50\t2\t0\nc3\tbroken.mp3\tBroken file\t2\t0\nshort-row\n")
    text(root / "dev.tsv", header + "c4\td.mp3\t\t2\t0\n")
    text(root / "test.tsv", header + 'c5\te.mp3\t"Quoted" text\t2\t0\n')
    for name in "abcde":
        audio(root / "clips" / f"{name}.mp3", 0.5, format="MP3")
    text(root / "clips" / "broken.mp3", "not audio")
    result = import_common_voice(root, tmp_path / "out", **QUIET)
    got = manifests(result)
    assert [e["text"] for e in got["train"]] == ["hello world", "cafe au lait"]
    assert got["train"][0]["speaker"] == "c1" and got["train"][0]["duration"] == pytest.approx(0.5, abs=0.05)
    assert [e["text"] for e in got["test"]] == ["quoted text"]
    assert result.kept == {"train": 2, "dev": 0, "test": 1} and "dev" not in result.manifests
    assert result.dropped == {"empty_transcript": 1, "malformed_line": 1, "unreadable_audio": 1,
                              "unsupported_characters": 1}
    assert "'035'" in report(result)["dropped"]["unsupported_characters"]["examples"][0]["detail"]
    (root / "dev.tsv").unlink()
    with pytest.raises(CorpusLayoutError, match=r"dev\.tsv: missing file; expected a Common Voice table"):
        import_common_voice(root, tmp_path / "out", **QUIET)
    with pytest.raises(CorpusLayoutError, match=r"clips: missing folder.*found under .*cv: pass that"):
        import_common_voice(tmp_path, tmp_path / "out", **QUIET)


def test_ljspeech_normalized_column_and_seeded_split(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    lines = ["LJ001-0001|Printing, in the only sense|Printing, in the only sense",
             "LJ001-0002|in 1865 he|in eighteen sixty-five he", "LJ001-0003|no wav|no wav", "garbage"]
    for i in range(4, 10):
        lines.append(f"LJ001-{i:04d}|Sentence {i}|sentence number")
    text(root / "metadata.csv", "\n".join(lines) + "\n")
    for i in [1, 2, *range(4, 10)]:
        audio(root / "wavs" / f"LJ001-{i:04d}.wav", 0.3, sr=22050, subtype="PCM_16")
    result = import_ljspeech(root, tmp_path / "out", **QUIET)
    got = manifests(result)
    assert list(got) == ["train"] and len(got["train"]) == 8
    assert [e["text"] for e in got["train"][:2]] == ["printing in the only sense", "in eighteen sixty five he"]
    assert {e["speaker"] for e in got["train"]} == {"LJ"} and got["train"][0]["duration"] == pytest.approx(0.3)
    assert result.dropped == {"malformed_line": 1, "missing_audio": 1}
    split = import_ljspeech(root, tmp_path / "out", dev=1, test=2, seed=3, **QUIET)
    assert sum(split.kept.values()) == 8  # the draw is made before dropping: held-out counts include drops
    assert {s: v["kept"] + v["dropped"] for s, v in report(split)["splits"].items()} == {"train": 6, "dev": 1, "test": 2}
    ids = {s: {e["audio_filepath"] for e in es} for s, es in manifests(split).items()}
    assert ids == {s: {e["audio_filepath"] for e in es}
                   for s, es in manifests(import_ljspeech(root, tmp_path / "again", dev=1, test=2, seed=3,
                                                          **QUIET)).items()}
    # back to one manifest: the earlier dev/test manifests are stale and removed
    import_ljspeech(root, tmp_path / "out", **QUIET)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jsonl")) == ["train.jsonl"]
    with pytest.raises(ParameterError, match="leaves nothing to train on"):
        import_ljspeech(root, tmp_path / "out", dev=5, test=5, **QUIET)
    (root / "metadata.csv").unlink()
    with pytest.raises(CorpusLayoutError, match=r"metadata\.csv: missing file"):
        import_ljspeech(root, tmp_path / "out", **QUIET)


def test_fsdd_split_by_index(tmp_path):
    rec = tmp_path / "fsdd" / "recordings"
    for name in ("0_jackson_0", "3_theo_7", "9_nicolas_12", "readme"):
        audio(rec / f"{name}.wav", 0.4, sr=8000)
    result = import_fsdd(tmp_path / "fsdd", tmp_path / "out", **QUIET)
    got = manifests(result)
    assert [(e["text"], e["speaker"]) for e in got["test"]] == [("zero", "jackson")]
    assert [(e["text"], e["speaker"]) for e in got["train"]] == [("three", "theo"), ("nine", "nicolas")]
    assert result.dropped == {"unrecognised_name": 1}
    with pytest.raises(CorpusLayoutError, match=r"recordings: missing folder.*found under .*fsdd: pass that"):
        import_fsdd(tmp_path, tmp_path / "out", **QUIET)


def test_speech_commands_lists(tmp_path):
    root = tmp_path / "sc"
    for rel in ("yes/abc123_nohash_0.wav", "yes/def456_nohash_1.wav", "no/abc123_nohash_0.wav",
                "_background_noise_/white_noise.wav"):
        audio(root / rel, 0.5)
    text(root / "validation_list.txt", "no/abc123_nohash_0.wav\n")
    text(root / "testing_list.txt", "yes/def456_nohash_1.wav\nyes/gone_nohash_0.wav\n")
    result = import_speech_commands(root, tmp_path / "out", **QUIET)
    got = manifests(result)
    assert [(e["text"], e["speaker"]) for e in got["train"]] == [("yes", "abc123")]
    assert [e["text"] for e in got["dev"]] == ["no"] and [e["speaker"] for e in got["test"]] == ["def456"]
    assert result.dropped == {"missing_audio": 1}
    (root / "testing_list.txt").unlink()
    with pytest.raises(CorpusLayoutError, match=r"testing_list\.txt: missing file"):
        import_speech_commands(root, tmp_path / "out", **QUIET)


def test_timit_nist_any_case_and_sa(tmp_path):
    root = tmp_path / "timit"
    spk = root / "TRAIN" / "DR1" / "FCJF0"
    audio(spk / "SA1.WAV", 0.5, format="NIST", subtype="PCM_16")
    text(spk / "SA1.TXT", "0 8000 She had your dark suit in greasy wash water all year.\n")
    audio(spk / "SI648.WAV", 0.5, format="NIST", subtype="PCM_16")
    text(spk / "SI648.TXT", "0 8000 Don't ask me to carry an oily rag like that.\n")
    text(spk / "SX10.TXT", "0 8000 No audio for this one.\n")
    low = root / "test" / "dr2" / "mabc0"
    audio(low / "sx20.wav", 0.25, format="NIST", subtype="PCM_16")
    text(low / "sx20.txt", "0 4000 Bright-yellow sun.\n")
    audio(low / "si30.wav", 0.25, format="NIST", subtype="PCM_16")
    text(low / "si30.txt", "garbage\n")
    result = import_timit(root, tmp_path / "out", **QUIET)
    got = manifests(result)
    assert [(e["text"], e["speaker"], e["duration"]) for e in got["train"]] == [
        ("don't ask me to carry an oily rag like that", "FCJF0", 0.5)]
    assert [e["text"] for e in got["test"]] == ["bright yellow sun"]
    assert result.dropped == {"malformed_line": 1, "missing_audio": 1}
    with_sa = import_timit(root, tmp_path / "sa", include_sa=True, **QUIET)
    assert with_sa.kept["train"] == 2
    (low.parent.parent).rename(root / "elsewhere")
    with pytest.raises(CorpusLayoutError, match=r"TEST: missing folder; expected TIMIT's TEST/"):
        import_timit(root, tmp_path / "out", **QUIET)


def test_nemo_relative_paths_offsets_and_extra_keys(tmp_path):
    src = tmp_path / "nemo"
    audio(src / "audio" / "a.wav", 0.5)
    long = audio(tmp_path / "elsewhere" / "b.wav", 1.0)
    lines = [{"audio_filepath": "audio/a.wav", "text": "Hello World", "duration": 0.5},
             {"audio_filepath": str(long), "text": "a segment", "duration": 0.25, "offset": 0.5, "speaker": "s1",
              "lang": "en"},
             {"audio_filepath": str(long), "text": "past the end", "duration": 0.5, "offset": 0.9},
             {"audio_filepath": "audio/a.wav", "text": "no duration given"}]
    text(src / "train_manifest.json", "\n".join(map(json.dumps, lines)) + "\n{not json\n")
    result = import_nemo(src / "train_manifest.json", tmp_path / "out", **QUIET)
    got = manifests(result)["train_manifest"]
    assert got[0]["audio_filepath"] == str(src / "audio" / "a.wav") and got[0]["text"] == "hello world"
    assert {k: got[1][k] for k in ("offset", "duration", "speaker", "lang")} == {
        "offset": 0.5, "duration": 0.25, "speaker": "s1", "lang": "en"}
    assert got[2]["duration"] == 0.5 and "offset" not in got[2]
    assert result.dropped == {"malformed_line": 1, "segment_outside_audio": 1}
    text(src / "m.jsonl", (src / "train_manifest.json").read_text())
    with pytest.raises(ParameterError, match="would overwrite it"):
        import_nemo(src / "m.jsonl", src, **QUIET)
    with pytest.raises(CorpusLayoutError, match=r"nope\.jsonl: missing file; expected a NeMo-style"):
        import_nemo(src / "nope.jsonl", tmp_path / "out", **QUIET)


def test_folder_and_idempotence(tmp_path):
    root = tmp_path / "recordings"
    audio(root / "a.wav", 0.5)
    text(root / "a.txt", "Hello there.\n")
    audio(root / "sub" / "b.flac", 0.25)
    text(root / "sub" / "b.txt", "General Kenobi")
    audio(root / "sub" / "c.ogg", 0.5)  # no transcript
    text(root / "notes.txt", "not a transcript: no audio of that name")
    sf.write(str(root / "empty.wav"), np.zeros(0, np.float32), 16000)
    text(root / "empty.txt", "nothing said")
    out = tmp_path / "out"
    first = import_folder(root, out, split="dev", **QUIET)
    assert [(e["text"], e["duration"]) for e in manifests(first)["dev"]] == [
        ("hello there", 0.5), ("general kenobi", 0.25)]
    assert first.dropped == {"empty_audio": 1, "missing_transcript": 1} and not first.up_to_date
    files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    again = import_folder(root, out, split="dev", **QUIET)
    assert again.up_to_date and again.kept == first.kept and again.dropped == first.dropped
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == files
    forced = import_folder(root, out, split="dev", force=True, **QUIET)
    assert not forced.up_to_date and {p.name: p.read_bytes() for p in out.iterdir()} == {
        name: content for name, (content, _) in files.items()}
    text(root / "sub" / "b.txt", "changed")
    assert manifests(import_folder(root, out, split="dev", **QUIET))["dev"][1]["text"] == "changed"
    with pytest.raises(CorpusLayoutError, match="no audio files"):
        import_folder(tmp_path / "out", tmp_path / "x", **QUIET)
    with pytest.raises(CorpusLayoutError, match="missing folder; expected a folder of audio files"):
        import_folder(tmp_path / "nowhere", tmp_path / "x", **QUIET)


def test_cli_import_and_data_scripts(tmp_path):
    assert sorted(IMPORT_CORPORA) == sorted(IMPORTERS)
    scripts = Path(__file__).parents[1] / "data_scripts"
    for corpus in IMPORT_CORPORA:
        assert f'main(["import", "{corpus}"' in (scripts / f"import_{corpus}.py").read_text()
    audio(tmp_path / "in" / "a.wav", 0.5)
    text(tmp_path / "in" / "a.txt", "One two")
    audio(tmp_path / "in" / "b.wav", 0.5)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "speech_lstm", "import", *map(str, args)], capture_output=True,
                              text=True, timeout=120)

    r = cli("folder", tmp_path / "in", "--out", tmp_path / "out", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "train: 1 utterances" in r.stdout and "dropped 1 (missing_transcript 1)" in r.stderr
    assert read_manifest(tmp_path / "out" / "train.jsonl")[0]["text"] == "one two"
    assert (tmp_path / "out" / REPORT_NAME).is_file()
    r = cli("ljspeech", tmp_path / "in", "--out", tmp_path / "out")
    assert r.returncode == 2 and "metadata.csv: missing file" in r.stderr
    r = cli("folder", tmp_path / "in", "--out", tmp_path / "out", "--subsets", "x")
    assert r.returncode == 2 and "--subsets is an option of librispeech imports" in r.stderr


def test_numbers_in_transcripts_are_spelled_and_decimals_dropped():
    from speech_lstm.data.importers import _clean_text

    assert _clean_text("I have 3 cats, born in 1984!") == ("i have three cats born in nineteen eighty four", None)
    assert _clean_text("the 21st of May") == ("the twenty first of may", None)
    text, problem = _clean_text("it costs 3.50")
    assert text is None and problem[0] == "unsupported_characters"
