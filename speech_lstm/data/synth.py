"""Synthesized speech corpora from eSpeak NG, split by voice: connected digits or English sentences.

A *voice* is an eSpeak NG voice variant (timbre: formants, pitch, breathiness, Klatt or
not); each utterance also gets a random English accent, rate, pitch and pitch range. Voices
are partitioned into train/dev/test, so the test split holds only voices never heard in
training. Output: 16 kHz WAVs and JSONL manifests; everything is deterministic from the seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve
from tqdm.auto import tqdm

from speech_lstm.audio import resample, write_audio
from speech_lstm.data.augment import ChannelSpec, babble_noise, random_channel
from speech_lstm.data.espeak import MAX_RANDOM_VARIANTS, ESpeak, english_accents, voice_bank, voice_variants
from speech_lstm.data.manifest import write_manifest
from speech_lstm.data.flite import FLITE_VOICES
from speech_lstm.errors import ParameterError, SynthesisError

__all__ = ["CorpusSpec", "corpus_is_current", "map_jobs", "report_crashes", "noisy_copy", "synthesize_corpus",
           "synthesize_flite_set", "random_digit_string", "split_voices", "text_source", "DIGIT_WORDS", "TEXT_KINDS"]

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPLITS = ("train", "dev", "test")
TEXT_KINDS = ("digits", "sentences")


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
    """What to synthesize.  text: ``"digits"`` (connected digit strings, ``min_words..max_words``
    digits each, 0 read as "oh" with ``oh_prob``) or ``"sentences"`` (English over the
    ``vocab_size`` most frequent words, with numbers, dates and times:
    :class:`speech_lstm.data.sentences.SentenceText`; ``min_words..max_words`` bound its plain
    word runs).  num_*: utterances per split.

    dev_voices / test_voices: fraction of the voice variants held out for each split.
    noise_prob: chance of a low-level noise floor (SNR uniform in snr_db) instead of digital silence.
    speed_prob / speed: training utterances only: chance and range of speed perturbation
    (resampling, which shifts tempo, pitch and formants together, as a different vocal tract
    would), to multiply the timbres beyond eSpeak NG's own voices.  echo_prob / reverb_prob:
    training utterances only: chance of a single echo (5-40 ms, gain 0.2-0.7) and of room
    reverberation (synthetic exponentially decaying impulse response, RT60 0.1-0.5 s).
    channel_prob: training utterances only: chance of a random channel from
    :func:`speech_lstm.data.augment.random_channel` (vocal-tract scaling, spectral tilt, EQ,
    low-pass or telephone band with a codec, babble or coloured noise), with ``channel``'s
    probabilities. Dev and test stay unperturbed.  pause_prob: training utterances only: chance
    that the text eSpeak NG reads is phrased (commas between some digits, a full stop or a question
    mark at the end), for the pauses and list intonation of people reading digits out; the
    transcript is unchanged.  random_voices / random_voice_prob: a bank of that many random
    eSpeak NG voice variants (:func:`speech_lstm.data.espeak.voice_bank`, made in the corpus
    folder), and the chance that a training utterance is read by one of them instead of one of
    the shipped variants; dev and test keep their held-out shipped variants.
    """

    num_train: int = 4000
    num_dev: int = 300
    num_test: int = 500
    min_words: int = 1
    max_words: int = 7
    oh_prob: float = 0.3
    dev_voices: float = 0.12
    test_voices: float = 0.15
    rate: tuple = (120, 230)
    pitch: tuple = (15, 85)
    pitch_range: tuple = (10, 90)
    lead_silence: tuple = (0.05, 0.25)
    noise_prob: float = 0.5
    snr_db: tuple = (25.0, 50.0)
    speed_prob: float = 0.7
    speed: tuple = (0.85, 1.15)
    echo_prob: float = 0.25
    reverb_prob: float = 0.2
    channel_prob: float = 0.0
    channel: ChannelSpec = ChannelSpec()
    pause_prob: float = 0.0
    random_voices: int = 0
    random_voice_prob: float = 0.5
    sample_rate: int = 16000
    seed: int = 0
    text: str = "digits"
    vocab_size: int = 10000

    def __post_init__(self):
        if self.text not in TEXT_KINDS:
            raise ParameterError(f"text must be one of {', '.join(TEXT_KINDS)}, got {self.text!r}")
        for name in ("num_train", "num_dev", "num_test"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.min_words <= self.max_words:
            raise ParameterError(f"need 1 <= min_words <= max_words, got {self.min_words}, {self.max_words}")
        if not (0 < self.dev_voices and 0 < self.test_voices and self.dev_voices + self.test_voices < 0.9):
            raise ParameterError("dev_voices and test_voices must be > 0 and leave at least 10% of voices for training")
        probs = (self.oh_prob, self.noise_prob, self.speed_prob, self.echo_prob, self.reverb_prob, self.channel_prob,
                 self.pause_prob, self.random_voice_prob)
        if not all(0 <= p <= 1 for p in probs):
            raise ParameterError("oh_prob, noise_prob, speed_prob, echo_prob, reverb_prob, channel_prob, pause_prob "
                                 "and random_voice_prob must be in [0, 1]")
        if not 0 <= self.random_voices <= MAX_RANDOM_VARIANTS:
            raise ParameterError(f"random_voices must be in 0..{MAX_RANDOM_VARIANTS}, got {self.random_voices}")
        if isinstance(self.channel, dict):  # from JSON / YAML
            object.__setattr__(self, "channel", ChannelSpec(**self.channel))
        if not 0.5 <= self.speed[0] <= self.speed[1] <= 2.0:
            raise ParameterError(f"speed must be a range within [0.5, 2.0], got {self.speed}")


def random_digit_string(rng: np.random.Generator, min_words=1, max_words=7, oh_prob=0.3) -> str:
    """A connected digit string such as ``"three oh five"`` (0 is "zero" or, with oh_prob, "oh")."""
    n = int(rng.integers(min_words, max_words + 1))
    words = []
    for d in rng.integers(0, 10, size=n):
        words.append("oh" if d == 0 and rng.random() < oh_prob else DIGIT_WORDS[d])
    return " ".join(words)


def phrase(text: str, rng: np.random.Generator) -> str:
    """``text`` with commas after some words and a final "." or "?" (what eSpeak NG reads;
    the transcript stays ``text``)."""
    words = text.split()
    out = [w + ("," if i < len(words) - 1 and rng.random() < 0.35 else "") for i, w in enumerate(words)]
    return " ".join(out) + (".", "?", "")[int(rng.integers(3))]


def text_source(kind: str, seed, min_words: int, max_words: int, oh_prob: float = 0.3, vocab_size: int = 10000):
    """A function ``rng -> transcript`` for a corpus of ``kind`` (see :class:`CorpusSpec`).

    Digit strings draw from the ``rng`` they are given (the corpus plan's); sentences come from
    their own generator seeded with ``seed`` (give each split its own seed so that no two splits
    share a text stream).
    """
    if kind == "digits":
        return lambda rng: random_digit_string(rng, min_words, max_words, oh_prob)
    if kind == "sentences":
        from speech_lstm.data.sentences import SentenceText

        gen = SentenceText(vocab_size, seed=seed, min_words=min_words, max_words=max_words)
        return lambda rng: gen.sentence()
    raise ParameterError(f"text must be one of {', '.join(TEXT_KINDS)}, got {kind!r}")


def split_voices(variants, dev_frac, test_frac, seed) -> dict[str, list[str]]:
    """Partition voice variants into disjoint train/dev/test lists, deterministic from ``seed``.

    The unmodified default voice (no variant) always stays in training.
    """
    pool = sorted(v for v in variants if v)
    rng = np.random.default_rng(seed)
    order = [pool[i] for i in rng.permutation(len(pool))]
    n_test = max(1, int(round(len(order) * test_frac)))
    n_dev = max(1, int(round(len(order) * dev_frac)))
    return {
        "test": sorted(order[:n_test]),
        "dev": sorted(order[n_test : n_test + n_dev]),
        "train": sorted([""] + order[n_test + n_dev :]),
    }


def _plan(spec: CorpusSpec, out_dir: Path):
    """The list of utterance jobs (pure function of the spec)."""
    rng = np.random.default_rng(spec.seed)
    accents = english_accents()
    voices = split_voices(voice_variants(), spec.dev_voices, spec.test_voices, spec.seed)
    jobs = []
    for k, (split, count) in enumerate(zip(SPLITS, (spec.num_train, spec.num_dev, spec.num_test))):
        make_text = text_source(spec.text, [spec.seed, k], spec.min_words, spec.max_words, spec.oh_prob, spec.vocab_size)
        for i in range(count):
            variant = voices[split][int(rng.integers(len(voices[split])))]
            accent = accents[int(rng.integers(len(accents)))]
            jobs.append(
                {
                    "split": split,
                    "path": str(out_dir / "wavs" / split / f"{split}_{i:06d}.wav"),
                    "text": make_text(rng),
                    "accent": accent,
                    "speaker": variant or "default",
                    "voice": accent + (f"+{variant}" if variant else ""),
                    "rate": int(rng.integers(spec.rate[0], spec.rate[1] + 1)),
                    "pitch": int(rng.integers(spec.pitch[0], spec.pitch[1] + 1)),
                    "range": int(rng.integers(spec.pitch_range[0], spec.pitch_range[1] + 1)),
                    "lead": float(rng.uniform(*spec.lead_silence)),
                    "trail": float(rng.uniform(*spec.lead_silence)),
                    "gain_db": float(rng.uniform(-20.0, -1.0)),
                    "noise": bool(rng.random() < spec.noise_prob),
                    "snr_db": float(rng.uniform(*spec.snr_db)),
                    "seed": int(rng.integers(2**31)),
                    "speed": float(rng.uniform(*spec.speed))
                    if split == "train" and rng.random() < spec.speed_prob else 1.0,
                    "echo": (float(rng.uniform(0.005, 0.040)), float(rng.uniform(0.2, 0.7)))
                    if split == "train" and rng.random() < spec.echo_prob else None,
                    "rt60": float(rng.uniform(0.1, 0.5))
                    if split == "train" and rng.random() < spec.reverb_prob else None,
                    "channel": int(rng.integers(2**31))
                    if split == "train" and spec.channel_prob and rng.random() < spec.channel_prob else None,
                }
            )
            if split == "train" and spec.pause_prob and rng.random() < spec.pause_prob:
                jobs[-1]["speak"] = phrase(jobs[-1]["text"], rng)
            if split == "train" and spec.random_voices and rng.random() < spec.random_voice_prob:
                name = f"rv{int(rng.integers(spec.random_voices)):03d}"
                jobs[-1].update(speaker=name, voice=f"{accent}+{name}", bank=str(out_dir / "voice_bank"))
    return jobs, voices


def _render(job, sample_rate, channel: ChannelSpec = ChannelSpec()):
    bank = job.get("bank")
    engine = ESpeak(Path(bank) / "espeak-ng-data" if bank else None)
    engine.set_voice(job["voice"])
    # random variants can drive the formants hard: less volume keeps them from clipping
    engine.set_params(rate=job["rate"], pitch=job["pitch"], range=job["range"], volume=60 if bank else 100)
    engine.set_random_seed(job["seed"])  # breathy/whispered variants use eSpeak NG's noise generator
    pcm = engine.synthesize(job.get("speak", job["text"]))
    # Reading the audio as if recorded at speed * rate: speed > 1 is faster and higher.
    wav = resample(pcm.astype(np.float32) / 32768.0, int(round(engine.sample_rate * job["speed"])), sample_rate)
    rng = np.random.default_rng(job["seed"])
    wav = np.concatenate(
        [np.zeros(int(job["lead"] * sample_rate), np.float32), wav, np.zeros(int(job["trail"] * sample_rate), np.float32)]
    )
    wav = add_echo_and_reverb(wav, sample_rate, job["echo"], job["rt60"], rng)
    applied = None
    if job.get("channel") is not None:
        crng = np.random.default_rng(job["channel"])
        wav, applied = random_channel(wav, sample_rate, crng, channel,
                                      babble=lambda n: babble_noise(n, sample_rate, crng, words=8, talkers=int(
                                          crng.integers(channel.babble_talkers[0], channel.babble_talkers[1] + 1))))
    peak = float(np.max(np.abs(wav))) or 1.0
    wav = wav / peak * (10 ** (job["gain_db"] / 20))
    if job["noise"]:
        power = float(np.mean(wav**2))
        noise = rng.standard_normal(len(wav)).astype(np.float32)
        wav = wav + noise * np.sqrt(power / (10 ** (job["snr_db"] / 10)))
    write_audio(job["path"], wav.astype(np.float32), sample_rate, subtype="PCM_16")
    return {
        "audio_filepath": job["path"],
        "text": job["text"],
        "duration": round(len(wav) / sample_rate, 4),
        "speaker": job["speaker"],
        "accent": job["accent"],
        "speed": round(job["speed"], 3),
        "split": job["split"],
        **({"read": job["speak"]} if "speak" in job else {}),
        **({"channel": applied} if applied is not None else {}),  # {}: drawn, nothing applied
    }


def add_echo_and_reverb(wav, sample_rate, echo=None, rt60=None, rng=None):
    """Channel effects on float32 [samples]: one echo ``(delay_s, gain)`` and/or room reverberation.

    The room is a synthetic impulse response: a direct path plus exponentially decaying noise
    reaching -60 dB at ``rt60`` seconds. Output has the input's length.
    """
    out = wav
    if echo is not None:
        delay = max(1, int(echo[0] * sample_rate))
        out = out.copy()
        out[delay:] += echo[1] * wav[:-delay]
    if rt60 is not None:
        rng = rng or np.random.default_rng(0)
        n = int(rt60 * sample_rate)
        t = np.arange(n) / sample_rate
        ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
        ir[0] = 0.0
        ir *= 0.5 / (np.sqrt(np.sum(ir**2)) + 1e-9)  # reverberant energy about -6 dB re direct
        ir[0] = 1.0
        out = fftconvolve(out, ir)[: len(wav)].astype(np.float32)
    return out


def _render_star(args):
    return _render(*args)


def map_jobs(fn, args: list, workers: int = 2, desc: str = "", progress: bool = True,
             unit: str = "utt") -> tuple[list, list[int]]:
    """``[fn(a) for a in args]`` in ``workers`` spawned processes, surviving jobs that crash
    their process (eSpeak NG segfaults on rare voice and text combinations).

    When a process dies the pool breaks; the job that killed it is among the first few not
    finished (jobs are handed out in order), so those are rerun one by one, each in a process
    of its own, and the rest go to a fresh pool. Returns (results in order with None for a
    job that crashed even alone, indices of those jobs). ``workers <= 1`` runs in this process
    (no protection).
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    results, crashed = [None] * len(args), []
    bar = tqdm(total=len(args), desc=desc, unit=unit, disable=not progress)
    if workers <= 1:
        for i, a in enumerate(args):
            results[i] = fn(a)
            bar.update(1)
        bar.close()
        return results, crashed
    ctx = mp.get_context("spawn")
    todo = list(range(len(args)))
    while todo:
        done = set()
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [(i, pool.submit(fn, args[i])) for i in todo]
            for i, future in futures:
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    continue
                done.add(i)
                bar.update(1)
        todo = [i for i in todo if i not in done]
        suspects, todo = todo[: workers + 2], todo[workers + 2:]
        for i in suspects:  # alone, so that a crash is this job's own
            try:
                with ProcessPoolExecutor(1, mp_context=ctx) as alone:
                    results[i] = alone.submit(fn, args[i]).result()
                bar.update(1)
            except BrokenProcessPool:
                crashed.append(i)
    bar.close()
    return results, sorted(crashed)


def corpus_is_current(meta_path, spec: dict, outputs, defaults: dict | None = None) -> bool:
    """True when every path in ``outputs`` exists and ``meta_path`` (a corpus.json) records
    ``spec`` (a JSON-able dict; ``defaults`` fill in options added since the corpus was made):
    the corpus need not be made again."""
    if not (Path(meta_path).exists() and all(Path(p).exists() for p in outputs)):
        return False
    try:
        saved = {**(defaults or {}), **json.loads(Path(meta_path).read_text()).get("spec", {})}
    except ValueError:
        return False
    return json.loads(json.dumps(saved)) == json.loads(json.dumps(spec))


def synthesize_corpus(out_dir, spec: CorpusSpec = CorpusSpec(), workers: int = 2,
                            force: bool = False, progress: bool = True) -> dict[str, Path]:
    """Write ``out_dir/{train,dev,test}.jsonl`` and their WAVs; returns the manifest paths.

    Idempotent: when the manifests exist and ``out_dir/corpus.json`` records the same spec,
    nothing is redone unless ``force``.
    """
    out_dir = Path(out_dir).resolve()
    manifests = {s: out_dir / f"{s}.jsonl" for s in SPLITS}
    meta_path = out_dir / "corpus.json"
    spec_dict = dataclasses.asdict(spec)
    # options added since a corpus was made count with their defaults
    if not force and corpus_is_current(meta_path, spec_dict, manifests.values(), dataclasses.asdict(CorpusSpec())):
        return manifests
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    if spec.random_voices:
        voice_bank(out_dir / "voice_bank", spec.random_voices, seed=spec.seed)
    jobs, voices = _plan(spec, out_dir)
    args = [(job, spec.sample_rate, spec.channel) for job in jobs]
    entries, crashed = map_jobs(_render_star, args, workers, "synthesizing", progress)
    failed = report_crashes(jobs, crashed, "eSpeak NG")
    entries = [e for e in entries if e is not None]
    for split in SPLITS:
        write_manifest([{k: v for k, v in e.items() if k != "split"} for e in entries if e["split"] == split],
                       manifests[split])
    hours = {s: round(sum(e["duration"] for e in entries if e["split"] == s) / 3600, 3) for s in SPLITS}
    meta_path.write_text(json.dumps({"spec": spec_dict, "voices": voices, "accents": english_accents(),
                                     "hours": hours, "failed": failed}, indent=1))
    return manifests


def report_crashes(jobs, crashed, engine) -> list[dict]:
    """Warn about (and describe, for corpus.json) jobs whose synthesizer crashed; they are left out."""
    failed = [{k: jobs[i][k] for k in ("path", "text", "voice") if k in jobs[i]} for i in crashed]
    for f in failed:
        print(f"warning: {engine} crashed on {Path(f['path']).name} (voice {f.get('voice')}, text {f['text']!r}); "
              "left out of the corpus", file=sys.stderr)
    return failed


def _render_flite(job, sample_rate):
    from speech_lstm.data.flite import synthesize_flite

    wav = synthesize_flite(job["text"], job["voice"], sample_rate, job["stretch"], job["f0"])
    rng = np.random.default_rng(job["seed"])
    wav = np.concatenate([np.zeros(int(job["lead"] * sample_rate), np.float32), wav,
                          np.zeros(int(job["trail"] * sample_rate), np.float32)])
    peak = float(np.max(np.abs(wav))) or 1.0
    wav = wav / peak * (10 ** (job["gain_db"] / 20))
    wav = wav + rng.standard_normal(len(wav)).astype(np.float32) * 1e-4  # a faint floor, not digital silence
    write_audio(job["path"], wav.astype(np.float32), sample_rate, subtype="PCM_16")
    return {"audio_filepath": job["path"], "text": job["text"], "duration": round(len(wav) / sample_rate, 4),
            "speaker": job["voice"], "engine": "flite"}


def _render_flite_star(args):
    return _render_flite(*args)


def synthesize_flite_set(out_dir, num: int = 500, min_words: int = 1, max_words: int = 7, oh_prob: float = 0.3,
                         seed: int = 0, workers: int = 2, force: bool = False, progress: bool = True,
                         text: str = "digits", vocab_size: int = 10000) -> Path:
    """An out-of-domain dev set: ``num`` utterances of ``text`` (digit strings or sentences, as in
    :class:`CorpusSpec`) spoken by Debian's flite voices in turn (random rate and pitch), written
    to ``out_dir/dev.jsonl``. For choosing techniques only: never train on it. Its sentences are
    a text stream of their own (no eSpeak NG split shares it). Idempotent like
    :func:`synthesize_corpus`."""
    from speech_lstm.data.flite import flite_voices

    out_dir = Path(out_dir).resolve()
    manifest, meta_path = out_dir / "dev.jsonl", out_dir / "corpus.json"
    spec = {"engine": "flite", "num": num, "min_words": min_words, "max_words": max_words, "oh_prob": oh_prob,
            "seed": seed, **({"text": text, "vocab_size": vocab_size} if text != "digits" else {})}
    voices = flite_voices()  # also checks that flite is installed
    if not voices:
        raise SynthesisError("this flite offers none of the voices " + ", ".join(FLITE_VOICES))
    if not force and corpus_is_current(meta_path, spec, [manifest]):
        return manifest
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    make_text = text_source(text, [seed, len(SPLITS)], min_words, max_words, oh_prob, vocab_size)
    jobs = [{"path": str(out_dir / "wavs" / f"flite_{i:06d}.wav"), "voice": voices[i % len(voices)],
             "text": make_text(rng),
             "stretch": float(rng.uniform(0.85, 1.2)), "f0": None if rng.random() < 0.5 else float(rng.uniform(90, 180)),
             "lead": float(rng.uniform(0.05, 0.25)), "trail": float(rng.uniform(0.05, 0.25)),
             "gain_db": float(rng.uniform(-20.0, -1.0)), "seed": int(rng.integers(2**31))} for i in range(num)]
    args = [(job, 16000) for job in jobs]
    entries, crashed = map_jobs(_render_flite_star, args, workers, "flite", progress)
    failed = report_crashes(jobs, crashed, "flite")
    entries = [e for e in entries if e is not None]
    write_manifest(entries, manifest)
    meta_path.write_text(json.dumps({"spec": spec, "voices": voices, "failed": failed,
                                     "hours": round(sum(e["duration"] for e in entries) / 3600, 3)}, indent=1))
    return manifest


def _mix_one(args):
    entry, out_path, noise, snr_db, seed, sample_rate = args
    from speech_lstm.audio import load_audio
    from speech_lstm.data.augment import colored_noise, mix_at_snr

    rng = np.random.default_rng(seed)
    wav = load_audio(entry["audio_filepath"], sample_rate)
    source = (babble_noise(len(wav), sample_rate, rng) if noise == "babble"
              else colored_noise(len(wav), noise, rng))
    mixed = mix_at_snr(wav, source, snr_db, rng)
    peak = float(np.max(np.abs(mixed)))
    if peak > 0.99:
        mixed = mixed * (0.99 / peak)
    write_audio(out_path, mixed, sample_rate, subtype="PCM_16")
    return {**entry, "audio_filepath": str(out_path), "noise": noise, "snr_db": snr_db}


def noisy_copy(manifest, out_dir, noise: str = "babble", snr_db: float = 10.0, seed: int = 0, workers: int = 2,
               sample_rate: int = 16000, progress: bool = True) -> Path:
    """A copy of a corpus with noise added to every utterance at ``snr_db`` (``noise``: babble of
    eSpeak NG talkers reading common words, or white / pink / brown): ``out_dir/<name>.jsonl``
    and its WAVs. For evaluating robustness; the texts are unchanged. Idempotent: redone only
    when the source manifest (its content), the noise, the SNR or the seed changed."""
    from speech_lstm.data.manifest import read_manifest

    if noise not in ("babble", "white", "pink", "brown"):
        raise ParameterError(f"noise must be babble, white, pink or brown, got {noise!r}")
    manifest, out_dir = Path(manifest), Path(out_dir).resolve()
    out, meta_path = out_dir / manifest.name, out_dir / "noisy.json"
    spec = {"source": str(manifest.resolve()), "source_sha1": hashlib.sha1(manifest.read_bytes()).hexdigest(),
            "noise": noise, "snr_db": float(snr_db), "seed": seed, "sample_rate": sample_rate}
    if out.exists() and meta_path.exists():  # idempotent, but never stale: the source must be the same
        try:
            if json.loads(meta_path.read_text()) == spec:
                return out
        except ValueError:
            pass
    meta_path.unlink(missing_ok=True)
    entries = read_manifest(manifest)
    rng = np.random.default_rng(seed)
    jobs = [(e, out_dir / "wavs" / f"{i:06d}.wav", noise, float(snr_db), int(rng.integers(2**31)), sample_rate)
            for i, e in enumerate(entries)]
    mixed, crashed = map_jobs(_mix_one, jobs, workers, f"{noise} {snr_db:g} dB", progress)
    report_crashes([{"path": str(j[1]), "text": j[0]["text"]} for j in jobs], crashed, "babble synthesis")
    mixed = [m for m in mixed if m is not None]
    write_manifest(mixed, out)
    meta_path.write_text(json.dumps(spec, indent=1))
    return out
