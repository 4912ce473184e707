"""The token-stream LSTM: windows and transposition, scoring, grammar-constrained sampling with
top-k / top-p, soprano harmonisation, and rendering of the voices."""

import keras
import numpy as np
import pytest

from speech_lstm.errors import ParameterError
from speech_lstm.music.corpus import TokenVocabulary, decode_tokens, encode_tokens
from speech_lstm.music.model import (MusicModelConfig, build_music_model, token_nll, train_music_model,
                                     transpose_tokens, voice_ranges)
from speech_lstm.music import sample
from speech_lstm.music.sample import filter_distribution, primer_tokens, sample_tokens, soprano_tokens

VOCAB = TokenVocabulary()


def _chorales(n, seed=0):
    """Four voices of quarter and half notes moving by small steps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        notes = []
        for v, start in enumerate((72, 65, 57, 48)):
            p, t = start, 0.0
            while t < 8:
                d = float(rng.choice([1.0, 2.0]))
                notes.append((v, p, t, d))
                p += int(rng.integers(-2, 3))
                t += d
        out.append(encode_tokens(sorted(notes, key=lambda x: (x[2], x[0]))))
    return out


def test_transposition_stays_in_each_voice_range():
    streams = _chorales(3)
    ranges = voice_ranges(streams)
    assert all(lo <= hi for lo, hi in ranges) and ranges[0][0] > ranges[3][1] - 24
    up = transpose_tokens(streams[0], 1, [(lo, hi + 1) for lo, hi in ranges])
    notes, moved = decode_tokens(streams[0]), decode_tokens(up)
    assert [(v, p + 1, o, d) for v, p, o, d in notes] == moved
    assert transpose_tokens(streams[0], 1, [(lo, hi) for lo, hi in voice_ranges(streams[:1])]) is None
    assert list(transpose_tokens(streams[0], 0, ranges)) == streams[0]


def test_token_model_learns_resumes_and_scores_whole_streams(tmp_path):
    train, valid = _chorales(12), _chorales(3, seed=1)
    config = MusicModelConfig(kind="token", units=32, embed=8, window=40, batch_size=8, epochs=3,
                              learning_rate=1e-2, transpose=1)
    state = train_music_model(train, valid, config, tmp_path, progress=False)
    assert state["epoch"] == 3 and state["best"] < np.log(VOCAB.size)
    model = keras.saving.load_model(tmp_path / "best.keras")
    scored = token_nll(model, valid)
    assert scored["nats_per_token"] == pytest.approx(state["best"], rel=1e-4)
    assert scored["tokens"] == sum(len(t) - 1 for t in valid)
    assert scored["nats_per_quarter"] == pytest.approx(20 * scored["nats_per_token"])


def test_sampling_obeys_the_grammar_and_matches_the_keras_model():
    model = build_music_model(MusicModelConfig(kind="token", units=8, embed=4, layers=2))
    stream = _chorales(1)[0]
    primer = primer_tokens(stream, 1)
    assert len(primer) == 21 and primer[0] == VOCAB.BOS
    out = sample_tokens(model, primer, steps=12, temperature=1.5, seed=3)
    assert out[:21] == primer and len(out) == 21 + 12 * 5 + 1 and out[-1] == VOCAB.EOS
    notes = decode_tokens(out)  # strict: raises on any grammar error (HOLD with nothing sounding, ...)
    assert notes and max(o + d for _, _, o, d in notes) == pytest.approx(4.0)
    # same seed, same piece; numpy stepping agrees with the Keras model's probabilities
    assert sample_tokens(model, primer, steps=12, temperature=1.5, seed=3) == out
    keras_probs = keras.ops.convert_to_numpy(keras.ops.softmax(model(np.asarray([out[:-1]]), training=False)))[0]
    embed = np.asarray(model.get_layer("embed").get_weights()[0])
    cells = [sample._Cell(layer) for layer in model.layers if layer.name.startswith("lstm_")]
    states = [c.zero() for c in cells]
    for t, tok in enumerate(out[:10]):
        h = embed[tok][None]
        for i, cell in enumerate(cells):
            h, states[i] = cell.step(h, states[i])
        probs = np.exp(sample._dense(model.get_layer("logits"), h)[0])
        np.testing.assert_allclose(probs / probs.sum(), keras_probs[t], atol=1e-5)
    with pytest.raises(ParameterError, match="primer"):
        sample_tokens(model, primer[:-1], steps=2)


def test_harmonising_keeps_the_given_soprano():
    model = build_music_model(MusicModelConfig(kind="token", units=8, embed=4))
    melody = [(72, 0.0, 1.0), (74, 1.0, 1.0), (76, 2.0, 2.0), (72, 4.0, 0.5), (71, 4.5, 0.5), (72, 5.0, 1.0)]
    sop = soprano_tokens(melody)
    assert len(sop) == 24
    out = sample_tokens(model, [VOCAB.BOS], steps=len(sop), soprano=sop, seed=0, top_k=5)
    notes = decode_tokens(out)
    assert [(p, o, d) for v, p, o, d in notes if v == 0] == melody
    assert {v for v, *_ in notes} - {0}  # lower voices were written
    with pytest.raises(ParameterError, match="soprano"):
        sample_tokens(model, [VOCAB.BOS], steps=30, soprano=sop)


def test_top_k_and_top_p_filters():
    p = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    np.testing.assert_allclose(filter_distribution(p, top_k=2), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0])
    np.testing.assert_allclose(filter_distribution(p, top_p=0.8), [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0])
    np.testing.assert_allclose(filter_distribution(p, top_p=0.1), [1, 0, 0, 0, 0])
    np.testing.assert_allclose(filter_distribution(p), p)
    with pytest.raises(ParameterError):
        filter_distribution(p, top_p=0)


def test_render_voices_writes_valid_files(tmp_path):
    import pretty_midi
    import soundfile as sf

    from speech_lstm.music.render import render_notes

    notes = decode_tokens(_chorales(1)[0])
    paths = render_notes(notes, tmp_path / "piece", title="voices", primer_quarters=2)
    midi = pretty_midi.PrettyMIDI(str(paths["midi"]))
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert sum(len(i.notes) for i in midi.instruments) == len(notes)
    audio, sr = sf.read(paths["wav"])
    assert sr == 22050 and len(audio) > 4 * sr
    xml = paths["musicxml"].read_text()
    assert xml.count("<part id") == 4 and "Soprano" in xml
    assert paths["png"].stat().st_size > 5000


@pytest.mark.slow
def test_cli_harmonises_a_melody_file_and_rejects_misused_flags(tmp_path, capsys):
    """The real command line: a token model harmonises a soprano MIDI file; token-only flags on a
    piano-roll model and a token model on a JSB file are usage errors (exit 2)."""
    import json
    import subprocess
    import sys

    import pretty_midi

    from speech_lstm.music.corpus import notes_to_midi

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "speech_lstm", *map(str, args)], capture_output=True, text=True,
                              timeout=300)

    train_music_model(_chorales(6), _chorales(2, seed=1), MusicModelConfig(kind="token", units=8, embed=4, window=40,
                                                                          epochs=1), tmp_path / "tok", progress=False)
    melody = notes_to_midi([(72, 0.0, 1.0), (74, 1.0, 1.0), (76, 2.0, 2.0), (74, 4.0, 2.0), (72, 6.0, 2.0)],
                           tmp_path / "melody.mid")
    r = cli("music", "generate", "--model", tmp_path / "tok", "--out", tmp_path / "gen", "--soprano", melody,
            "--top-p", "0.9", "--count", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    for k in range(2):
        pm = pretty_midi.PrettyMIDI(str(tmp_path / "gen" / f"harmonisation_{k:02d}.mid"))
        quarters = 60 / pm.get_tempo_changes()[1][0]
        assert [round(n.start / quarters, 3) for n in pm.instruments[0].notes] == [0, 1, 2, 4, 6]
        assert len(pm.instruments) > 1 and (tmp_path / "gen" / f"harmonisation_{k:02d}.png").exists()
    from speech_lstm.cli import main

    assert main(["music", "generate", "--model", str(tmp_path / "tok"), "--out", str(tmp_path / "gen"),
                 "--soprano", str(melody), "--primer", str(melody)]) == 2  # conflicting flags
    jsb = tmp_path / "jsb.json"
    jsb.write_text(json.dumps({"train": [[[60, 64]] * 4], "valid": [[[60]] * 3], "test": [[[60]] * 3]}))
    cfg = tmp_path / "m.yaml"
    cfg.write_text("token: {kind: token, units: 8}\nroll: {units: 8, epochs: 1}\n")
    assert main(["music", "train", "--config", str(cfg), "--model", "token", "--run-dir", str(tmp_path / "t2"),
                 "--jsb", str(jsb)]) == 2  # a JSB file has no voices
    assert main(["music", "train", "--config", str(cfg), "--model", "roll", "--run-dir", str(tmp_path / "r"),
                 "--jsb", str(jsb), "--quiet"]) == 0
    assert main(["music", "generate", "--model", str(tmp_path / "r"), "--out", str(tmp_path / "g2"),
                 "--top-k", "3"]) == 2  # token-only flag on a roll model
    err = capsys.readouterr().err
    assert "conflict" in err and "token model needs" in err and "need a token model" in err
