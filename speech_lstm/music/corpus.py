"""The Bach chorales and other symbolic scores as note lists, piano rolls and token streams.

Units and conventions used throughout:

* Time is in **quarter notes** (crotchets), counted from the start of the score (a pickup
  bar starts at 0). Durations are quarter notes too. Nothing here is in seconds except the
  MIDI files written by :func:`notes_to_midi`.
* Pitches are **MIDI note numbers** (60 = middle C). Piano rolls and tokens cover the 88
  piano keys, MIDI 21 (A0) .. 108 (C8).
* A note is a tuple ``(voice, pitch, onset_quarters, duration_quarters)``; ``voice`` is the
  part index, 0..3 = soprano, alto, tenor, bass for the chorales. Note lists are sorted by
  ``(onset, voice, pitch, duration)``. Notes read back from a piano roll carry no voice and
  are 3-tuples ``(pitch, onset_quarters, duration_quarters)``.

Main entry points:

* :func:`load_bach_chorales` parses the four-part chorales shipped inside the music21 wheel
  once, transposes each to tonic C (C major or C minor) and caches the note lists.
* :func:`piano_roll` / :func:`roll_to_notes` / :func:`notes_to_midi`: frame representation
  (quarter-note frames by default, like the published JSB Chorales benchmark) and MIDI export.
* :func:`encode_tokens` / :func:`decode_tokens` with :class:`TokenVocabulary`: a 16th-note,
  voice-serialised token stream for generation.
* :func:`split_chorales`, :func:`write_split`, :func:`read_split`: a deterministic
  train/valid/test split that keeps chorales sharing a soprano melody together.
* :func:`load_jsb` (public JSB Chorales JSON / ``.mat`` files) and :func:`load_score_folder`
  (any folder of MIDI / MusicXML files).

music21, pretty_midi and scipy are imported lazily, only by the functions that need them.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speech_lstm.files import atomic_write
from speech_lstm.errors import ConfigError, ParameterError, SpeechLSTMError

__all__ = [
    "Chorale",
    "split_rolls",
    "parse_score_file",
    "load_bach_chorales",
    "bach_cache_path",
    "score_to_chorale",
    "melody_signature",
    "transposition_to_c",
    "piano_roll",
    "roll_to_notes",
    "notes_to_midi",
    "TokenVocabulary",
    "encode_tokens",
    "decode_tokens",
    "off_grid_fraction",
    "split_chorales",
    "melody_groups",
    "write_split",
    "read_split",
    "load_jsb",
    "load_score_folder",
    "MIN_PITCH",
    "MAX_PITCH",
    "NUM_KEYS",
    "SPLITS",
    "VOICE_NAMES",
]

MIN_PITCH = 21  # A0, lowest piano key; column 0 of a piano roll
MAX_PITCH = 108  # C8, highest piano key; column 87
NUM_KEYS = MAX_PITCH - MIN_PITCH + 1  # 88
SPLITS = ("train", "valid", "test")
VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
SCORE_SUFFIXES = (".mid", ".midi", ".musicxml", ".mxl", ".xml")

_EPS = 1e-6  # tolerance, in quarter notes (or frames), for float time comparisons
_CACHE_FORMAT = 1  # bump when the cached content or its meaning changes


@dataclass
class Chorale:
    """One score as a note list.

    Attributes:
        name: identifier, the file name without its extension, e.g. ``"bwv10.7"``.
        key_mode: ``"major"`` or ``"minor"`` from music21's key analysis (``analyze('key')``,
            Krumhansl-Schmuckler) of the original score.
        transposed_by: semitones added to every original pitch (-6..+5 when transposed to
            tonic C; 0 when not transposed).
        notes: ``(voice, midi_pitch, onset_quarters, duration_quarters)`` tuples sorted by
            ``(onset, voice, pitch, duration)``; voice 0..3 = soprano..bass. Ties are merged into
            one note; grace notes (zero duration) are dropped; a chord inside one part gives one
            note per pitch.
        length_quarters: length of the score in quarter notes (including trailing rests).
        melody_signature: transposition-invariant key of the soprano line, see
            :func:`melody_signature`. Chorales with equal signatures share a melody.
        original_key: the analysed key of the original score, e.g. ``"g minor"``.
    """

    name: str
    key_mode: str
    transposed_by: int
    notes: list
    length_quarters: float
    melody_signature: str
    original_key: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = [list(n) for n in self.notes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Chorale":
        notes = [(int(v), int(p), float(o), float(q)) for v, p, o, q in d["notes"]]
        return cls(
            name=str(d["name"]), key_mode=str(d["key_mode"]), transposed_by=int(d["transposed_by"]),
            notes=notes, length_quarters=float(d["length_quarters"]),
            melody_signature=str(d["melody_signature"]), original_key=str(d.get("original_key", "")),
        )


# --------------------------------------------------------------------------------------------
# Scores -> Chorale


def transposition_to_c(tonic_pitch_class: int) -> int:
    """Semitones that move a tonic with this pitch class (0 = C .. 11 = B) to C.

    The smaller of the two directions is chosen (up for D..F, down for G..B); a tritone
    (F#/Gb) goes down by 6. Result in -6..+5.
    """
    up = (-int(tonic_pitch_class)) % 12
    return up if up < 6 else up - 12


def melody_signature(notes, voice: int = 0) -> str:
    """Transposition-invariant signature of one voice's line (the soprano by default).

    The signature is the sequence of signed semitone intervals between successive pitches of
    the voice, with repeated pitches merged and durations ignored, as a space-separated string:
    C C D E C F gives ``"+2 +2 -4 +5"``. Durations and repeated
    notes are left out on purpose: Bach's reharmonisations of one hymn tune often re-barred
    the melody (3/4 vs 4/4) or split a note in two for the text, and such versions must
    still be recognised as the same melody. When a voice holds a chord, its highest pitch is
    used. Returns ``""`` for an empty voice.
    """
    line = {}
    for v, p, o, _ in notes:
        if v == voice:
            key = round(float(o), 6)
            line[key] = max(line.get(key, p), p)
    pitches = [line[k] for k in sorted(line)]
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    return " ".join(f"{b - a:+d}" for a, b in zip(merged, merged[1:]))


def _score_parts(score):
    """The parts of a parsed music21 object (a Part on its own counts as one part)."""
    from music21 import stream

    if isinstance(score, stream.Opus):
        raise ParameterError(f"contains {len(score.scores)} scores; expected one score")
    parts = list(score.parts) if isinstance(score, stream.Score) else []
    return parts if parts else [score]


def score_to_chorale(score, name: str, transpose: bool = True) -> Chorale:
    """Convert a parsed music21 score into a :class:`Chorale` (one voice per part).

    Ties are merged (``stripTies``), grace notes dropped, chords split into one note per pitch,
    unpitched notes ignored. With ``transpose`` the pitches are moved so the tonic found by
    ``score.analyze('key')`` becomes C (see :func:`transposition_to_c`); the mode is kept.
    Raises ParameterError for a score without pitched notes.
    """
    parts = _score_parts(score)
    notes = []
    for voice, part in enumerate(parts):
        flat = part.flatten().stripTies()
        for n in flat.notes:
            ql = float(n.quarterLength)
            if ql <= 0 or n.duration.isGrace:
                continue
            onset = float(n.offset)
            for p in getattr(n, "pitches", ()):
                notes.append((voice, int(p.midi), onset, ql))
    if not notes:
        raise ParameterError("no pitched notes")
    key = score.analyze("key")
    shift = transposition_to_c(key.tonic.pitchClass) if transpose else 0
    notes = sorted({(v, p + shift, o, q) for v, p, o, q in notes}, key=_note_key)
    length = max(float(score.highestTime), max(o + q for _, _, o, q in notes))
    return Chorale(
        name=name, key_mode=str(key.mode), transposed_by=shift, notes=notes,
        length_quarters=length, melody_signature=melody_signature(notes),
        original_key=f"{key.tonic.name} {key.mode}",
    )


def _note_key(n):
    return (n[2], n[0], n[1], n[3])


def parse_score_file(path):
    """A MIDI / MusicXML / kern file as a music21 score (read from the file, no music21 cache)."""
    from music21 import converter

    # forceSource + storePickle=False: always read the file, never write music21's own
    # pickle cache (our cache is the compact JSON below).
    return converter.parseFile(str(path), forceSource=True, storePickle=False)


def read_score(path) -> "Chorale":
    """A MIDI / MusicXML score file as a :class:`Chorale` (transposed to C); ParameterError
    naming the file when it cannot be read or holds no pitched notes."""
    try:
        return score_to_chorale(parse_score_file(path), Path(path).stem)
    except Exception as e:  # noqa: BLE001 - music21 raises many kinds
        raise ParameterError(f"{path}: not a readable MIDI/MusicXML score ({e})") from e


def _parse_bach_file(path):
    """Worker: (name, chorale dict or None, skip reason or None). Must stay picklable."""
    name = Path(path).stem
    try:
        score = parse_score_file(path)
        parts = _score_parts(score)
        if len(parts) != 4:
            return name, None, f"{len(parts)} parts"
        return name, score_to_chorale(score, name, transpose=True).to_dict(), None
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the corpus
        return name, None, f"parse error: {type(e).__name__}: {e}"


def _bach_files():
    """Candidate chorale files of the music21 corpus, one per name.

    ``.rntxt`` files are Roman-numeral analyses, not scores, and are left out. Where a chorale
    exists both as MusicXML and Humdrum (``.krn``), the MusicXML one is used.
    Returns ``(files, skipped)`` with ``skipped`` mapping file name -> reason.
    """
    from music21 import corpus

    rank = {".mxl": 0, ".musicxml": 0, ".xml": 1, ".krn": 2}
    files, skipped = {}, {}
    for f in sorted(str(p) for p in corpus.getComposer("bach")):
        p = Path(f)
        if p.suffix not in rank:
            skipped[p.name] = f"not a score ({p.suffix})"
            continue
        prev = files.get(p.stem)
        if prev is None or rank[p.suffix] < rank[prev.suffix]:
            if prev is not None:
                skipped[prev.name] = f"duplicate of {p.name}"
            files[p.stem] = p
        else:
            skipped[p.name] = f"duplicate of {prev.name}"
    return [files[k] for k in sorted(files)], skipped


def bach_cache_path(cache_dir) -> Path:
    """The cache file used by :func:`load_bach_chorales` for the installed music21 version."""
    from importlib.metadata import version

    return Path(cache_dir) / f"bach_chorales_v{_CACHE_FORMAT}_music21-{version('music21')}.json.gz"


def _write_json_gz(obj, path: Path) -> None:
    with atomic_write(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def _read_bach_cache(path: Path) -> dict:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("format") != _CACHE_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {_CACHE_FORMAT}")
        chorales = [Chorale.from_dict(d) for d in doc["chorales"]]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise SpeechLSTMError(
            f"{path}: unreadable chorale cache ({type(e).__name__}: {e}); delete it to rebuild"
        ) from e
    return {"chorales": chorales, "skipped": doc.get("skipped", {}),
            "files": doc.get("files", 0), "parse_seconds": doc.get("parse_seconds")}


def load_bach_chorales(cache_dir, progress: bool = True, workers: int = 2,
                       stats: dict | None = None) -> list[Chorale]:
    """The four-part Bach chorales of the music21 corpus, transposed to tonic C, cached.

    The first call parses every chorale file of ``music21.corpus.getComposer('bach')``
    (no download; the files ship inside the music21 wheel), keeps the scores with exactly
    four parts (soprano, alto, tenor, bass in score order), transposes each so its analysed
    tonic is C (C major or C minor; see :func:`score_to_chorale`) and writes the note lists
    atomically to a gzipped JSON file under ``cache_dir`` whose name carries the music21
    version (:func:`bach_cache_path`). Later calls only read that file (well under a second).

    Args:
        cache_dir: folder for the cache file (created if needed).
        progress: show a tqdm bar while parsing.
        workers: parsing processes (1 = in this process). music21 parsing is CPU bound.
        stats: optional dict filled with ``files`` (candidate files), ``kept``, ``skipped``
            (name -> reason, incl. non-score and duplicate files), ``parse_seconds`` (time of
            the original parse), ``load_seconds`` (this call) and ``cached`` (bool).

    Returns:
        Chorales sorted by name.
    """
    if workers < 1:
        raise ParameterError(f"workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    path = bach_cache_path(cache_dir)
    if path.is_file():
        doc = _read_bach_cache(path)
        cached = True
    else:
        files, skipped = _bach_files()
        chorales = []
        pool = None
        if workers == 1 or len(files) < 2:
            results = map(_parse_bach_file, files)
        else:
            import multiprocessing

            # spawn, not fork: the caller may already hold TensorFlow threads.
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(files)))
            results = pool.imap(_parse_bach_file, files, chunksize=4)
        try:
            if progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(files), desc="parsing chorales", unit="file")
            for name, d, reason in results:
                if d is None:
                    skipped[name] = reason
                else:
                    chorales.append(d)
        finally:
            if pool is not None:  # all results are in (or we are failing): stop the workers
                pool.terminate()
                pool.join()
        parse_seconds = time.perf_counter() - t0
        doc_out = {"format": _CACHE_FORMAT, "files": len(files), "parse_seconds": round(parse_seconds, 2),
                   "skipped": dict(sorted(skipped.items())),
                   "chorales": sorted(chorales, key=lambda d: d["name"])}
        _write_json_gz(doc_out, path)
        doc = {"chorales": [Chorale.from_dict(d) for d in doc_out["chorales"]], "skipped": doc_out["skipped"],
               "files": len(files), "parse_seconds": parse_seconds}
        cached = False
    if stats is not None:
        stats.update(files=doc["files"], kept=len(doc["chorales"]), skipped=doc["skipped"],
                     parse_seconds=doc["parse_seconds"], load_seconds=time.perf_counter() - t0, cached=cached)
    return doc["chorales"]


# --------------------------------------------------------------------------------------------
# Piano rolls and MIDI


def _as_notes(chorale_or_notes):
    """(notes, length_quarters or None) from a Chorale or a sequence of 4-tuples."""
    if isinstance(chorale_or_notes, Chorale):
        return chorale_or_notes.notes, chorale_or_notes.length_quarters
    return list(chorale_or_notes), None


def piano_roll(chorale, step: float = 1.0, rule: str = "onset") -> np.ndarray:
    """Boolean piano roll ``[frames, 88]`` (column ``k`` = MIDI ``21 + k``).

    Frame ``t`` stands for the time ``t*step`` quarter notes (``step=1.0``: quarter-note
    frames, as in the published JSB Chorales benchmark; ``0.25``: 16th notes).

    ``rule="onset"`` (default, the benchmark's): key ``p`` is on in frame ``t`` when a note of
    pitch ``p`` sounds at the instant ``t*step`` (``onset <= t*step < onset+duration``), so a
    quarter-note roll of a four-part chorale holds the chord on each beat, at most four keys,
    and passing notes between beats are not in it (Allan & Williams' data, on which the JSB
    benchmark is built, is sampled the same way). ``rule="overlap"``: key ``p`` is on when its
    note sounds at any time within ``[t*step, (t+1)*step)``, so an eighth note on beat 2.5
    lights frame 2.

    Voices are merged, so a unison of two voices is one key, and a pitch re-struck at a frame
    boundary is indistinguishable from a held one (the benchmark format has the same limits).
    ``chorale`` is a :class:`Chorale` (the roll spans ``length_quarters``) or a sequence of
    ``(voice, pitch, onset, duration)`` notes (the roll ends with the last note).
    Raises ParameterError for pitches outside 21..108, a non-positive step or an unknown rule.
    """
    if not step > 0:
        raise ParameterError(f"step must be > 0 quarter notes, got {step}")
    if rule not in ("onset", "overlap"):
        raise ParameterError(f"piano roll rule must be 'onset' or 'overlap', got {rule!r}")
    notes, length = _as_notes(chorale)
    end = max((o + q for _, _, o, q in notes), default=0.0)
    length = max(length or 0.0, end)
    frames = max(0, math.ceil(length / step - _EPS))
    roll = np.zeros((frames, NUM_KEYS), dtype=bool)
    for v, p, o, q in notes:
        if not MIN_PITCH <= p <= MAX_PITCH:
            raise ParameterError(f"pitch {p} (voice {v}, onset {o}) outside the piano range {MIN_PITCH}..{MAX_PITCH}")
        if q <= 0:
            continue
        if rule == "onset":  # frames whose instant t*step lies in [o, o+q)
            first = math.ceil(o / step - _EPS)
            last = math.ceil((o + q) / step - _EPS)
        else:
            first = math.floor(o / step + _EPS)
            last = max(math.ceil((o + q) / step - _EPS), first + 1)
        roll[first:last, p - MIN_PITCH] = True
    return roll


def roll_to_notes(roll, step: float = 1.0) -> list[tuple[int, float, float]]:
    """Notes ``(pitch, onset_quarters, duration_quarters)`` of a ``[frames, 88]`` piano roll.

    A key held over consecutive frames becomes one note; notes are sorted by (onset, pitch).
    Inverse of :func:`piano_roll` for notes that start and end on frame boundaries and are
    not re-struck at the boundary where the previous note of the same pitch ends.
    """
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != NUM_KEYS:
        raise ParameterError(f"expected a piano roll of shape [frames, {NUM_KEYS}], got {roll.shape}")
    if not step > 0:
        raise ParameterError(f"step must be > 0 quarter notes, got {step}")
    on = roll.astype(bool)
    padded = np.zeros((on.shape[0] + 2, NUM_KEYS), dtype=np.int8)
    padded[1:-1] = on
    diff = np.diff(padded, axis=0)
    notes = []
    for k in range(NUM_KEYS):
        starts = np.flatnonzero(diff[:, k] == 1)
        stops = np.flatnonzero(diff[:, k] == -1)
        for s, e in zip(starts, stops):
            notes.append((MIN_PITCH + k, float(s * step), float((e - s) * step)))
    notes.sort(key=lambda n: (n[1], n[0]))
    return notes


def notes_to_midi(notes, path, tempo: float = 100.0, velocity: int = 80, program: int = 0) -> Path:
    """Write notes to a standard MIDI file with pretty_midi (atomically).

    ``notes`` are ``(voice, pitch, onset, duration)`` 4-tuples (one instrument per voice,
    named Soprano/Alto/Tenor/Bass for voices 0..3, ``Voice N`` beyond) or ``(pitch, onset,
    duration)`` 3-tuples (one instrument), in quarter notes; ``tempo`` is quarter notes per
    minute, so a quarter lasts ``60 / tempo`` seconds. ``program`` is the General MIDI
    program (0 = piano). Returns the path.
    """
    import pretty_midi

    if not tempo > 0:
        raise ParameterError(f"tempo must be > 0 quarter notes per minute, got {tempo}")
    if not 0 <= velocity <= 127 or not 0 <= program <= 127:
        raise ParameterError(f"velocity and program must be in 0..127, got {velocity}, {program}")
    sec = 60.0 / tempo
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo))
    instruments = {}
    for n in notes:
        if len(n) == 4:
            voice, pitch, onset, dur = n
        elif len(n) == 3:
            voice, (pitch, onset, dur) = None, n
        else:
            raise ParameterError(f"a note is (voice, pitch, onset, duration) or (pitch, onset, duration), got {n!r}")
        if not 0 <= int(pitch) <= 127:
            raise ParameterError(f"MIDI pitch must be in 0..127, got {pitch}")
        if voice not in instruments:
            label = "Piano" if voice is None else (VOICE_NAMES[voice] if 0 <= voice < 4 else f"Voice {voice}")
            instruments[voice] = pretty_midi.Instrument(program=program, name=label)
        instruments[voice].notes.append(pretty_midi.Note(
            velocity=velocity, pitch=int(pitch), start=float(onset) * sec, end=float(onset + dur) * sec))
    for key in sorted(instruments, key=lambda v: -1 if v is None else v):
        pm.instruments.append(instruments[key])
    path = Path(path)
    with atomic_write(path, "wb", suffix=".mid.tmp") as f:
        pm.write(f)
    return path


# --------------------------------------------------------------------------------------------
# 16th-note token streams


@dataclass(frozen=True)
class TokenVocabulary:
    """Tokens of the voice-serialised 16th-note stream of :func:`encode_tokens`.

    Layout of a stream (``V = num_voices``, default 4, soprano..bass)::

        BOS  STEP s0_v0 s0_v1 s0_v2 s0_v3  STEP s1_v0 ... s1_v3  ...  EOS

    one ``STEP`` plus ``V`` voice tokens per 16th note (``steps_per_quarter`` steps per
    quarter), so step ``t`` starts at token ``1 + t*(V+1)``. A voice token is

    * ``NOTE(p)`` (id ``NOTE_OFFSET + p - min_pitch``): a note of MIDI pitch ``p`` starts here
      (a re-struck pitch is a new ``NOTE(p)``),
    * ``HOLD``: the voice's current note keeps sounding through this step,
    * ``REST``: the voice is silent.

    Ids: PAD=0, BOS=1, EOS=2, STEP=3, HOLD=4, REST=5, NOTE(21..108)=6..93; ``size`` = 94.
    """

    min_pitch: int = MIN_PITCH
    max_pitch: int = MAX_PITCH
    num_voices: int = 4
    steps_per_quarter: int = 4

    PAD = 0
    BOS = 1
    EOS = 2
    STEP = 3
    HOLD = 4
    REST = 5
    NOTE_OFFSET = 6

    def __post_init__(self):
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ParameterError(f"need 0 <= min_pitch <= max_pitch <= 127, got {self.min_pitch}, {self.max_pitch}")
        if self.num_voices < 1 or self.steps_per_quarter < 1:
            raise ParameterError("num_voices and steps_per_quarter must be >= 1")

    @property
    def size(self) -> int:
        """Number of token ids (embedding / softmax size)."""
        return self.NOTE_OFFSET + self.max_pitch - self.min_pitch + 1

    def note(self, pitch: int) -> int:
        """Token id of NOTE(pitch)."""
        if not self.min_pitch <= pitch <= self.max_pitch:
            raise ParameterError(f"pitch {pitch} outside the token range {self.min_pitch}..{self.max_pitch}")
        return self.NOTE_OFFSET + int(pitch) - self.min_pitch

    def pitch(self, token: int) -> int | None:
        """MIDI pitch of a NOTE token, None for any other token."""
        token = int(token)
        return token - self.NOTE_OFFSET + self.min_pitch if self.NOTE_OFFSET <= token < self.size else None

    def token_name(self, token: int) -> str:
        """Readable name, e.g. ``"NOTE(60)"``, ``"HOLD"``."""
        p = self.pitch(token)
        if p is not None:
            return f"NOTE({p})"
        names = {self.PAD: "PAD", self.BOS: "BOS", self.EOS: "EOS", self.STEP: "STEP",
                 self.HOLD: "HOLD", self.REST: "REST"}
        if int(token) not in names:
            raise ParameterError(f"token id {token} outside 0..{self.size - 1}")
        return names[int(token)]


def _on_grid(x: float, steps_per_quarter: int) -> bool:
    y = x * steps_per_quarter
    return abs(y - round(y)) < _EPS


def off_grid_fraction(chorales, steps_per_quarter: int = 4) -> float:
    """Fraction of notes whose onset or duration is not a multiple of ``1/steps_per_quarter``.

    ``chorales`` is one Chorale, a list of Chorales, or a list of note 4-tuples.
    """
    if isinstance(chorales, Chorale):
        chorales = [chorales]
    chorales = list(chorales)
    if chorales and not isinstance(chorales[0], Chorale):
        notes = chorales
    else:
        notes = [n for c in chorales for n in c.notes]
    if not notes:
        return 0.0
    off = sum(1 for _, _, o, q in notes
              if not (_on_grid(o, steps_per_quarter) and _on_grid(q, steps_per_quarter)))
    return off / len(notes)


def encode_tokens(chorale, vocab: TokenVocabulary | None = None) -> list[int]:
    """Voice-serialised 16th-note token stream of a Chorale (or of note 4-tuples).

    See :class:`TokenVocabulary` for the layout. The stream has one step per 16th note up to
    ``length_quarters`` (for a Chorale; trailing rests included) or the last note's end.

    Exact for notes on the grid (onsets and durations multiples of a 16th) with one note at
    a time per voice: ``decode_tokens(encode_tokens(c)) == c.notes``. Otherwise:

    * onsets and ends are rounded to the nearest step; a note shorter than a step after
      rounding lasts one step;
    * when several notes of one voice start on the same step (a chord inside a part), only
      the highest is kept;
    * a note still sounding when the next note of its voice starts is cut there.

    Raises ParameterError for voices outside ``0..num_voices-1`` or pitches outside the
    vocabulary's range.
    """
    vocab = vocab or TokenVocabulary()
    notes, length = _as_notes(chorale)
    spq = vocab.steps_per_quarter
    per_voice = defaultdict(dict)  # voice -> start step -> (end step, pitch), highest pitch wins
    for v, p, o, q in notes:
        if not 0 <= v < vocab.num_voices:
            raise ParameterError(f"voice {v} outside 0..{vocab.num_voices - 1}")
        vocab.note(p)  # range check
        start = round(o * spq)
        end = max(round((o + q) * spq), start + 1)
        prev = per_voice[v].get(start)
        if prev is None or p > prev[1]:
            per_voice[v][start] = (end, p)
    steps = math.ceil((length or 0.0) * spq - _EPS)
    steps = max([steps] + [e for d in per_voice.values() for e, _ in d.values()])
    grid = np.full((steps, vocab.num_voices), vocab.REST, dtype=np.int64)
    for v, starts in per_voice.items():
        order = sorted(starts)
        for i, s in enumerate(order):
            end, p = starts[s]
            if i + 1 < len(order):
                end = min(end, order[i + 1])
            grid[s, v] = vocab.note(p)
            grid[s + 1:end, v] = vocab.HOLD
    body = np.concatenate([np.full((steps, 1), vocab.STEP, dtype=np.int64), grid], axis=1).ravel()
    return [vocab.BOS] + body.tolist() + [vocab.EOS]


def decode_tokens(tokens, vocab: TokenVocabulary | None = None, strict: bool = True) -> list[tuple]:
    """Notes ``(voice, pitch, onset_quarters, duration_quarters)`` of a token stream.

    Inverse of :func:`encode_tokens`; the notes are sorted like :attr:`Chorale.notes`.
    Decoding stops at the first EOS (a missing EOS is allowed, e.g. for a generation cut at a
    maximum length); trailing PAD tokens are ignored. With ``strict`` (default) a malformed
    stream raises ParameterError naming the token position (missing BOS, a non-STEP token
    where a step should start, a special token in a voice slot, HOLD with no sounding note,
    a truncated step). With ``strict=False`` such defects are repaired instead: HOLD without
    a note and unusable voice tokens become REST, a truncated last step is dropped.
    """
    vocab = vocab or TokenVocabulary()
    toks = [int(t) for t in tokens]
    while toks and toks[-1] == vocab.PAD:
        toks.pop()
    V, spq = vocab.num_voices, vocab.steps_per_quarter

    def bad(msg):
        if strict:
            raise ParameterError(msg)

    i = 0
    if toks and toks[0] == vocab.BOS:
        i = 1
    else:
        bad("token stream must start with BOS")
    current = [None] * V  # (pitch, start step) of the sounding note per voice
    notes = []

    def close(v, step):
        if current[v] is not None:
            p, s = current[v]
            notes.append((v, p, s / spq, (step - s) / spq))
            current[v] = None

    step = 0
    while i < len(toks) and toks[i] != vocab.EOS:
        if toks[i] != vocab.STEP:
            bad(f"position {i}: expected STEP or EOS, got {vocab.token_name(toks[i]) if 0 <= toks[i] < vocab.size else toks[i]}")
            i += 1
            continue
        if i + V >= len(toks) or any(t == vocab.EOS for t in toks[i + 1:i + 1 + V]):
            bad(f"position {i}: truncated step (needs STEP + {V} voice tokens)")
            break
        for v in range(V):
            t = toks[i + 1 + v]
            p = vocab.pitch(t)
            if p is not None:
                close(v, step)
                current[v] = (p, step)
            elif t == vocab.HOLD and current[v] is not None:
                pass
            elif t == vocab.REST:
                close(v, step)
            else:
                what = "HOLD with no sounding note" if t == vocab.HOLD else f"token {t} in a voice slot"
                bad(f"position {i + 1 + v}: {what} (voice {v}, step {step})")
                close(v, step)
        i += V + 1
        step += 1
    for v in range(V):
        close(v, step)
    return sorted(notes, key=_note_key)


# --------------------------------------------------------------------------------------------
# Splits


def melody_groups(chorales, similarity: float | None = 0.75, prefix: int = 12) -> list[list[str]]:
    """Names of chorales that share a melody, grouped; each group sorted, groups sorted.

    Two chorales are linked when their :attr:`Chorale.melody_signature` is equal, or (to
    catch reharmonisations whose soprano differs by a passing note, an ornament or a changed
    cadence) when the interval sequences are similar: ``difflib.SequenceMatcher`` ratio
    ``>= similarity`` or the first ``prefix`` intervals identical. Groups are the connected
    components of these links. ``similarity=None, prefix=0`` groups by exact signature only.
    On the music21 chorales the defaults put, e.g., all 11 settings of the Passion chorale
    (BWV 244.15, 270, 271, ...) in one group; the fuzzy links are checked by eye to be the
    same hymn tune. Chorales with an empty signature (no soprano notes) stay alone.
    """
    from difflib import SequenceMatcher

    chorales = sorted(chorales, key=lambda c: c.name)
    names = [c.name for c in chorales]
    parent = list(range(len(chorales)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        parent[find(i)] = find(j)

    first = {}
    for i, c in enumerate(chorales):
        if c.melody_signature:
            if c.melody_signature in first:
                union(i, first[c.melody_signature])
            else:
                first[c.melody_signature] = i
    reps = sorted(first.values())  # one chorale per distinct signature
    seqs = {i: chorales[i].melody_signature.split() for i in reps}
    if similarity is not None or prefix > 0:
        for a_pos, a in enumerate(reps):
            sm = SequenceMatcher(None, autojunk=False)
            sm.set_seq2(seqs[a])
            for b in reps[a_pos + 1:]:
                sa, sb = seqs[a], seqs[b]
                if prefix > 0 and len(sa) >= prefix and sa[:prefix] == sb[:prefix]:
                    union(a, b)
                    continue
                if similarity is None:
                    continue
                sm.set_seq1(sb)
                if sm.real_quick_ratio() >= similarity and sm.quick_ratio() >= similarity \
                        and sm.ratio() >= similarity:
                    union(a, b)
    groups = defaultdict(list)
    for i, n in enumerate(names):
        groups[find(i)].append(n)
    return sorted(sorted(g) for g in groups.values())


def split_chorales(chorales, seed: int = 0, fractions=(0.6, 0.2, 0.2), *,
                   similarity: float | None = 0.75, prefix: int = 12) -> dict[str, list[str]]:
    """Deterministic train/valid/test split of chorale names that never splits a melody group.

    Chorales sharing a soprano melody (exact duplicates and reharmonisations of one tune,
    see :func:`melody_groups` and its ``similarity`` / ``prefix`` arguments) form a group;
    whole groups go to one split.
    The groups are shuffled with ``random.Random(seed)`` (the result does not depend on the
    order of ``chorales``), then placed largest first, each into the split with the largest
    remaining shortfall against its target ``fraction * number of chorales``. Returns
    ``{"train": [...], "valid": [...], "test": [...]}`` with sorted names.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ParameterError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    chorales = list(chorales)
    names = Counter(c.name for c in chorales)
    dup = sorted(n for n, k in names.items() if k > 1)
    if dup:
        raise ParameterError(f"chorale names must be unique; repeated: {', '.join(dup[:10])}")
    groups = melody_groups(chorales, similarity=similarity, prefix=prefix)
    random.Random(seed).shuffle(groups)
    groups.sort(key=len, reverse=True)  # stable: the shuffle still orders groups of equal size
    total = len(chorales)
    targets = [f * total for f in fractions]
    out = {s: [] for s in SPLITS}
    for g in groups:
        open_ = [i for i in range(3) if fractions[i] > 0]
        best = max(open_, key=lambda i: (targets[i] - len(out[SPLITS[i]]), -i))
        out[SPLITS[best]].extend(g)
    return {s: sorted(v) for s, v in out.items()}


def write_split(split: dict, path) -> Path:
    """Write a split ``{"train": [...], "valid": [...], "test": [...]}`` as JSON, atomically."""
    _check_split(split, "split")
    path = Path(path)
    with atomic_write(path) as f:
        json.dump({s: list(split[s]) for s in SPLITS}, f, indent=1)
        f.write("\n")
    return path


def _check_split(split, where):
    if not isinstance(split, dict):
        raise ConfigError(f"{where}: expected a JSON object with keys {', '.join(SPLITS)}")
    missing = [s for s in SPLITS if s not in split]
    extra = sorted(set(split) - set(SPLITS))
    if missing or extra:
        raise ConfigError(f"{where}: expected keys {', '.join(SPLITS)}; missing {missing}, unknown {extra}")
    seen = {}
    for s in SPLITS:
        if not isinstance(split[s], list) or not all(isinstance(n, str) for n in split[s]):
            raise ConfigError(f"{where}: {s!r} must be a list of chorale names")
        for n in split[s]:
            if n in seen:
                raise ConfigError(f"{where}: {n!r} is in both {seen[n]!r} and {s!r}")
            seen[n] = s


def read_split(path) -> dict[str, list[str]]:
    """Read a split written by :func:`write_split`; ConfigError naming the file if malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"split file not found: {path}")
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    _check_split(split, str(path))
    return {s: list(split[s]) for s in SPLITS}


# --------------------------------------------------------------------------------------------
# Public JSB Chorales files and score folders


def split_rolls(cache_dir, split_path, progress: bool = True, representation: str = "roll") -> dict[str, list]:
    """The Bach chorales of a split file: ``{"train": [...], "valid": [...], "test": [...]}``.

    ``representation="roll"``: quarter-note piano rolls (:func:`piano_roll`); ``"tokens"``: the
    16th-note voice token streams (:func:`encode_tokens`). A chorale named in the split but
    missing from the corpus is a ConfigError naming the file.
    """
    convert = {"roll": piano_roll, "tokens": encode_tokens}.get(representation)
    if convert is None:
        raise ParameterError(f"representation must be 'roll' or 'tokens', got {representation!r}")
    chorales = {c.name: c for c in load_bach_chorales(cache_dir, progress=progress)}
    split = read_split(split_path)
    missing = [n for names in split.values() for n in names if n not in chorales]
    if missing:
        raise ConfigError(f"{split_path}: {len(missing)} chorale(s) not in the corpus, e.g. {missing[0]}")
    return {k: [convert(chorales[n]) for n in names] for k, names in split.items()}


def load_jsb(path) -> dict[str, list[np.ndarray]]:
    """Load the public JSB Chorales benchmark as quarter-note piano rolls.

    Returns ``{"train": [...], "valid": [...], "test": [...]}``, each a list of bool arrays
    ``[frames, 88]`` (column ``k`` = MIDI ``21 + k``). Two formats, chosen by extension:

    * ``.json``: ``{"train": [piece, ...], "valid": ..., "test": ...}``, a piece being a list
      of frames and a frame a list of sounding MIDI numbers (``[]`` = silence), e.g.
      ``[[60, 64, 67, 72], [62, 65, 69, 74], ...]``. Integral floats (``60.0``) are accepted.
    * ``.mat`` (Boulanger-Lewandowski et al. 2012): keys ``traindata``, ``validdata``,
      ``testdata``, each an object (cell) array of pieces, a piece a 0/1 array
      ``[frames, 88]`` over MIDI 21..108. A numeric array ``[pieces, frames, 88]`` also works.

    Raises SpeechLSTMError naming the file, and the piece and frame, when the file does not
    match the format.
    """
    path = Path(path)
    if not path.is_file():
        raise SpeechLSTMError(f"JSB file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_jsb_json(path)
    if suffix == ".mat":
        return _load_jsb_mat(path)
    raise SpeechLSTMError(f"{path}: unknown JSB format {suffix!r}; expected a .json or .mat file")


def _load_jsb_json(path: Path):
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SpeechLSTMError(f"{path}: not valid JSON ({e}); expected {{\"train\": [...], \"valid\": "
                              f"[...], \"test\": [...]}} of pieces as lists of frames of MIDI numbers") from e
    if not isinstance(doc, dict) or any(s not in doc for s in SPLITS):
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise SpeechLSTMError(f"{path}: expected a JSON object with keys train, valid, test; got {got}")
    out = {}
    for s in SPLITS:
        pieces = doc[s]
        if not isinstance(pieces, list):
            raise SpeechLSTMError(f"{path}: {s!r} must be a list of pieces, got {type(pieces).__name__}")
        rolls = []
        for i, piece in enumerate(pieces):
            if not isinstance(piece, list):
                raise SpeechLSTMError(f"{path}: {s}[{i}] must be a list of frames, got {type(piece).__name__}")
            roll = np.zeros((len(piece), NUM_KEYS), dtype=bool)
            for t, frame in enumerate(piece):
                if not isinstance(frame, list):
                    raise SpeechLSTMError(f"{path}: {s}[{i}][{t}] must be a list of MIDI numbers, "
                                          f"got {type(frame).__name__}")
                for x in frame:
                    ok = (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                          and x == int(x) and MIN_PITCH <= x <= MAX_PITCH)
                    if not ok:
                        raise SpeechLSTMError(f"{path}: {s}[{i}][{t}]: expected MIDI numbers "
                                              f"{MIN_PITCH}..{MAX_PITCH}, got {x!r}")
                    roll[t, int(x) - MIN_PITCH] = True
            rolls.append(roll)
        out[s] = rolls
    return out


def _load_jsb_mat(path: Path):
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # noqa: BLE001 - scipy raises several types for non-MAT files
        raise SpeechLSTMError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from e
    keys = {"train": "traindata", "valid": "validdata", "test": "testdata"}
    missing = [k for k in keys.values() if k not in mat]
    if missing:
        have = sorted(k for k in mat if not k.startswith("__"))
        raise SpeechLSTMError(f"{path}: missing key(s) {', '.join(missing)}; expected traindata, validdata, "
                              f"testdata (Boulanger-Lewandowski format), found {have}")
    out = {}
    for s, k in keys.items():
        arr = mat[k]
        if arr.dtype == object:
            pieces = list(arr.ravel())
        elif arr.ndim == 3:
            pieces = list(arr)
        else:
            raise SpeechLSTMError(f"{path}: {k} must be a cell array of [frames, {NUM_KEYS}] pieces, "
                                  f"got a {arr.dtype} array of shape {arr.shape}")
        rolls = []
        for i, piece in enumerate(pieces):
            piece = np.asarray(piece)
            if piece.ndim != 2 or piece.shape[1] != NUM_KEYS or piece.dtype == object:
                raise SpeechLSTMError(f"{path}: {k}[{i}]: expected a [frames, {NUM_KEYS}] 0/1 array, "
                                      f"got shape {piece.shape} ({piece.dtype})")
            if not np.isin(piece, (0, 1)).all():
                raise SpeechLSTMError(f"{path}: {k}[{i}]: values must be 0 or 1")
            rolls.append(piece.astype(bool))
        out[s] = rolls
    return out


def load_score_folder(folder, transpose: bool = False, progress: bool = False) -> list[Chorale]:
    """Parse every score file directly in ``folder`` into :class:`Chorale` objects.

    Files ending in .mid, .midi, .musicxml, .mxl or .xml are parsed with music21 (other files
    are ignored); each part becomes a voice (``voice`` = part index, any number of parts).
    ``transpose=True`` moves each score to tonic C like the Bach corpus, otherwise pitches
    are kept (``transposed_by == 0``). Names are file stems (the full file name when two
    files share a stem). Sorted by name.

    Raises SpeechLSTMError for a missing folder, a folder without score files, or a file that
    music21 cannot parse or that holds no pitched notes (the message names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpeechLSTMError(f"score folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SCORE_SUFFIXES)
    if not files:
        raise SpeechLSTMError(f"{folder}: no score files; expected {', '.join(SCORE_SUFFIXES)}")
    stems = Counter(p.stem for p in files)
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="parsing scores", unit="file")
    out = []
    for p in files:
        name = p.stem if stems[p.stem] == 1 else p.name
        try:
            score = parse_score_file(p)
            out.append(score_to_chorale(score, name, transpose=transpose))
        except Exception as e:  # noqa: BLE001 - music21 raises many exception types
            raise SpeechLSTMError(f"{p}: cannot read as a score ({type(e).__name__}: {e}); expected a "
                                  f"MIDI or MusicXML file with pitched notes") from e
    return sorted(out, key=lambda c: c.name)
