import json

import numpy as np
import pytest
import soundfile as sf

from speech_lstm.data.espeak import ESpeak, english_accents, voice_variants
from speech_lstm.data.manifest import read_manifest
from speech_lstm.data.synth import DIGIT_WORDS, CorpusSpec, random_digit_string, split_voices
from speech_lstm.errors import ParameterError, SynthesisError


def test_espeak_ships_many_english_voices():
    accents, variants = english_accents(), voice_variants()
    assert "en-us" in accents and "en-gb-scotland" in accents and "en-shaw" not in accents
    assert len(accents) >= 8 and len(variants) >= 50 and "klatt" in variants


def test_espeak_synthesizes_and_rejects_unknown_voices():
    e = ESpeak()
    e.set_voice("en-us+f3")
    e.set_params(rate=150, pitch=60)
    audio = e.synthesize("three oh five")
    assert audio.dtype == np.int16 and e.sample_rate == 22050
    assert 0.5 < len(audio) / e.sample_rate < 3.0
    with pytest.raises(SynthesisError, match="unknown eSpeak NG voice 'xx-nowhere'"):
        e.set_voice("xx-nowhere")


def test_digit_strings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        words = random_digit_string(rng, 1, 7).split()
        assert 1 <= len(words) <= 7 and set(words) <= set(DIGIT_WORDS) | {"oh"}


