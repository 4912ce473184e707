"""A long spoken-digits recording with word timings, for testing long-audio transcription.

``python data_scripts/make_long_recording.py --out /tmp/long30.wav --minutes 30 --seed 0``

Digit strings of 1-7 words ("zero", "oh", "one" ... "nine") are spoken by eSpeak NG with the
``en-us`` accent and a random voice variant, rate, pitch and pitch range (the ranges of
:class:`speech_lstm.data.synth.CorpusSpec`), resampled to ``sample_rate`` and joined by
random pauses of digital silence (levels are eSpeak NG's own, scaled down only where
resampling would overshoot full scale).  The WAV (16-bit mono) is written utterance by utterance,
so memory stays small for hours of audio; its length is exactly ``minutes``.

Next to it, ``<stem>.words.json`` holds ``{"sample_rate", "duration", "words": [{"word",
"start", "end"}], "utterances": [...]}``; a word starts at its eSpeak NG word event (for a
stop such as the /t/ of "two", the start of its silent closure) and ends where the next word
of its utterance starts, or, for an utterance's last word, at its last non-silent sample.
Everything is deterministic from the seed (eSpeak NG's noise generator, used by the breathy and
whispered variants, is seeded for each utterance).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from speech_lstm.audio import resample
from speech_lstm.data.espeak import ESpeak, voice_variants
from speech_lstm.data.synth import CorpusSpec, random_digit_string
from speech_lstm.errors import ParameterError, SynthesisError

__all__ = ["build_long_recording", "words_json_path", "render_utterance", "plan_utterance"]

ACCENT = "en-us"
# A sample is "non-silent" above this fraction of the utterance's peak (-40 dB).
SILENCE_FRACTION = 0.01
# eSpeak NG often peaks at full scale and resampling overshoots it: such utterances are scaled to this peak.
MAX_PEAK = 0.99
# libsndfile's WAV stops at 4 GiB; beyond that the file is written as RF64.
_WAV_LIMIT_BYTES = 2**32 - 2**20


def plan_utterance(rng: np.random.Generator, variants: list[str], spec: CorpusSpec) -> dict:
    """Random text, voice and prosody for one utterance."""
    variant = variants[int(rng.integers(len(variants)))]
    return {
        "text": random_digit_string(rng, spec.min_words, spec.max_words, spec.oh_prob),
        "voice": ACCENT + (f"+{variant}" if variant else ""),
        "rate": int(rng.integers(spec.rate[0], spec.rate[1] + 1)),
        "pitch": int(rng.integers(spec.pitch[0], spec.pitch[1] + 1)),
        "range": int(rng.integers(spec.pitch_range[0], spec.pitch_range[1] + 1)),
        "noise_seed": int(rng.integers(2**31)),
    }


def render_utterance(engine: ESpeak, job: dict, sample_rate: int) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Speak ``job``: float32 audio at ``sample_rate`` and ``(word, start, end)`` in samples of it."""
    engine.set_voice(job["voice"])
    engine.set_params(rate=job["rate"], pitch=job["pitch"], range=job["range"])
    engine.set_random_seed(job["noise_seed"])
    pcm, events = engine.synthesize_with_words(job["text"])
    wav = resample(pcm.astype(np.float32) / 32768.0, engine.sample_rate, sample_rate)
    peak = float(np.max(np.abs(wav), initial=0.0))
    if peak > MAX_PEAK:
        wav *= MAX_PEAK / peak
    text = job["text"]
    names = [text[pos - 1 : pos - 1 + length] for pos, length, _ in events]
    if names != text.split():
        raise SynthesisError(f"eSpeak NG word events {names} do not match the text {text!r} (voice {job['voice']})")
    # Seconds are kept by resampling; only the sample index changes.
    starts = [min(int(round(t * sample_rate)), len(wav) - 1) for _, _, t in events]
    ends = starts[1:] + [last_sound(wav)]
    return wav, [(name, s, max(e, s + 1)) for name, s, e in zip(names, starts, ends)]


def last_sound(wav: np.ndarray) -> int:
    """One past the last sample above :data:`SILENCE_FRACTION` of the peak (0 for silence)."""
    level = np.abs(wav)
    loud = np.nonzero(level > SILENCE_FRACTION * float(level.max(initial=0.0)))[0]
    return int(loud[-1]) + 1 if loud.size else 0


def _check(minutes: float, sample_rate: int, pause) -> None:
    if not minutes > 0:
        raise ParameterError(f"minutes must be > 0, got {minutes}")
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be > 0, got {sample_rate}")
    if len(pause) != 2 or not 0 <= pause[0] <= pause[1]:
        raise ParameterError(f"pause must be (min, max) seconds with 0 <= min <= max, got {pause}")


def words_json_path(out_wav) -> Path:
    """``<folder>/<stem>.words.json`` next to the WAV."""
    out_wav = Path(out_wav)
    return out_wav.with_name(f"{out_wav.stem}.words.json")


def build_long_recording(out_wav, minutes: float, seed: int, sample_rate: int = 16000,
                         pause: tuple = (0.4, 1.5), progress: bool = True) -> dict:
    """Write ``out_wav`` (``minutes`` long) and its ``.words.json``; returns the JSON's content.

    Each utterance is preceded by a pause drawn uniformly from ``pause`` (seconds); the
    recording ends in silence once the next utterance would not fit.
    """
    _check(minutes, sample_rate, pause)
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    total = int(round(minutes * 60 * sample_rate))
    rng = np.random.default_rng(seed)
    spec = CorpusSpec()
    variants = [""] + voice_variants()
    engine = ESpeak()
    words, utterances = [], []
    offset = 0
    partial = out_wav.with_name(out_wav.name + ".partial")
    file_format = "RF64" if 2 * total > _WAV_LIMIT_BYTES else "WAV"
    try:
        with sf.SoundFile(str(partial), "w", samplerate=sample_rate, channels=1, subtype="PCM_16",
                          format=file_format) as f, \
                tqdm(total=round(total / sample_rate), unit="s", desc=out_wav.name, disable=None if progress else True) as bar:
            while True:
                gap = int(round(rng.uniform(*pause) * sample_rate))
                job = plan_utterance(rng, variants, spec)
                wav, timed = render_utterance(engine, job, sample_rate)
                if offset + gap + len(wav) > total:
                    break
                f.write(np.zeros(gap, np.float32))
                f.write(wav)
                start = offset + gap
                words.extend({"word": w, "start": round((start + s) / sample_rate, 4),
                              "end": round((start + e) / sample_rate, 4)} for w, s, e in timed)
                utterances.append({"start": round(start / sample_rate, 4),
                                   "end": round((start + len(wav)) / sample_rate, 4), **job})
                bar.update(round((start + len(wav)) / sample_rate) - bar.n)
                offset = start + len(wav)
            f.write(np.zeros(total - offset, np.float32))
            bar.update(bar.total - bar.n)
        os.replace(partial, out_wav)
    finally:
        partial.unlink(missing_ok=True)
    doc = {"sample_rate": sample_rate, "duration": round(total / sample_rate, 4), "seed": seed,
           "words": words, "utterances": utterances}
    _write_json(words_json_path(out_wav), doc)
    return doc


def _write_json(path: Path, doc: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(doc, indent=1))
    os.replace(partial, path)
