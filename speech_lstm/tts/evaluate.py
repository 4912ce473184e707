"""Scoring a trained TTS voice on held-out sentences of its corpus.

For every test sentence three recordings are compared with the reference (eSpeak NG's own):

- **synthesized**: the text through the duration and acoustic models and Griffin-Lim;
- **vocoded reference**: the reference's own mel through Griffin-Lim (what the vocoder alone
  loses: the ceiling for the models);

with mel-cepstral distortion, per-phoneme duration error, PocketSphinx's WER (open-vocabulary
English, a recognizer that never saw this package's models) and, when given, the WER of one of
this toolkit's own recognizers. Synthesis speed is measured as the real-time factor.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from speech_lstm.errors import ParameterError
from speech_lstm.files import atomic_write

__all__ = ["evaluate_tts"]


def _recognizer_wer(recognizer, paths, texts) -> float:
    from speech_lstm.transcribe import transcribe_files
    from speech_lstm.tts.metrics import word_error_rate

    hyps = {str(p): (t.text if not isinstance(t, Exception) else "")
            for p, t in transcribe_files(recognizer, paths, progress=False)}
    return word_error_rate(texts, [hyps[str(p)] for p in paths])


def evaluate_tts(synthesizer, entries, out_dir, limit: int | None = None, workers: int = 2,
                 recognizer=None, progress: bool = True) -> dict:
    """Synthesize the texts of ``entries`` (a TTS manifest's, :func:`read_tts_manifest`) with
    ``synthesizer`` (:class:`speech_lstm.tts.synthesize.Synthesizer`) into ``out_dir/wavs``
    (and the vocoded references into ``out_dir/vocoded``), score them (module docstring) and
    write ``out_dir/results.json``. ``recognizer``: a model path for
    :func:`speech_lstm.transcribe.load_recognizer` (e.g. the sentences recipe's export) to
    add its WER; None skips it. A calling script needs ``if __name__ == "__main__":`` (the
    PocketSphinx workers are spawned). Returns the results."""
    from tqdm.auto import tqdm

    from speech_lstm.audio import load_audio, write_audio
    from speech_lstm.tts.metrics import duration_error_ms, intelligibility, mel_cepstral_distortion
    from speech_lstm.tts.text import frame_durations
    from speech_lstm.tts.vocoder import griffin_lim, log_mel

    entries = list(entries)[:limit] if limit else list(entries)
    if not entries:
        raise ParameterError("no sentences to evaluate")
    out_dir = Path(out_dir)
    spec = synthesizer.mel_spec
    rows, predicted, reference = [], [], []
    synth_seconds = audio_seconds = 0.0
    stage_seconds = {}
    synthesizer("warm up the graphs.")  # the first call traces the models: not a sentence's cost
    for i, e in enumerate(tqdm(entries, desc="synthesize test sentences", unit="utt", disable=not progress)):
        ref_audio = load_audio(e["audio_filepath"], sample_rate=spec.sample_rate)
        t = time.perf_counter()
        result = synthesizer(e["text"])
        synth_seconds += time.perf_counter() - t
        audio_seconds += len(result.audio) / result.sample_rate
        for k, v in result.seconds.items():
            stage_seconds[k] = stage_seconds.get(k, 0.0) + v
        name = Path(e["audio_filepath"]).stem
        syn_path, voc_path = out_dir / "wavs" / f"{name}.wav", out_dir / "vocoded" / f"{name}.wav"
        write_audio(syn_path, result.audio, result.sample_rate, subtype="PCM_16")
        ref_mel = log_mel(ref_audio, spec)
        vocoded = griffin_lim(ref_mel, spec)
        write_audio(voc_path, vocoded, spec.sample_rate, subtype="PCM_16")
        ref_durations = frame_durations(np.asarray(e["starts"]), spec.hop_length, len(ref_mel))
        same_tokens = result.phonemes == list(e["phonemes"])
        if same_tokens:
            predicted.append(result.durations)
            reference.append(ref_durations)
        rows.append({"audio_filepath": str(e["audio_filepath"]), "text": e["text"], "synthesized": str(syn_path),
                     "vocoded": str(voc_path), "seconds_reference": round(len(ref_audio) / spec.sample_rate, 3),
                     "seconds_synthesized": round(len(result.audio) / result.sample_rate, 3),
                     "mcd_synthesized": mel_cepstral_distortion(ref_audio, result.audio, spec.sample_rate),
                     "mcd_vocoded": mel_cepstral_distortion(ref_audio, vocoded, spec.sample_rate),
                     "same_phonemes": same_tokens})
    texts = [r["text"] for r in rows]
    refs = [r["audio_filepath"] for r in rows]
    sphinx = intelligibility(refs, [r["synthesized"] for r in rows], texts, workers=workers)
    sphinx_vocoded = intelligibility(refs, [r["vocoded"] for r in rows], texts, workers=workers)
    for r, h_ref, h_syn, h_voc in zip(rows, sphinx["reference_hypotheses"], sphinx["synthesized_hypotheses"],
                                      sphinx_vocoded["synthesized_hypotheses"]):
        r.update(sphinx_reference=h_ref, sphinx_synthesized=h_syn, sphinx_vocoded=h_voc)
    durations = (duration_error_ms(np.concatenate(predicted), np.concatenate(reference), spec.hop_seconds)
                 if predicted else None)
    results = {
        "sentences": len(rows),
        "mcd_db": {"synthesized": float(np.mean([r["mcd_synthesized"] for r in rows])),
                   "vocoded_reference": float(np.mean([r["mcd_vocoded"] for r in rows]))},
        "duration_error": durations,
        "sentence_length_ratio": float(sum(r["seconds_synthesized"] for r in rows)
                                       / sum(r["seconds_reference"] for r in rows)),
        "pocketsphinx_wer": {"reference": sphinx["reference_wer"], "synthesized": sphinx["synthesized_wer"],
                             "vocoded_reference": sphinx_vocoded["synthesized_wer"],
                             "difference_points": sphinx["wer_difference_points"]},
        "real_time_factor": synth_seconds / max(audio_seconds, 1e-9),
        "seconds_per_stage": {k: round(v, 3) for k, v in stage_seconds.items()},
        "synthesized_audio_seconds": round(audio_seconds, 2),
        "utterances": rows,
    }
    if recognizer is not None:
        from speech_lstm.transcribe import load_recognizer

        model = load_recognizer(recognizer)
        results["recognizer"] = {"model": str(recognizer), "wer": {
            name: _recognizer_wer(model, paths, texts)
            for name, paths in (("reference", refs), ("synthesized", [r["synthesized"] for r in rows]),
                                ("vocoded_reference", [r["vocoded"] for r in rows]))}}
    with atomic_write(out_dir / "results.json") as f:
        json.dump(results, f, indent=1)
    return results
