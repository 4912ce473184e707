"""Debian's ``flite`` (CMU Flite) as an out-of-domain speech engine, for dev sets only.

The project trains on eSpeak NG alone; flite's voices (diphone ``kal``/``kal16``, clustergen
``awb``/``rms``/``slt``) sound nothing like it, so a model's WER on flite speech says how well
it generalises beyond its training synthesizer. Never train on it.

flite is a system program (``apt-get install flite`` on Debian/Ubuntu; ``make flite`` runs that
when it can); :func:`flite_binary` says clearly when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from speech_lstm.audio import resample
from speech_lstm.errors import SynthesisError

__all__ = ["FLITE_VOICES", "flite_binary", "flite_voices", "synthesize_flite"]

# General-purpose English voices of Debian's flite 2.2 (``awb_time`` only speaks clock times).
FLITE_VOICES = ("awb", "kal", "kal16", "rms", "slt")
_INSTALL_HINT = ("flite is not installed: on Debian/Ubuntu run `sudo apt-get install flite` (or `make flite`); "
                 "it is only needed for the out-of-domain dev set")


def flite_binary() -> str:
    """Path of the ``flite`` program (``$FLITE`` or on PATH); SynthesisError with the install hint if absent."""
    path = os.environ.get("FLITE") or shutil.which("flite")
    if not path:
        raise SynthesisError(_INSTALL_HINT)
    return path


def flite_voices() -> list[str]:
    """The general-purpose voices this flite offers (``flite -lv`` intersected with :data:`FLITE_VOICES`)."""
    out = subprocess.run([flite_binary(), "-lv"], capture_output=True, text=True, timeout=30).stdout
    listed = set(out.replace("Voices available:", "").split())
    return [v for v in FLITE_VOICES if v in listed]


def synthesize_flite(text: str, voice: str, sample_rate: int = 16000, duration_stretch: float = 1.0,
                     f0_mean: float | None = None) -> np.ndarray:
    """Speak ``text`` with flite ``voice``: float32 [samples] at ``sample_rate``.

    duration_stretch: > 1 speaks slower.  f0_mean: target mean pitch in Hz (voice default if None).
    """
    if voice not in FLITE_VOICES:
        raise SynthesisError(f"unknown flite voice {voice!r}; expected one of {', '.join(FLITE_VOICES)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wav")
        cmd = [flite_binary(), "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.3f}"]
        if f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0_mean:.1f}"]
        r = subprocess.run(cmd + ["-t", text, "-o", out], capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not os.path.exists(out):
            raise SynthesisError(f"flite failed for {text!r} with voice {voice}: {r.stderr.strip()[-300:]}")
        audio, sr = sf.read(out, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if audio.size == 0 or not np.abs(audio).max() > 0:
        raise SynthesisError(f"flite produced no audio for {text!r} with voice {voice}")
    return resample(audio, sr, sample_rate)
