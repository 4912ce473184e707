"""speech_lstm.music.corpus on a handful of real chorales and tiny hand-built data (no full-corpus parse)."""

import json

import numpy as np
import pytest

from speech_lstm.errors import ConfigError, ParameterError, SpeechLSTMError
from speech_lstm.music import corpus as mc
from speech_lstm.music.corpus import (
    Chorale,
    TokenVocabulary,
    decode_tokens,
    encode_tokens,
    load_bach_chorales,
    load_jsb,
    load_score_folder,
    melody_groups,
    melody_signature,
    notes_to_midi,
    off_grid_fraction,
    piano_roll,
    read_split,
    roll_to_notes,
    score_to_chorale,
    split_chorales,
    transposition_to_c,
    write_split,
)

music21 = pytest.importorskip("music21")
pretty_midi = pytest.importorskip("pretty_midi")

WORKS = ("bwv10.7", "bwv101.7", "bwv102.7")  # G minor, D minor, C minor in the original


def _parse(work):
    from music21 import converter, corpus

    return converter.parseFile(corpus.getWork(f"bach/{work}"), forceSource=True, storePickle=False)


@pytest.fixture(scope="module")
def chorales():
    return [score_to_chorale(_parse(w), w, transpose=True) for w in WORKS]


def _stream(notes):
    """A music21 score with one part per voice, for key analysis."""
    from music21 import note, stream

    score = stream.Score()
    for v in sorted({n[0] for n in notes}):
        part = stream.Part()
        for _, p, o, q in (n for n in notes if n[0] == v):
            part.insert(o, note.Note(p, quarterLength=q))
        score.insert(0, part)
    return score


# ---- transposition


def test_transposition_to_c_takes_the_shorter_way():
    assert [transposition_to_c(pc) for pc in range(12)] == [0, -1, -2, -3, -4, -5, -6, 5, 4, 3, 2, 1]


def test_chorales_are_transposed_to_tonic_c(chorales):
    by_name = {c.name: c for c in chorales}
    assert by_name["bwv10.7"].original_key == "G minor" and by_name["bwv10.7"].transposed_by == 5
    assert by_name["bwv102.7"].transposed_by == 0
    for c in chorales:
        assert c.key_mode in ("major", "minor")
        assert sorted({n[0] for n in c.notes}) == [0, 1, 2, 3]
        key = _stream(c.notes).analyze("key")
        assert key.tonic.pitchClass == 0, (c.name, key)
        assert key.mode == c.key_mode
        # Soprano above bass on average: voices kept in score order.
        sop = np.mean([n[1] for n in c.notes if n[0] == 0])
        bass = np.mean([n[1] for n in c.notes if n[0] == 3])
        assert sop > bass


# ---- piano rolls and MIDI


def test_piano_roll_frame_rule():
    notes = [(0, 60, 0.0, 2.0), (1, 64, 2.5, 0.5), (2, 67, 0.5, 1.0), (3, 48, 3.0, 1.0)]
    roll = piano_roll(notes)
    assert roll.shape == (4, 88) and roll.dtype == bool
    on = {(t, k + 21) for t, k in zip(*np.nonzero(roll))}
    # onset rule (the benchmark's): a key is on in frame t when its note sounds at the instant t
    assert on == {(0, 60), (1, 60), (1, 67), (3, 48)}  # the eighth note at 2.5 falls between beats
    over = {(t, k + 21) for t, k in zip(*np.nonzero(piano_roll(notes, rule="overlap")))}
    # overlap rule: on when the note sounds at any time within [t, t+1)
    assert over == {(0, 60), (1, 60), (2, 64), (0, 67), (1, 67), (3, 48)}
    assert piano_roll(notes, step=0.25).shape == (16, 88)
    ch = Chorale("x", "major", 0, notes, 6.0, melody_signature(notes))
    assert piano_roll(ch).shape == (6, 88)  # trailing rests kept
    with pytest.raises(ParameterError, match="outside the piano range"):
        piano_roll([(0, 12, 0.0, 1.0)])
    with pytest.raises(ParameterError, match="rule"):
        piano_roll(notes, rule="union")


