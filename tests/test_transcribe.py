"""transcribe_files: bad inputs, long files cut and stitched with absolute times, batching across
files, input order, list files; and the real CLI with an export and --output-dir."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.config import DecodeOptions
from speech_lstm.ctc import Hypothesis
from speech_lstm.errors import AudioLoadError, ConfigError
from speech_lstm.segment import SegmentOptions
from speech_lstm.text import Vocabulary
from speech_lstm.transcribe import (Recognizer, Transcript, expand_inputs, load_recognizer, read_list_file,
                                    transcribe_files)

SHORT_SEGMENTS = SegmentOptions(max_seconds=5.0)


class Marker:
    """A stand-in recognizer that 'hears' one word per segment, at output frame 5 (0.1 s into
    it), and records the batches it is given."""

    sample_rate, frame_seconds, emission_lag = 16000, 0.02, 0.0
    vocab = Vocabulary()

    def __init__(self):
        self.batches = []

    def decode(self, waveforms, options):
        self.batches.append([len(w) for w in waveforms])
        a = self.vocab.encode("a")[0]
        return [(Hypothesis([a], 0.0, [5], [1.0]), None) for _ in waveforms]


def _bad_files(tmp_path):
    files = {"missing": tmp_path / "missing.wav", "directory": tmp_path / "adir", "non_audio": tmp_path / "notes.wav",
             "zero_bytes": tmp_path / "zero.wav", "no_samples": tmp_path / "nosamples.wav",
             "too_short": tmp_path / "short.wav"}
    files["directory"].mkdir()
    files["non_audio"].write_text("this is not audio")
    files["zero_bytes"].write_bytes(b"")
    sf.write(files["no_samples"], np.zeros(0, np.float32), 16000)
    sf.write(files["too_short"], np.full(10, 0.1, np.float32), 16000)
    return files


def test_every_bad_input_is_named_and_the_rest_complete(tiny_model_path, speech_wav, tmp_path):
    bad = _bad_files(tmp_path)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    paths = [speech_wav, *bad.values(), silent, speech_wav]
    results = list(transcribe_files(Recognizer.load(tiny_model_path), paths, batch_size=2, progress=False))
    assert [str(p) for p, _ in results] == [str(p) for p in paths]
    errors = {name: r for name, (_, r) in zip(bad, results[1:7])}
    reasons = {"missing": "file not found", "directory": "not a readable audio file",
               "non_audio": "not a readable audio file", "zero_bytes": "not a readable audio file",
               "no_samples": "empty audio", "too_short": "too short"}
    for name, reason in reasons.items():
        assert isinstance(errors[name], AudioLoadError), name
        assert str(bad[name]) in str(errors[name]) and reason in str(errors[name]), (name, str(errors[name]))
    assert isinstance(results[0][1], Transcript) and isinstance(results[-1][1], Transcript)
    assert results[0][1].text == results[-1][1].text  # the same file in another batch
    assert results[7][1].text == "" and results[7][1].words == [] and results[7][1].segments == []


def test_long_files_are_stitched_with_absolute_times(long_wav, speech_wav):
    path, placed = long_wav
    marker = Marker()
    results = list(transcribe_files(marker, [path, speech_wav, path], batch_size=4, segment_options=SHORT_SEGMENTS,
                                    progress=False))
    assert [str(p) for p, _ in results] == [str(path), str(speech_wav), str(path)]
    long_result = results[0][1]
    assert len(long_result.segments) == len(placed) and long_result.text == " ".join(["a"] * len(placed))
    for word, seg, (start, end, _) in zip(long_result.words, long_result.segments, placed):
        assert word.start == pytest.approx(seg["start"] + 0.1) and start < word.start < end
    assert results[2][1].to_dict() == long_result.to_dict()
    assert all(len(b) <= 4 for b in marker.batches)
    assert sum(len(b) for b in marker.batches) == 2 * len(placed) + 1  # the short file is one segment


def test_emission_lag_moves_word_starts_back(long_wav):
    path, _ = long_wav
    marker = Marker()
    (_, plain), = transcribe_files(marker, [path], segment_options=SHORT_SEGMENTS, progress=False)
    marker.emission_lag = 0.05
    (_, shifted), = transcribe_files(marker, [path], segment_options=SHORT_SEGMENTS, progress=False)
    for a, b in zip(plain.words, shifted.words):
        assert b.start == pytest.approx(a.start - 0.05) and b.end == a.end


def test_keras_and_export_give_the_same_transcripts(tiny_model_path, tiny_export, digits_corpus):
    from speech_lstm.data.manifest import read_manifest

    paths = [e["audio_filepath"] for e in read_manifest(digits_corpus["test"])]
    keras_rec, export_rec = load_recognizer(tiny_model_path), load_recognizer(tiny_export)
    a = [r.to_dict() for _, r in transcribe_files(keras_rec, paths, progress=False)]
    b = [r.to_dict() for _, r in transcribe_files(export_rec, paths, progress=False)]
    assert [r["text"] for r in a] == [r["text"] for r in b]
    beam = DecodeOptions("beam", beam_width=4, top_paths=2)
    (_, r), = transcribe_files(export_rec, paths[:1], beam, progress=False)
    assert len(r.nbest) == 2 and r.text == r.nbest[0]["text"]


def test_inputs_from_dirs_globs_and_list_files(tmp_path, speech_wav):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in (tmp_path / "a" / "one.wav", tmp_path / "a" / "b" / "two.flac"):
        shutil.copy(speech_wav, p) if p.suffix == ".wav" else sf.write(p, sf.read(speech_wav)[0], 16000)
    (tmp_path / "a" / "readme.txt").write_text("x")
    paths, problems = expand_inputs([str(tmp_path / "a"), str(tmp_path / "a" / "**" / "*.flac"), str(tmp_path / "e*")])
    assert [p.name for p in paths] == ["two.flac", "one.wav", "two.flac"]
    assert problems == [(str(tmp_path / "e*"), "pattern matched no files")]
    listing = tmp_path / "list.txt"
    listing.write_text("# inputs\na/one.wav\n\n" + str(tmp_path / "a" / "b") + "\n")
    assert read_list_file(listing) == [str(tmp_path / "a" / "one.wav"), str(tmp_path / "a" / "b")]
    with pytest.raises(ConfigError, match="nolist.txt"):
        read_list_file(tmp_path / "nolist.txt")
    with pytest.raises(ConfigError, match="no such file"):
        load_recognizer(tmp_path / "nomodel")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "speech_lstm", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_cli_export_then_transcribe_a_folder_to_subtitles(tiny_model_path, long_wav, speech_wav, tmp_path):
    export = tmp_path / "export"
    r = cli("export", tiny_model_path, "--out", export, "--beam-width", "4", "--top-paths", "2")
    assert r.returncode == 0 and (export / "saved_model.pb").exists(), r.stderr[-2000:]
    r = cli("export", tiny_model_path, "--out", export)
    assert r.returncode == 2 and "already exists" in r.stderr
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    shutil.copy(long_wav[0], inputs / "long.wav")
    shutil.copy(speech_wav, inputs / "sub" / "short.wav")
    (inputs / "sub" / "broken.wav").write_text("not audio")
    listing = tmp_path / "more.txt"
    listing.write_text(f"{tmp_path / 'gone.wav'}\n")
    out = tmp_path / "out"
    r = cli("transcribe", inputs, "--inputs-from", listing, "--model", export, "--format", "vtt", "--output-dir", out,
            "--max-segment-seconds", "5", "--quiet")
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("speech-lstm: error:")]
    assert len(errors) == 2 and "broken.wav: not a readable audio file" in r.stderr and "gone.wav: file not found" in r.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.vtt")) == ["long.vtt", "sub/short.vtt"]
    assert (out / "long.vtt").read_text().startswith("WEBVTT")
    r = cli("transcribe", inputs / "long.wav", inputs / "sub" / "short.wav", "--model", export, "--format", "srt")
    assert r.returncode == 2 and "--output-dir" in r.stderr
    r = cli("transcribe", inputs / "long.wav", "--model", export, "--format", "json", "--max-segment-seconds", "5")
    assert r.returncode == 0 and len(json.loads(r.stdout)["segments"]) == len(long_wav[1])


def test_word_timing_errors_align_within_utterances():
    from speech_lstm.evaluate import word_timing_errors

    def words(*pairs):
        return [{"word": w, "start": t, "end": t + 0.2} for w, t in pairs]

    # Utterance A ("one" at 1.0 s) was missed; utterance B ("two five" at 3.0 s) heard as "one five".
    ref, hyp = words(("one", 1.0), ("two", 3.0), ("five", 3.3)), words(("one", 3.02), ("five", 3.34))
    everything = word_timing_errors(ref, hyp)
    assert everything["matched"] == 2 and everything["start_errors"][0] == pytest.approx(2.02)  # a false pair
    per_utterance = word_timing_errors(ref, hyp, spans=[(0.9, 1.5), (2.9, 3.8)])
    assert per_utterance["matched"] == 1 and per_utterance["start_errors"][0] == pytest.approx(0.04)
