"""Augmentation, deterministic under a seed: waveform effects for domain randomization (to
train on eSpeak NG and still understand other voices and channels) and SpecAugment on features.

Waveform functions take and return float32 mono [samples]; those with a random choice take a
``numpy.random.Generator``. DSP comes from maintained libraries: pedalboard (Spotify) for
equalizer filters and the GSM codec, scipy for Butterworth band limits, soxr for resampling,
librosa for mu-law and time stretching. :func:`random_channel` draws a whole chain.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from speech_lstm.audio import resample
from speech_lstm.errors import ParameterError

__all__ = ["ChannelSpec", "babble_noise", "band_limit", "colored_noise", "formant_scale", "gsm_codec", "mix_at_snr",
           "mu_law", "random_channel", "random_eq", "spec_augment", "spectral_tilt", "telephone"]


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so that 10*log10(P_speech / P_noise) = ``snr_db`` (powers
    over the whole utterance). A longer noise is cut at a random offset, a shorter one tiled."""
    speech = np.asarray(speech, np.float32)
    noise = np.asarray(noise, np.float32)
    if noise.size == 0 or _power(noise) == 0:
        raise ParameterError("noise is empty or silent")
    if len(noise) < len(speech):
        noise = np.tile(noise, int(np.ceil(len(speech) / len(noise))))
    start = int((rng or np.random.default_rng(0)).integers(0, len(noise) - len(speech) + 1))
    noise = noise[start: start + len(speech)]
    gain = np.sqrt(_power(speech) / (_power(noise) * 10 ** (snr_db / 10)))
    return (speech + gain * noise).astype(np.float32)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f^beta: white (0), pink (1) or brown (2)."""
    beta = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(color)
    if beta is None:
        raise ParameterError(f"noise color must be white, pink or brown, got {color!r}")
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    x = np.fft.irfft(spectrum / f ** (beta / 2), n)
    x -= x.mean()
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def babble_noise(n: int, sample_rate: int, rng: np.random.Generator, talkers: int = 6, voices=None,
                 words: int = 12) -> np.ndarray:
    """Unit-RMS babble: ``talkers`` eSpeak NG voices (random accents and variants, or ``voices``)
    each reading random common English words (wordfreq's list), summed with random offsets.
    The draws follow ``rng``, but eSpeak NG's audio itself varies by a few samples from call to
    call, so babble is not bit-reproducible; keep a generated bank (a WAV) where that matters."""
    from wordfreq import top_n_list

    from speech_lstm.data.espeak import ESpeak, english_accents, voice_variants

    vocab = [w for w in top_n_list("en", 2000) if w.isalpha()]
    accents, variants = english_accents(), voice_variants()
    engine = ESpeak()
    out = np.zeros(n, np.float32)
    for _ in range(talkers):
        voice = (voices[int(rng.integers(len(voices)))] if voices else
                 f"{accents[int(rng.integers(len(accents)))]}+{variants[int(rng.integers(len(variants)))]}")
        engine.set_voice(voice)
        engine.set_params(rate=int(rng.integers(140, 220)), pitch=int(rng.integers(20, 80)), range=50)
        engine.set_random_seed(int(rng.integers(2**31)))
        talker = np.zeros(0, np.float32)
        while len(talker) < n:
            text = " ".join(vocab[int(i)] for i in rng.integers(0, len(vocab), words))
            pcm = engine.synthesize(text).astype(np.float32) / 32768.0
            talker = np.concatenate([talker, resample(pcm, engine.sample_rate, sample_rate)])
        start = int(rng.integers(0, len(talker) - n + 1))
        piece = talker[start: start + n]
        out += piece / (np.sqrt(_power(piece)) + 1e-9)
    return out / (np.sqrt(_power(out)) + 1e-9)


def band_limit(wav: np.ndarray, sample_rate: int, low_hz: float | None = None, high_hz: float | None = None,
               order: int = 8) -> np.ndarray:
    """Butterworth band limits (scipy, zero phase): remove energy below ``low_hz`` and above ``high_hz``."""
    from scipy.signal import butter, sosfiltfilt

    nyq = sample_rate / 2
    if high_hz is not None and not 0 < high_hz < nyq or low_hz is not None and not 0 < low_hz < nyq:
        raise ParameterError(f"band limits must lie in (0, {nyq}) Hz, got {low_hz}, {high_hz}")
    out = np.asarray(wav, np.float64)
    if high_hz is not None:
        out = sosfiltfilt(butter(order, high_hz, "lowpass", fs=sample_rate, output="sos"), out)
    if low_hz is not None:
        out = sosfiltfilt(butter(order // 2, low_hz, "highpass", fs=sample_rate, output="sos"), out)
    return out.astype(np.float32)


def mu_law(wav: np.ndarray, mu: int = 255) -> np.ndarray:
    """8-bit mu-law companding and back (librosa), as on a G.711 telephone line."""
    import librosa

    peak = float(np.max(np.abs(wav))) or 1.0
    q = librosa.mu_compress(np.clip(wav / peak, -1, 1), mu=mu, quantize=True)
    return (librosa.mu_expand(q, mu=mu, quantize=True) * peak).astype(np.float32)


def gsm_codec(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """The GSM 06.10 full-rate codec (pedalboard), as on a 2G mobile call (8 kHz inside)."""
    from pedalboard import GSMFullRateCompressor

    peak = float(np.max(np.abs(wav))) or 1.0
    out = GSMFullRateCompressor()(np.asarray(wav / peak, np.float32)[None], sample_rate)[0]
    return (out * peak).astype(np.float32)


def telephone(wav: np.ndarray, sample_rate: int, codec: str = "mulaw") -> np.ndarray:
    """A telephone channel: 300-3400 Hz band, 8 kHz sampling, then ``codec`` (mulaw | gsm | none),
    back at ``sample_rate``."""
    narrow = resample(band_limit(wav, sample_rate, 300.0, 3400.0), sample_rate, 8000)
    if codec == "mulaw":
        narrow = mu_law(narrow)
    elif codec == "gsm":
        narrow = gsm_codec(narrow, 8000)
    elif codec != "none":
        raise ParameterError(f"telephone codec must be mulaw, gsm or none, got {codec!r}")
    return resample(narrow, 8000, sample_rate)[: len(wav)]


def random_eq(wav: np.ndarray, sample_rate: int, rng: np.random.Generator, bands: int = 3,
              max_gain_db: float = 9.0) -> np.ndarray:
    """``bands`` peaking filters (pedalboard) at log-uniform 150-6000 Hz, gains within
    +-``max_gain_db``, Q 0.7-2: a random microphone / room colouring."""
    from pedalboard import Pedalboard, PeakFilter

    top = min(6000.0, 0.45 * sample_rate)
    board = Pedalboard([PeakFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(150), np.log(top)))),
                                   gain_db=float(rng.uniform(-max_gain_db, max_gain_db)), q=float(rng.uniform(0.7, 2.0)))
                        for _ in range(bands)])
    return board(np.asarray(wav, np.float32)[None], sample_rate)[0].astype(np.float32)


def spectral_tilt(wav: np.ndarray, sample_rate: int, gain_db: float, cutoff_hz: float = 1000.0) -> np.ndarray:
    """Tilt the spectrum: a high shelf of ``gain_db`` above ``cutoff_hz`` and the opposite low
    shelf below it (pedalboard), so > 0 brightens and < 0 darkens the voice."""
    from pedalboard import HighShelfFilter, LowShelfFilter, Pedalboard

    board = Pedalboard([HighShelfFilter(cutoff_frequency_hz=cutoff_hz, gain_db=gain_db / 2),
                        LowShelfFilter(cutoff_frequency_hz=cutoff_hz, gain_db=-gain_db / 2)])
    return board(np.asarray(wav, np.float32)[None], sample_rate)[0].astype(np.float32)


def formant_scale(wav: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Vocal-tract length perturbation in the waveform: every frequency (formants and pitch) times
    ``factor`` by resampling, then the original duration restored with librosa's phase-vocoder
    time stretch, so the speaking rate is unchanged (unlike plain speed perturbation)."""
    import librosa

    if not 0.5 <= factor <= 2.0:
        raise ParameterError(f"formant scale factor must be in [0.5, 2], got {factor}")
    shifted = resample(np.asarray(wav, np.float32), int(round(sample_rate * factor)), sample_rate)
    out = librosa.effects.time_stretch(shifted, rate=len(shifted) / len(wav))
    return np.pad(out, (0, max(0, len(wav) - len(out))))[: len(wav)].astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
    """Probabilities and ranges of :func:`random_channel`'s effects (each drawn independently)."""

    formant_prob: float = 0.5
    formant: tuple = (0.85, 1.18)
    tilt_prob: float = 0.5
    tilt_db: tuple = (-12.0, 12.0)
    eq_prob: float = 0.5
    lowpass_prob: float = 0.2
    lowpass_hz: tuple = (2800.0, 7000.0)
    telephone_prob: float = 0.15
    noise_prob: float = 0.5
    noise_snr_db: tuple = (5.0, 30.0)
    babble_share: float = 0.5
    babble_talkers: tuple = (4, 4)

    def __post_init__(self):
        for f in dataclasses.fields(self):  # ranges read back from JSON / YAML come as lists
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        probs = (self.formant_prob, self.tilt_prob, self.eq_prob, self.lowpass_prob, self.telephone_prob,
                 self.noise_prob, self.babble_share)
        if not all(0 <= p <= 1 for p in probs):
            raise ParameterError(f"channel probabilities must be in [0, 1]: {self}")
        if not 1 <= self.babble_talkers[0] <= self.babble_talkers[1]:
            raise ParameterError(f"babble_talkers must be a range (low, high) with 1 <= low <= high: {self}")


def random_channel(wav: np.ndarray, sample_rate: int, rng: np.random.Generator, spec: ChannelSpec = ChannelSpec(),
                   babble=None) -> tuple[np.ndarray, dict]:
    """One random draw of the channel effects; returns (audio, what was applied).

    Order: vocal tract (formant scaling), colouring (tilt, EQ), band (low-pass or telephone
    with a codec), then additive noise (babble when ``babble`` is given: a noise source
    [samples] or a function of the length returning one; else white/pink/brown) at a random SNR.
    """
    applied = {}
    out = np.asarray(wav, np.float32)
    if rng.random() < spec.formant_prob:
        applied["formant"] = round(float(rng.uniform(*spec.formant)), 3)
        out = formant_scale(out, sample_rate, applied["formant"])
    if rng.random() < spec.tilt_prob:
        applied["tilt_db"] = round(float(rng.uniform(*spec.tilt_db)), 1)
        out = spectral_tilt(out, sample_rate, applied["tilt_db"])
    if rng.random() < spec.eq_prob:
        applied["eq"] = True
        out = random_eq(out, sample_rate, rng)
    if rng.random() < spec.telephone_prob:
        applied["telephone"] = ("mulaw", "gsm", "none")[int(rng.integers(3))]
        out = telephone(out, sample_rate, applied["telephone"])
    elif rng.random() < spec.lowpass_prob:
        applied["lowpass_hz"] = round(float(rng.uniform(*spec.lowpass_hz)))
        out = band_limit(out, sample_rate, high_hz=applied["lowpass_hz"])
    if rng.random() < spec.noise_prob:
        snr = float(rng.uniform(*spec.noise_snr_db))
        if babble is not None and rng.random() < spec.babble_share:
            applied["noise"] = "babble"
            noise = babble(len(out)) if callable(babble) else babble
        else:
            applied["noise"] = ("white", "pink", "brown")[int(rng.integers(3))]
            noise = colored_noise(len(out), applied["noise"], rng)
        applied["snr_db"] = round(snr, 1)
        out = mix_at_snr(out, noise, snr, rng)
    return out.astype(np.float32), applied


def spec_augment(
    features: np.ndarray,
    rng: np.random.Generator,
    freq_masks: int = 2,
    freq_width: int = 5,
    time_masks: int = 2,
    time_width: float = 0.05,
) -> np.ndarray:
    """SpecAugment masks on normalised features [frames, dim] (masked values set to 0 = mean).

    freq_width: max coefficients per frequency mask (applied to the same band of every
    delta block).  time_width: max fraction of the frames per time mask.
    Returns a new array; the input is not modified.
    """
    out = features.copy()
    frames, dim = out.shape
    for _ in range(freq_masks):
        w = int(rng.integers(0, freq_width + 1))
        if w:
            f0 = int(rng.integers(0, max(1, dim - w)))
            out[:, f0 : f0 + w] = 0.0
    max_t = max(1, int(frames * time_width))
    for _ in range(time_masks):
        w = int(rng.integers(0, max_t + 1))
        if w and frames > w:
            t0 = int(rng.integers(0, frames - w))
            out[t0 : t0 + w, :] = 0.0
    return out