def test_roll_round_trip_through_midi(tmp_path):
    notes = [  # on the quarter grid, no pitch re-struck right where it ended
        (0, 72, 0.0, 2.0), (0, 74, 2.0, 1.0), (0, 76, 3.0, 1.0),
        (1, 67, 0.0, 1.0), (1, 65, 1.0, 3.0),
        (2, 64, 0.0, 4.0),
        (3, 48, 0.0, 1.0), (3, 43, 1.0, 1.0), (3, 45, 2.0, 2.0),
    ]
    roll = piano_roll(notes)
    back = roll_to_notes(roll)
    assert back == sorted(((p, o, q) for _, p, o, q in notes), key=lambda n: (n[1], n[0]))
    path = notes_to_midi(back, tmp_path / "out" / "roll.mid", tempo=90)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert len(pm.instruments) == 1
    # MIDI ticks (220 a quarter) round the times: compare to a millisecond-sized tolerance.
    read = sorted((n.pitch, round(n.start * 90 / 60, 3), round((n.end - n.start) * 90 / 60, 3))
                  for n in pm.instruments[0].notes)
    assert read == sorted(back)
    # With voices: one instrument per voice, named.
    pm4 = pretty_midi.PrettyMIDI(str(notes_to_midi(notes, tmp_path / "voices.mid")))
    assert [i.name for i in pm4.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert sorted(n.pitch for n in pm4.instruments[3].notes) == [43, 45, 48]
    assert not list(tmp_path.glob("**/*.tmp"))


def test_real_chorale_roll_is_stable(chorales):
    for c in chorales:
        roll = piano_roll(c)
        assert roll.shape[0] == int(np.ceil(c.length_quarters))
        again = piano_roll([(0, p, o, q) for p, o, q in roll_to_notes(roll)])
        assert np.array_equal(again, roll[: again.shape[0]]) and not roll[again.shape[0]:].any()


# ---- tokens


def test_token_round_trip_real_chorales(chorales):
    vocab = TokenVocabulary()
    assert vocab.size == 94
    for c in chorales:
        assert off_grid_fraction(c) == 0.0
        tokens = encode_tokens(c)
        steps = int(round(c.length_quarters * 4))
        assert len(tokens) == 2 + 5 * steps
        assert tokens[0] == vocab.BOS and tokens[-1] == vocab.EOS
        assert decode_tokens(tokens) == c.notes


def test_tokens_keep_held_and_restruck_notes_apart():
    vocab = TokenVocabulary()
    held = [(0, 60, 0.0, 0.5)]
    restruck = [(0, 60, 0.0, 0.25), (0, 60, 0.25, 0.25)]
    with_rest = [(0, 60, 0.0, 0.25), (2, 55, 0.25, 0.25)]
    t_held, t_re = encode_tokens(held), encode_tokens(restruck)
    assert t_held != t_re
    assert [vocab.token_name(t) for t in t_held] == [
        "BOS", "STEP", "NOTE(60)", "REST", "REST", "REST", "STEP", "HOLD", "REST", "REST", "REST", "EOS"]
    assert decode_tokens(t_held) == held
    assert decode_tokens(t_re) == restruck
    assert decode_tokens(encode_tokens(with_rest)) == with_rest
    assert decode_tokens(t_held + [vocab.PAD] * 3) == held
    assert decode_tokens(t_held[:-1]) == held  # missing EOS: a generation cut at max length


def test_tokens_snap_off_grid_notes_and_reject_bad_streams():
    vocab = TokenVocabulary()
    triplets = [(0, 60, 0.0, 1 / 3), (0, 62, 1 / 3, 1 / 3), (0, 64, 2 / 3, 1 / 3)]
    assert off_grid_fraction(triplets) == pytest.approx(1.0)
    assert decode_tokens(encode_tokens(triplets)) == [(0, 60, 0.0, 0.25), (0, 62, 0.25, 0.5), (0, 64, 0.75, 0.25)]
    bad = [vocab.BOS, vocab.STEP, vocab.HOLD, vocab.REST, vocab.REST, vocab.REST, vocab.EOS]
    with pytest.raises(ParameterError, match="HOLD with no sounding note"):
        decode_tokens(bad)
    assert decode_tokens(bad, strict=False) == []
    with pytest.raises(ParameterError, match="truncated step"):
        decode_tokens([vocab.BOS, vocab.STEP, vocab.note(60), vocab.REST])
    with pytest.raises(ParameterError, match="start with BOS"):
        decode_tokens([vocab.STEP] + [vocab.REST] * 4)
    with pytest.raises(ParameterError, match="voice 4"):
        encode_tokens([(4, 60, 0.0, 1.0)])


# ---- splits


def _fake(name, intervals, start=60, dur=1.0):
    pitches = [start]
    for i in intervals:
        pitches.append(pitches[-1] + i)
    notes = [(0, p, k * dur, dur) for k, p in enumerate(pitches)] + [(3, 48, 0.0, dur * len(pitches))]
    return Chorale(name, "major", 0, notes, dur * len(pitches), melody_signature(notes))


@pytest.fixture
def fake_chorales():
    rng = np.random.default_rng(1)
    out = []
    for g in range(30):
        tune = [int(x) for x in rng.choice([-5, -3, -2, -1, 1, 2, 3, 4, 5, 7], size=20)]
        out.append(_fake(f"t{g}a", tune))
        if g % 3 == 0:
            out.append(_fake(f"t{g}b", tune, start=67, dur=0.5))  # transposed, re-barred duplicate
        if g % 5 == 0:
            variant = tune[:15] + [-tune[15]] + tune[16:]  # one changed note: a reharmonisation
            out.append(_fake(f"t{g}c", variant, start=55))
    return out


def test_melody_signature_is_transposition_invariant():
    a, b = _fake("a", [2, 2, -4, 5]), _fake("b", [2, 2, -4, 5], start=65, dur=2.0)
    assert a.melody_signature == b.melody_signature == "+2 +2 -4 +5"
    rep = [(0, 60, 0.0, 1.0), (0, 60, 1.0, 1.0), (0, 62, 2.0, 1.0)]
    assert melody_signature(rep) == "+2"  # repeated notes merged


def test_split_is_deterministic_and_keeps_melodies_together(fake_chorales, tmp_path):
    groups = melody_groups(fake_chorales)
    assert len(groups) == 30 and sum(len(g) > 1 for g in groups) == 14
    exact = melody_groups(fake_chorales, similarity=None, prefix=0)
    assert sum(len(g) > 1 for g in exact) == 10  # the variants need the fuzzy link
    split = split_chorales(fake_chorales, seed=3)
    assert split == split_chorales(list(reversed(fake_chorales)), seed=3)
    assert split != split_chorales(fake_chorales, seed=4)
    where = {n: s for s, names in split.items() for n in names}
    assert sorted(where) == sorted(c.name for c in fake_chorales)
    for g in groups:
        assert len({where[n] for n in g}) == 1, g
    sizes = {s: len(v) for s, v in split.items()}
    assert abs(sizes["train"] - 0.6 * len(fake_chorales)) <= 3
    path = write_split(split, tmp_path / "split.json")
    assert read_split(path) == split
    only_train = split_chorales(fake_chorales, fractions=(1.0, 0.0, 0.0))
    assert only_train["valid"] == only_train["test"] == []
    with pytest.raises(ParameterError, match="summing to 1"):
        split_chorales(fake_chorales, fractions=(0.5, 0.2, 0.2))


def test_read_split_rejects_bad_files(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"a\.json: not valid JSON"):
        read_split(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"train": ["x"], "valid": ["x"], "test": []}))
    with pytest.raises(ConfigError, match=r"b\.json: 'x' is in both"):
        read_split(tmp_path / "b.json")