def test_voice_split_is_disjoint_and_deterministic():
    variants = voice_variants()
    a = split_voices(variants, 0.1, 0.15, seed=7)
    assert a == split_voices(variants, 0.1, 0.15, seed=7)
    assert a != split_voices(variants, 0.1, 0.15, seed=8)
    sets = [set(a[s]) for s in ("train", "dev", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(variants) | {""}


def test_corpus_manifests_split_by_voice(digits_corpus):
    speakers = {s: {e["speaker"] for e in read_manifest(p)} for s, p in digits_corpus.items()}
    assert not (speakers["train"] & speakers["test"]) and not (speakers["train"] & speakers["dev"])
    entry = read_manifest(digits_corpus["test"])[0]
    info = sf.info(entry["audio_filepath"])
    assert info.samplerate == 16000 and info.channels == 1
    assert abs(info.frames / 16000 - entry["duration"]) < 1e-3
    meta = json.loads((digits_corpus["train"].parent / "corpus.json").read_text())
    assert set(meta["voices"]) == {"train", "dev", "test"}


def test_spec_validation():
    with pytest.raises(ParameterError, match="min_words <= max_words"):
        CorpusSpec(min_words=3, max_words=2)
    with pytest.raises(ParameterError, match="num_train must be >= 0"):
        CorpusSpec(num_train=-1)
    with pytest.raises(ParameterError, match="leave at least 10%"):
        CorpusSpec(dev_voices=0.5, test_voices=0.5)


def test_echo_and_reverb_are_deterministic_and_keep_length():
    from speech_lstm.data.synth import add_echo_and_reverb

    x = np.zeros(16000, np.float32)
    x[1000] = 1.0
    echoed = add_echo_and_reverb(x, 16000, echo=(0.01, 0.5))
    assert echoed[1000] == 1.0 and echoed[1160] == pytest.approx(0.5)
    a = add_echo_and_reverb(x, 16000, rt60=0.3, rng=np.random.default_rng(4))
    b = add_echo_and_reverb(x, 16000, rt60=0.3, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert len(a) == len(x) and a[1000] == pytest.approx(1.0)
    tail = np.abs(a[1000 + 160 : 1000 + 4800])
    assert tail.max() > 0.01 and np.abs(a[1000 + 4800 :]).max() < 1e-6
    np.testing.assert_array_equal(add_echo_and_reverb(x, 16000), x)


def test_training_utterances_get_random_channels_and_dev_test_stay_clean(tmp_path):
    from speech_lstm.data.synth import synthesize_corpus

    spec = CorpusSpec(num_train=6, num_dev=2, num_test=2, max_words=2, channel_prob=1.0, pause_prob=1.0, seed=5)
    paths = synthesize_corpus(tmp_path / "c", spec, workers=1, progress=False)
    train = read_manifest(paths["train"])
    assert all("channel" in e for e in train) and any("noise" in e["channel"] for e in train)
    held_out = read_manifest(paths["dev"]) + read_manifest(paths["test"])
    assert not any("channel" in e or "read" in e for e in held_out)
    # phrased reading (pauses, intonation) with the transcript unchanged
    assert all(e["read"].replace(",", "").rstrip(".?") == e["text"] for e in train)
    assert any(e["read"] != e["text"] for e in train)
    meta = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert meta["spec"]["channel_prob"] == 1.0 and "formant_prob" in meta["spec"]["channel"]
    assert CorpusSpec(**{**meta["spec"], "rate": tuple(meta["spec"]["rate"])}).channel == spec.channel


@pytest.mark.skipif(__import__("shutil").which("flite") is None, reason="Debian's flite is not installed (make flite)")
def test_flite_dev_set_uses_every_flite_voice(tmp_path):
    from speech_lstm.data.flite import flite_voices
    from speech_lstm.data.synth import synthesize_flite_set

    manifest = synthesize_flite_set(tmp_path / "flite", num=5, max_words=2, workers=1, progress=False)
    entries = read_manifest(manifest)
    assert [e["speaker"] for e in entries] == flite_voices() and all(e["engine"] == "flite" for e in entries)
    for e in entries:
        audio, sr = sf.read(e["audio_filepath"])
        assert sr == 16000 and abs(len(audio) / sr - e["duration"]) < 1e-3 and np.abs(audio).max() > 0.01
    assert synthesize_flite_set(tmp_path / "flite", num=5, max_words=2, workers=1, progress=False) == manifest


def test_noisy_copy_is_at_the_snr_and_redone_only_when_its_source_changes(digits_corpus, tmp_path):
    import shutil

    from speech_lstm.audio import load_audio
    from speech_lstm.data.manifest import write_manifest
    from speech_lstm.data.synth import noisy_copy

    source = tmp_path / "src" / "dev.jsonl"
    entries = read_manifest(digits_corpus["dev"])[:3]
    write_manifest(entries, source)
    out = noisy_copy(source, tmp_path / "noisy", "pink", 5.0, workers=1, progress=False)
    mixed = read_manifest(out)
    assert [e["text"] for e in mixed] == [e["text"] for e in entries] and all(e["snr_db"] == 5.0 for e in mixed)
    for clean, noisy in zip(entries, mixed):
        a, b = load_audio(clean["audio_filepath"], 16000), load_audio(noisy["audio_filepath"], 16000)
        snr = 10 * np.log10(np.mean(a.astype(np.float64) ** 2) / np.mean((b - a).astype(np.float64) ** 2))
        assert abs(snr - 5.0) < 0.2  # 16-bit rounding aside
    stamp = (tmp_path / "noisy" / "wavs" / "000000.wav").stat().st_mtime_ns
    assert noisy_copy(source, tmp_path / "noisy", "pink", 5.0, workers=1, progress=False) == out
    assert (tmp_path / "noisy" / "wavs" / "000000.wav").stat().st_mtime_ns == stamp  # nothing redone
    write_manifest(read_manifest(digits_corpus["dev"])[:2], source)  # the source changed: redone
    assert len(read_manifest(noisy_copy(source, tmp_path / "noisy", "pink", 5.0, workers=1, progress=False))) == 2
    shutil.rmtree(tmp_path / "noisy")


def test_random_voice_variants_read_training_utterances_only(tmp_path):
    from speech_lstm.data.espeak import ESpeak, _data_path, voice_bank
    from speech_lstm.data.synth import synthesize_corpus

    spec = CorpusSpec(num_train=5, num_dev=2, num_test=2, max_words=2, noise_prob=0.0, random_voices=3,
                           random_voice_prob=1.0, seed=2)
    paths = synthesize_corpus(tmp_path / "c", spec, workers=1, progress=False)
    train = read_manifest(paths["train"])
    assert {e["speaker"] for e in train} <= {"rv000", "rv001", "rv002"}
    assert not any(e["speaker"].startswith("rv") for e in read_manifest(paths["dev"]) + read_manifest(paths["test"]))
    data, names = voice_bank(tmp_path / "c" / "voice_bank", 3, seed=2)  # reused, not rebuilt
    text = (data / "voices" / "!v" / "rv001").read_text()
    assert "formant 8" in text and text.startswith("name rv001")
    engine = ESpeak(data)
    engine.set_voice("en-us+rv001")
    odd = engine.synthesize("seven")
    engine.set_voice("en-us+m3")  # the shipped variants are still there
    assert abs(len(engine.synthesize("seven")) - len(odd)) < len(odd) and ESpeak().data_path == str(data)
    ESpeak(_data_path())  # back to the wheel's folder for the other tests
