"""Generated music out: MIDI (pretty_midi), MusicXML (music21), a WAV from a small additive
synthesizer, and a piano-roll PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speech_lstm.audio import write_audio
from speech_lstm.errors import ParameterError
from speech_lstm.music.corpus import notes_to_midi, roll_to_notes

__all__ = ["render_notes", "render_roll", "synthesize_notes", "notes_to_musicxml"]


def synthesize_notes(notes, tempo: float = 80.0, sample_rate: int = 22050) -> np.ndarray:
    """(pitch, onset, duration) notes in quarters -> float32 mono audio: each note a few
    decaying harmonics with a short attack and release (an organ-like tone, enough to listen)."""
    sec = 60.0 / tempo
    end = max((o + d for _, o, d in notes), default=0.0) * sec + 0.5
    out = np.zeros(int(end * sample_rate) + 1, np.float32)
    for pitch, onset, dur in notes:
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        n = int(dur * sec * sample_rate)
        t = np.arange(n) / sample_rate
        tone = sum(a * np.sin(2 * np.pi * f0 * h * t) for h, a in ((1, 1.0), (2, 0.4), (3, 0.2), (4, 0.1)))
        env = np.minimum(1.0, t / 0.02) * np.minimum(1.0, (n - np.arange(n)) / (0.05 * sample_rate + 1))
        start = int(onset * sec * sample_rate)
        out[start: start + n] += (tone * env).astype(np.float32)[: len(out) - start]
    peak = float(np.abs(out).max()) if out.size else 0.0
    return out * (0.8 / peak) if peak > 0 else out


def notes_to_musicxml(notes, path) -> Path:
    """Notes -> a MusicXML score: (pitch, onset, duration) notes on one staff (music21 chords
    per onset), or (voice, pitch, onset, duration) notes with one part per voice."""
    import music21

    voiced = bool(notes) and len(notes[0]) == 4
    parts = {}
    for n in notes:
        v, pitch, onset, dur = n if voiced else (0, *n)
        parts.setdefault(v, {}).setdefault((onset, dur), []).append(int(pitch))
    score = music21.stream.Score()
    for v in sorted(parts) or [0]:
        part = music21.stream.Part()
        if voiced and v < 4:
            part.partName = ("Soprano", "Alto", "Tenor", "Bass")[v]
        for (onset, dur), pitches in sorted(parts.get(v, {}).items()):
            part.insert(onset, music21.chord.Chord(sorted(pitches), quarterLength=dur) if len(pitches) > 1
                        else music21.note.Note(pitches[0], quarterLength=dur))
        score.insert(0, part)
    path = Path(path)
    score.write("musicxml", fp=str(path))
    return path


def render_notes(notes, stem, tempo: float = 80.0, title: str = "generated", primer_quarters: float = 0.0) -> dict:
    """Write ``stem``.mid (one track per voice), .musicxml (one part per voice), .wav and .png
    for (voice, pitch, onset, duration) notes in quarters; returns the paths."""
    from speech_lstm.plots import plot_voices

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"midi": notes_to_midi(notes, stem.with_suffix(".mid"), tempo=tempo),
             "musicxml": notes_to_musicxml(notes, stem.with_suffix(".musicxml"))}
    write_audio(stem.with_suffix(".wav"), synthesize_notes([n[1:] for n in notes], tempo), 22050)
    paths["wav"] = stem.with_suffix(".wav")
    paths["png"] = plot_voices(notes, stem.with_suffix(".png"), title=title, primer_quarters=primer_quarters)
    return paths


def render_roll(roll: np.ndarray, stem, tempo: float = 80.0, title: str = "generated", primer_frames: int = 0) -> dict:
    """Write ``stem``.mid, .musicxml, .wav and .png for a quarter-note piano roll; returns the paths."""
    from speech_lstm.plots import plot_piano_roll

    roll = np.asarray(roll, bool)
    if roll.ndim != 2 or roll.shape[1] != 88:
        raise ParameterError(f"roll must be [frames, 88], got shape {roll.shape}")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    notes = roll_to_notes(roll)
    paths = {"midi": notes_to_midi(notes, stem.with_suffix(".mid"), tempo=tempo),
             "musicxml": notes_to_musicxml(notes, stem.with_suffix(".musicxml"))}
    write_audio(stem.with_suffix(".wav"), synthesize_notes(notes, tempo), 22050)
    paths["wav"] = stem.with_suffix(".wav")
    paths["png"] = plot_piano_roll(roll, stem.with_suffix(".png"), title=title, primer_frames=primer_frames)
    return paths