# ---- the cached corpus loader (on three files, not the whole corpus)


def test_load_bach_chorales_parses_once_then_reads_cache(tmp_path, monkeypatch):
    from music21 import corpus

    files = [corpus.getWork(f"bach/{w}") for w in ("bwv1.6",) + WORKS]  # bwv1.6 has 5 parts
    monkeypatch.setattr(mc, "_bach_files", lambda: (files, {"x.rntxt": "not a score (.rntxt)"}))
    stats = {}
    first = load_bach_chorales(tmp_path / "cache", progress=False, workers=1, stats=stats)
    assert not stats["cached"] and stats["kept"] == 3
    assert stats["skipped"] == {"bwv1.6": "5 parts", "x.rntxt": "not a score (.rntxt)"}
    assert mc.bach_cache_path(tmp_path / "cache").is_file()
    assert music21.__version__ in mc.bach_cache_path(tmp_path / "cache").name
    monkeypatch.setattr(mc, "_bach_files", lambda: pytest.fail("cache not used"))
    second = load_bach_chorales(tmp_path / "cache", progress=False, stats=stats)
    assert stats["cached"] and stats["load_seconds"] < 2
    assert second == first and [c.name for c in first] == sorted(WORKS)
    mc.bach_cache_path(tmp_path / "cache").write_bytes(b"garbage")
    with pytest.raises(SpeechLSTMError, match="unreadable chorale cache.*delete it"):
        load_bach_chorales(tmp_path / "cache", progress=False)


# ---- public JSB files


def test_load_jsb_json(tmp_path):
    doc = {"train": [[[60, 64, 67, 72], [62, 65, 69, 74], []], [[48.0, 55]]],
           "valid": [[[21, 108]]], "test": []}
    (tmp_path / "jsb.json").write_text(json.dumps(doc))
    data = load_jsb(tmp_path / "jsb.json")
    assert [len(data[s]) for s in ("train", "valid", "test")] == [2, 1, 0]
    roll = data["train"][0]
    assert roll.shape == (3, 88) and roll.dtype == bool
    assert [sorted(np.flatnonzero(f) + 21) for f in roll] == [[60, 64, 67, 72], [62, 65, 69, 74], []]
    assert data["valid"][0][0, 0] and data["valid"][0][0, 87]


def test_load_jsb_json_errors(tmp_path):
    (tmp_path / "broken.json").write_text('{"train": [[[60, 64]]')
    with pytest.raises(SpeechLSTMError, match=r"broken\.json: not valid JSON"):
        load_jsb(tmp_path / "broken.json")
    (tmp_path / "keys.json").write_text(json.dumps({"train": []}))
    with pytest.raises(SpeechLSTMError, match=r"keys\.json: expected a JSON object with keys train, valid, test"):
        load_jsb(tmp_path / "keys.json")
    (tmp_path / "pitch.json").write_text(json.dumps({"train": [[[60, 130]]], "valid": [], "test": []}))
    with pytest.raises(SpeechLSTMError, match=r"pitch\.json: train\[0\]\[0\]: expected MIDI numbers 21\.\.108, got 130"):
        load_jsb(tmp_path / "pitch.json")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(SpeechLSTMError, match="expected a .json or .mat"):
        load_jsb(tmp_path / "x.txt")


def test_load_jsb_mat(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    pieces = {}
    for key, n in (("traindata", 3), ("validdata", 2), ("testdata", 1)):
        cell = np.empty((1, n), dtype=object)
        for i in range(n):
            cell[0, i] = (rng.random((5 + i, 88)) < 0.05).astype(np.float64)
        pieces[key] = cell
    scipy.io.savemat(str(tmp_path / "JSB.mat"), pieces)
    data = load_jsb(tmp_path / "JSB.mat")
    assert [len(data[s]) for s in ("train", "valid", "test")] == [3, 2, 1]
    for s, key in (("train", "traindata"), ("valid", "validdata"), ("test", "testdata")):
        for got, want in zip(data[s], pieces[key][0]):
            assert got.dtype == bool and np.array_equal(got, want.astype(bool))

    scipy.io.savemat(str(tmp_path / "nokeys.mat"), {"train": pieces["traindata"]})
    with pytest.raises(SpeechLSTMError, match=r"nokeys\.mat: missing key\(s\) traindata, validdata, testdata"):
        load_jsb(tmp_path / "nokeys.mat")
    bad = {k: v for k, v in pieces.items()}
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.zeros((4, 80))
    bad["testdata"] = cell
    scipy.io.savemat(str(tmp_path / "shape.mat"), bad)
    with pytest.raises(SpeechLSTMError, match=r"shape\.mat: testdata\[0\]: expected a \[frames, 88\]"):
        load_jsb(tmp_path / "shape.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(SpeechLSTMError, match=r"junk\.mat: not a readable MATLAB"):
        load_jsb(tmp_path / "junk.mat")


# ---- score folders


def test_load_score_folder(tmp_path):
    sop, bass = [67, 71, 74, 71, 69, 66, 67, 67], [43, 50, 43, 47, 50, 50, 43, 43]  # G major
    notes = [(0, p, float(i), 1.0) for i, p in enumerate(sop)] + [(1, p, float(i), 1.0) for i, p in enumerate(bass)]
    notes_to_midi(notes, tmp_path / "g_major.mid", tempo=120)
    _stream(notes).write("musicxml", fp=str(tmp_path / "g_major.musicxml"))
    (tmp_path / "readme.txt").write_text("ignored")
    scores = load_score_folder(tmp_path)
    assert [c.name for c in scores] == ["g_major.mid", "g_major.musicxml"]
    for c in scores:
        assert sorted((v, p, o, q) for v, p, o, q in c.notes) == sorted(notes)
        assert c.transposed_by == 0
    moved = load_score_folder(tmp_path, transpose=True)
    assert moved[0].transposed_by == 5 and moved[0].original_key == "G major"
    assert min(n[1] for n in moved[0].notes) == 48

    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    with pytest.raises(SpeechLSTMError, match=r"broken\.mid: cannot read as a score"):
        load_score_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpeechLSTMError, match="no score files"):
        load_score_folder(empty)
