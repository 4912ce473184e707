"""``speech-lstm``: a thin command line over the library.

Exit status: 0 when every input succeeded, 1 when some input failed (each named on stderr,
the others still processed), 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from speech_lstm.errors import ConfigError, ParameterError, SpeechLSTMError
from speech_lstm.writers import FORMATS

__all__ = ["main", "build_parser"]


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def _err(msg):
    print(f"speech-lstm: error: {msg}", file=sys.stderr)


# Mean seconds per training utterance (eSpeak NG at its random rates, with lead and trail), to turn
# --hours into a count; measured on the default corpora (see recipes/*/README.md).
MEAN_SECONDS = {"digits": 2.3, "sentences": 3.1}


def cmd_synth(args):
    from speech_lstm.data.synth import CorpusSpec, synthesize_corpus, synthesize_flite_set

    kind = args.text
    if args.hours is not None and args.num_train is not None:
        raise ConfigError("give --hours or --num-train, not both")
    if args.engine == "flite":
        if args.num_train is not None or args.num_test is not None or args.hours is not None:
            raise ConfigError("--engine flite makes an out-of-domain dev set only (dev.jsonl, --num-dev utterances); "
                              "--num-train, --num-test and --hours belong to eSpeak NG corpora: training speech is "
                              "eSpeak NG only")
        if args.channel_prob or args.pause_prob or args.random_voices:
            raise ConfigError("--channel-prob, --pause-prob and --random-voices randomize eSpeak NG training audio; "
                              "the flite dev set is left as flite speaks it")
        path = synthesize_flite_set(args.out, num=args.num_dev, min_words=args.min_words, max_words=args.max_words,
                                    seed=args.seed, workers=args.workers, force=args.force, progress=not args.quiet,
                                    text=kind, vocab_size=getattr(args, "vocab_size", 10000))
        print(f"dev: {path}")
        return 0
    if args.hours is not None:
        if args.hours <= 0:
            raise ConfigError(f"--hours must be > 0, got {args.hours}")
        num_train = max(1, int(round(args.hours * 3600 / MEAN_SECONDS[kind])))
    else:
        num_train = args.default_train if args.num_train is None else args.num_train
    spec = CorpusSpec(num_train=num_train, num_dev=args.num_dev,
                      num_test=args.default_test if args.num_test is None else args.num_test, seed=args.seed,
                      min_words=args.min_words, max_words=args.max_words, channel_prob=args.channel_prob,
                      pause_prob=args.pause_prob, random_voices=args.random_voices, text=kind,
                      vocab_size=getattr(args, "vocab_size", 10000))
    paths = synthesize_corpus(args.out, spec, workers=args.workers, force=args.force, progress=not args.quiet)
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


def cmd_add_noise(args):
    from speech_lstm.data.synth import noisy_copy

    for snr in args.snr:
        out = noisy_copy(args.manifest, Path(args.out) / f"{args.noise}{snr:g}db", args.noise, snr, seed=args.seed,
                         workers=args.workers, progress=not args.quiet)
        print(f"{args.noise} {snr:g} dB: {out}")
    return 0


def cmd_validate(args):
    from speech_lstm.data.manifest import read_manifest, validate_manifest
    from speech_lstm.text import Vocabulary

    vocab = Vocabulary()
    status = 0
    for manifest in args.manifests:
        try:
            entries = read_manifest(manifest)
            problems = validate_manifest(entries, vocab, args.min_duration, args.max_duration,
                                         decode_audio=args.decode_audio, name=manifest, raise_on_error=False)
        except SpeechLSTMError as e:
            _err(str(e))
            status = 1
            continue
        for p in problems:
            print(p, file=sys.stderr)
        hours = sum(float(e["duration"]) for e in entries) / 3600
        print(f"{manifest}: {len(entries)} entries, {hours:.2f} h, {len(problems)} problem(s)")
        status = max(status, 1 if problems else 0)
    return status


IMPORT_CORPORA = ("librispeech", "common_voice", "ljspeech", "fsdd", "speech_commands", "timit", "nemo", "folder")
# options of `import` that belong to some corpora only: dest -> those corpora
_IMPORT_OPTIONS = {"subsets": ("librispeech",), "splits": ("common_voice",), "dev": ("ljspeech",),
                   "test": ("ljspeech",), "seed": ("ljspeech",), "include_sa": ("timit",), "split": ("nemo", "folder")}


def cmd_import(args):
    from speech_lstm.data.importers import IMPORTERS
    from speech_lstm.errors import CorpusLayoutError

    options = {}
    for dest, corpora in _IMPORT_OPTIONS.items():
        if getattr(args, dest) is not None:
            if args.corpus not in corpora:
                raise ConfigError(f"--{dest.replace('_', '-')} is an option of {' and '.join(corpora)} imports, "
                                  f"not of {args.corpus}")
            options[dest] = getattr(args, dest)
    try:
        result = IMPORTERS[args.corpus](args.src, args.out, min_duration=args.min_duration,
                                        max_duration=args.max_duration, workers=args.workers, force=args.force,
                                        progress=not args.quiet, **options)
    except CorpusLayoutError as e:  # pointed at the wrong folder: a usage error
        _err(str(e))
        return 2
    for split, kept in result.kept.items():
        where = result.manifests.get(split) or "nothing kept, no manifest written"
        print(f"{split}: {kept} utterances, {result.hours[split]:.2f} h -> {where}")
    if result.dropped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in result.dropped.items())
        print(f"dropped {sum(result.dropped.values())} ({reasons}): examples in {result.report}", file=sys.stderr)
    if result.up_to_date:
        print(f"up to date: {result.report} records this source and these options (--force to redo)")
    empty = [split for split, kept in result.kept.items() if not kept]
    if empty:
        _err(f"no utterance kept for {', '.join(empty)}")
    return 1 if empty else 0


def cmd_features_extract(args):
    from speech_lstm.config import FeatureConfig, load_config
    from speech_lstm.data.store import extract_features

    features = load_config(args.config, args.set).features if args.config else FeatureConfig()
    if args.set and not args.config:
        raise ConfigError("--set needs --config (it overrides the config's features: section)")
    if args.workers < 1 or args.shard_size < 1:
        raise ConfigError(f"--workers and --shard-size must be >= 1, got {args.workers} and {args.shard_size}")
    index = extract_features(args.manifest, args.out, features, workers=args.workers, shard_size=args.shard_size,
                             force=args.force, progress=not args.quiet)
    for f in index["failed"]:
        _err(f"{f['audio_filepath']}: {f['error']}")
    print(f"{args.out}: {index['utterances']} utterances, {index['hours']:.2f} h, {len(index['shards'])} shard(s), "
          f"{len(index['failed'])} failed")
    return 1 if index["failed"] else 0


def cmd_train(args):
    from speech_lstm.config import load_config
    from speech_lstm.training import train

    overrides = list(args.set) + ([f"train.strategy={args.strategy}"] if args.strategy else [])
    config = load_config(args.config, overrides)
    summary = train(config, args.run_dir, force=args.force, progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k != "last_epoch_history"}, indent=1))
    return 0


def _decode_options(args):
    from speech_lstm.config import DecodeOptions

    from speech_lstm.ctc import parse_hot_words

    words = _word_list(args)
    lm, hot = getattr(args, "lm", None), getattr(args, "hot_words", None)
    if lm is None and (args.alpha is not None or args.beta is not None):
        raise ConfigError("--alpha and --beta weight a language model: give --lm FILE")
    if args.beam_width is None and words is None and lm is None and not hot:
        return DecodeOptions()  # main() already refused --top-paths without --beam-width
    if lm is not None:
        from speech_lstm.lm import read_arpa_header

        if not Path(lm).is_file():
            raise ConfigError(f"--lm {lm}: no such file")
        if lm.endswith(".arpa"):
            read_arpa_header(lm)
    width = args.beam_width or (64 if lm or hot else 16)
    return DecodeOptions(strategy="beam", beam_width=width, top_paths=getattr(args, "top_paths", 1), words=words,
                         lm=lm, alpha=0.5 if args.alpha is None else args.alpha,
                         beta=1.0 if args.beta is None else args.beta,
                         hot_words=parse_hot_words(hot) if hot else ())


def _word_list(args):
    """--words a,b,c or --lexicon FILE (one word per line; '#' comments) -> normalised words, or None."""
    from speech_lstm.text import normalize_text

    if getattr(args, "words", None) and getattr(args, "lexicon", None):
        raise ConfigError("--words and --lexicon conflict: give the word list one way")
    if getattr(args, "words", None):
        raw, where = args.words.split(","), "--words"
    elif getattr(args, "lexicon", None):
        try:
            raw = [line.split("#")[0] for line in Path(args.lexicon).read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--lexicon {args.lexicon}: cannot read it ({e})") from e
        where = f"--lexicon {args.lexicon}"
    else:
        return None
    words = [normalize_text(w) for w in raw if normalize_text(w)]
    if not words:
        raise ConfigError(f"{where}: no words")
    spaced = [w for w in words if " " in w]
    if spaced:
        raise ConfigError(f"{where}: entries must be single words, got {spaced[0]!r}")
    return tuple(words)


def cmd_evaluate(args):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.evaluate import evaluate_model, write_results
    from speech_lstm.training import load_run

    options = _decode_options(args)
    model, fc, vocab = load_run(args.model)
    entries = read_manifest(args.manifest)
    out_dir = Path(args.out_dir) if args.out_dir else (Path(args.model) if Path(args.model).is_dir() else Path(args.model).parent)
    name = args.name or Path(args.manifest).stem
    manifest = str(Path(args.manifest).resolve())
    previous = json.loads((out_dir / "results.json").read_text()).get(name) if (out_dir / "results.json").exists() else None
    if isinstance(previous, dict) and previous.get("manifest") != manifest and not args.force:
        raise ConfigError(f"{out_dir / 'results.json'} already holds results '{name}' of "
                          f"{previous.get('manifest', 'another manifest')}; choose another --name (or --force to replace them)")
    results = evaluate_model(model, entries, fc, vocab, batch_size=args.batch_size, options=options)
    results["manifest"] = manifest
    write_results(results, out_dir, name=name)
    print(f"{name}: WER {100 * results['wer']:.2f} %  CER {100 * results['cer']:.2f} %  "
          f"({results['num_utterances']} utterances, RTF {results['rtf']:.4f})  -> {out_dir / 'results.json'}")
    return 0


def _floats(text: str, option: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option}: no values")
    return values


def cmd_lm_build(args):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.lm import build_arpa
    from speech_lstm.text import normalize_text

    def sentences():
        for source in args.text:
            path = Path(source)
            if not path.is_file():
                raise ConfigError(f"--text {source}: no such file (a JSONL manifest or a text file, one sentence a line)")
            if path.suffix == ".jsonl":
                yield from (e["text"] for e in read_manifest(path))
            else:
                try:
                    lines = path.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as e:
                    raise ConfigError(f"--text {source}: cannot read it as UTF-8 text ({e})") from e
                yield from (normalize_text(line) for line in lines)

    info = build_arpa(sentences(), args.out, order=args.order, min_count=args.min_count)
    print(f"{args.out}: {info['order']}-gram model from {info['sentences']} sentences ({info['words']} words); "
          f"n-grams per order: {', '.join(map(str, info['ngrams']))}")
    return 0


def cmd_lm_tune(args):
    from speech_lstm.data.manifest import read_manifest
    from speech_lstm.evaluate import collect_logits, tune_lm
    from speech_lstm.lm import read_arpa_header
    from speech_lstm.training import load_run

    alphas, betas = _floats(args.alphas, "--alphas"), _floats(args.betas, "--betas")
    if str(args.lm).endswith(".arpa"):
        read_arpa_header(args.lm)
    elif not Path(args.lm).is_file():
        raise ConfigError(f"--lm {args.lm}: no such file")
    model, fc, vocab = load_run(args.model)
    entries = read_manifest(args.manifest)[: args.limit]
    logits = collect_logits(model, entries, fc, vocab)
    result = tune_lm(logits, [e["text"] for e in entries], vocab, args.lm, alphas, betas, args.beam_width,
                     progress=not args.quiet)
    result["manifest"] = str(Path(args.manifest).resolve())
    out = Path(args.out) if args.out else Path(args.lm).with_suffix(".tune.json")
    out.write_text(json.dumps(result, indent=1))
    print(f"greedy: WER {100 * result['greedy']['wer']:.2f} %  CER {100 * result['greedy']['cer']:.2f} %")
    for g in result["grid"]:
        print(f"alpha {g['alpha']:<5g} beta {g['beta']:<5g} WER {100 * g['wer']:6.2f} %  CER {100 * g['cer']:6.2f} %")
    b = result["best"]
    print(f"best: --alpha {b['alpha']:g} --beta {b['beta']:g}  (WER {100 * b['wer']:.2f} % on {len(entries)} "
          f"utterances)  -> {out}")
    return 0


def _output_path(path: Path, root: Path, out_dir: Path, fmt: str) -> Path:
    from speech_lstm.writers import EXTENSIONS

    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        rel = Path(path.name)
    return out_dir / rel.with_suffix(EXTENSIONS[fmt])


def cmd_transcribe(args):
    from speech_lstm.segment import SegmentOptions
    from speech_lstm.transcribe import expand_inputs, load_recognizer, read_list_file, transcribe_files
    from speech_lstm.writers import format_transcript, write_transcript

    items = list(args.inputs) + (read_list_file(args.inputs_from) if args.inputs_from else [])
    if not items:
        raise ConfigError("no inputs: give audio files, directories or patterns, or --inputs-from FILE")
    paths, problems = expand_inputs(items)
    if len(paths) > 1 and args.format in ("json", "srt", "vtt") and not args.output_dir:
        raise ConfigError(f"--format {args.format} writes one document per input: give --output-dir "
                          f"for {len(paths)} inputs (or use --format jsonl)")
    for item, reason in problems:
        _err(f"{item}: {reason}")
    segment_options = SegmentOptions(max_seconds=args.max_segment_seconds)
    recognizer = load_recognizer(args.model)
    if args.emission_lag is not None:
        recognizer.emission_lag = args.emission_lag
    out_dir = Path(args.output_dir) if args.output_dir else None
    existing = [str(p.resolve().parent) for p in paths if p.is_file()]
    root = Path(os.path.commonpath(existing)) if existing else Path.cwd()  # output tree mirrors the inputs
    failed, written = len(problems), 0
    results = transcribe_files(recognizer, paths, _decode_options(args), batch_size=args.batch_size,
                               segment_options=segment_options, progress=False if args.quiet else None)
    for path, result in results:
        if isinstance(result, SpeechLSTMError):
            _err(str(result))
            failed += 1
        elif out_dir is not None:
            write_transcript(result, _output_path(path, root, out_dir, args.format), args.format)
            written += 1
        else:
            text = format_transcript(result, args.format)
            if args.format == "txt" and len(paths) > 1:
                text = f"{path}\t{text}"
            print(text, end="" if text.endswith("\n") else "\n", flush=True)
    if out_dir is not None:
        print(f"wrote {written} {args.format} file(s) under {out_dir}", file=sys.stderr)
    return 1 if failed else 0


def cmd_export(args):
    from speech_lstm.export import export_saved_model

    out = export_saved_model(args.model, args.out, beam_width=args.beam_width, top_paths=args.top_paths,
                             force=args.force, emission_lag=args.emission_lag)
    print(f"exported {args.model} -> {out}  (signatures: serving_default, beam_search; "
          f"inspect with: saved_model_cli show --dir {out} --all)")
    return 0


def _music_rolls(args, representation: str = "roll"):
    from speech_lstm.music.corpus import load_jsb, split_rolls

    if args.jsb:
        if representation == "tokens":
            raise ConfigError(f"--jsb {args.jsb}: a JSB file holds quarter-note rolls only; a token model needs "
                              "the voices and 16th-note rhythm of the music21 corpus (drop --jsb)")
        return load_jsb(args.jsb)
    return split_rolls(args.cache, args.split, progress=not getattr(args, "quiet", False),
                       representation=representation)


def cmd_music_prepare(args):
    from speech_lstm.music.corpus import load_bach_chorales, piano_roll, split_chorales, write_split

    chorales = load_bach_chorales(args.cache, progress=not args.quiet)
    split = split_chorales(chorales, seed=args.seed)
    write_split(split, args.split_out)
    by_name = {c.name: c for c in chorales}
    for k, names in split.items():
        print(f"{k}: {len(names)} chorales, {sum(len(piano_roll(by_name[n])) for n in names)} quarter-note frames")
    print(f"split -> {args.split_out}")
    return 0


def cmd_music_train(args):
    import yaml

    from speech_lstm.music.model import MusicModelConfig, train_music_model

    try:
        section = yaml.safe_load(Path(args.config).read_text())[args.model]
        config = MusicModelConfig(**section)
    except (OSError, KeyError, TypeError) as e:
        raise ConfigError(f"{args.config}: no usable '{args.model}' section ({e})") from e
    data = _music_rolls(args, "tokens" if config.kind == "token" else "roll")
    state = train_music_model(data["train"], data["valid"], config, args.run_dir, progress=not args.quiet)
    print(json.dumps(state))
    return 0


def cmd_gates(args):
    from speech_lstm.gates import inspect
    from speech_lstm.plots import plot_gates

    fmt = args.format or ("npz" if args.out.endswith(".npz") else "png")
    if not args.out.endswith("." + fmt):
        raise ConfigError(f"--out {args.out}: expected a .{fmt} file name" + (f" (--format {fmt})" if args.format else ""))
    try:
        units = [int(u) for u in args.units.split(",")] if args.units else None
    except ValueError:
        raise ConfigError(f"--units {args.units!r}: expected comma-separated unit numbers, e.g. 0,5,17") from None
    trace = inspect(args.model, args.input, layer=args.layer)
    if args.direction not in trace.directions:
        raise ConfigError(f"--direction {args.direction}: {trace.layer} has only {', '.join(trace.directions)}")
    if fmt == "npz":
        out = trace.to_npz(args.out)
    else:
        out = plot_gates(trace, args.out, direction=args.direction, units=units, top=args.top, sort=args.sort)
    h = trace.directions["forward"]["h"]
    print(json.dumps({"out": str(out), "layer": trace.layer, "directions": list(trace.directions), "steps": h.shape[0],
                      "units": h.shape[1], "text": trace.text, "reference_max_abs_diff": trace.max_abs_diff}))
    return 0


def _load_music_model(path):
    import keras

    path = Path(path)
    path = path / "best.keras" if path.is_dir() else path
    if not path.exists():
        raise ConfigError(f"--model {path}: not found (a music run directory or its best.keras)")
    return keras.saving.load_model(path)


def _is_token_model(model) -> bool:
    return model.name == "token_lstm"


def cmd_music_evaluate(args):
    from speech_lstm.music.metrics import frame_accuracy, frame_nll
    from speech_lstm.music.model import predict_rolls, token_nll

    model = _load_music_model(args.model)
    if _is_token_model(model):
        print(json.dumps({"part": args.part, **token_nll(model, _music_rolls(args, "tokens")[args.part])}))
        return 0
    rolls = _music_rolls(args)[args.part]
    probs = predict_rolls(model, rolls)
    print(json.dumps({"part": args.part, **frame_nll(rolls, probs), "frame_accuracy": frame_accuracy(rolls, probs)}))
    return 0


def _read_score(path, option):
    from speech_lstm.music.corpus import read_score

    try:
        return read_score(path)
    except ParameterError as e:
        raise ConfigError(f"{option} {e}") from e


def cmd_music_generate(args):
    import numpy as np

    from speech_lstm.music.corpus import TokenVocabulary, decode_tokens, encode_tokens, piano_roll
    from speech_lstm.music.render import render_notes, render_roll
    from speech_lstm.music.sample import primer_tokens, sample_roll, sample_tokens, soprano_tokens

    model = _load_music_model(args.model)
    if not _is_token_model(model):
        if args.top_k or args.top_p or args.soprano:
            raise ConfigError("--top-k, --top-p and --soprano need a token model (kind: token); "
                              f"{args.model} is a piano-roll model (keys drawn independently or key by key)")
        if args.primer:
            primer = piano_roll(_read_score(args.primer, "--primer"))[: args.primer_frames]
        else:
            primer = np.zeros((1, 88), bool)
            primer[0, [48 - 21, 55 - 21, 64 - 21, 72 - 21]] = True  # a C major chord
        for k in range(args.count):
            roll = sample_roll(model, primer, args.frames, args.temperature, seed=args.seed + k)
            paths = render_roll(roll, Path(args.out) / f"sample_{k:02d}", primer_frames=len(primer),
                                title=f"sample {k} (temperature {args.temperature})")
            print("  ".join(str(p) for p in paths.values()))
        return 0
    spq = TokenVocabulary().steps_per_quarter
    soprano = None
    if args.soprano:
        if args.primer:
            raise ConfigError("--soprano and --primer conflict: a harmonisation starts from the melody's first note")
        soprano = soprano_tokens(_read_score(args.soprano, "--soprano").notes)
        primer, steps = [TokenVocabulary.BOS], len(soprano)
    elif args.primer:
        primer = primer_tokens(encode_tokens(_read_score(args.primer, "--primer")), args.primer_frames)
        steps = args.frames * spq
    else:
        primer = encode_tokens([(0, 72, 0.0, 1.0), (1, 64, 0.0, 1.0), (2, 55, 0.0, 1.0), (3, 48, 0.0, 1.0)])[:-1]
        steps = args.frames * spq
    primer_q = (len(primer) - 1) / (TokenVocabulary().num_voices + 1) / spq
    for k in range(args.count):
        tokens = sample_tokens(model, primer, steps, args.temperature, top_k=args.top_k, top_p=args.top_p,
                               seed=args.seed + k, soprano=soprano)
        what = "harmonisation" if soprano else "sample"
        paths = render_notes(decode_tokens(tokens), Path(args.out) / f"{what}_{k:02d}", primer_quarters=primer_q,
                             title=f"{what} {k} (temperature {args.temperature}, top-k {args.top_k}, top-p {args.top_p})")
        print("  ".join(str(p) for p in paths.values()))
    return 0


def cmd_tts_corpus(args):
    from speech_lstm.tts.corpus import synthesize_tts_corpus
    from speech_lstm.tts.training import load_tts_config

    config = load_tts_config(args.config, args.set)
    manifests = synthesize_tts_corpus(args.out, config.corpus, workers=args.workers, progress=not args.quiet)
    print(json.dumps({k: str(v) for k, v in manifests.items()}))
    return 0


def cmd_tts_train(args):
    from speech_lstm.tts.training import load_tts_config, train_tts

    summary = train_tts(load_tts_config(args.config, args.set), args.run_dir, force=args.force,
                        progress=not args.quiet)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_tts_synthesize(args):
    from speech_lstm.audio import write_audio
    from speech_lstm.tts.synthesize import Synthesizer

    if (args.text is None) == (args.text_file is None):
        raise ConfigError("give a text or --text-file (one sentence per line), not both")
    out = Path(args.out)
    if args.text is not None:
        if out.suffix.lower() not in (".wav", ".flac"):
            raise ConfigError(f"--out {out}: expected a .wav or .flac file name")
        jobs = [(args.text, out)]
    else:
        if out.suffix:
            raise ConfigError(f"--out {out}: with --text-file, --out is a folder (one WAV per line)")
        try:
            lines = [line.strip() for line in Path(args.text_file).read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--text-file {args.text_file}: cannot read it ({e})") from e
        texts = [line for line in lines if line]
        if not texts:
            raise ConfigError(f"--text-file {args.text_file}: no text in it")
        jobs = [(text, out / f"{i:04d}.wav") for i, text in enumerate(texts, 1)]
    synthesizer = Synthesizer(args.model)
    failed = 0
    for line, (text, path) in enumerate(jobs, 1):
        try:
            result = synthesizer(text)
        except ParameterError as e:  # nothing to say in this line: reported, the rest go on
            _err(f"sentence {line}: {e}")
            failed += 1
            continue
        write_audio(path, result.audio, result.sample_rate, subtype="PCM_16")
        if args.plot and line == 1:
            from speech_lstm.plots import plot_mel_comparison

            plot_mel_comparison(None, result.mel, args.plot, synthesizer.mel_spec.hop_seconds, title=text)
        print(json.dumps({"out": str(path), "text": text, "seconds": round(len(result.audio) / result.sample_rate, 3),
                          "phonemes": " ".join(result.phonemes),
                          "synthesis_seconds": {stage: round(s, 3) for stage, s in result.seconds.items()},
                          "real_time_factor": round(result.real_time_factor, 3)}), flush=True)
    return 1 if failed else 0


def cmd_tts_evaluate(args):
    from speech_lstm.tts.corpus import read_tts_manifest
    from speech_lstm.tts.evaluate import evaluate_tts
    from speech_lstm.tts.synthesize import Synthesizer

    results = evaluate_tts(Synthesizer(args.model), read_tts_manifest(args.manifest), args.out, limit=args.limit,
                           workers=args.workers, recognizer=args.recognizer, progress=not args.quiet)
    print(json.dumps({k: v for k, v in results.items() if k != "utterances"}, indent=1))
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ones and where the help text already states its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpFormatter
    parser = argparse.ArgumentParser(prog="speech-lstm", description="LSTM speech toolkit", formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)

    for kind, what, sizes, words in (("digits", "a spoken-digits corpus", (4000, 300, 500), (1, 7)),
                                     ("sentences", "an English sentences corpus", (10000, 500, 500), (4, 14))):
        p = sub.add_parser(f"synth-{kind}", help=f"synthesize {what} with eSpeak NG (or a flite dev set)",
                           formatter_class=fmt)
        p.add_argument("--out", required=True, help="output folder (WAVs + train/dev/test.jsonl)")
        p.add_argument("--engine", choices=["espeak", "flite"], default="espeak",
                       help="flite: an out-of-domain dev set (dev.jsonl) with Debian's flite voices, never for training")
        p.add_argument("--num-train", type=int, default=None, help=f"(default {sizes[0]})")
        p.add_argument("--hours", type=float, default=None,
                       help=f"training audio in hours instead of --num-train (about {MEAN_SECONDS[kind]} s each)")
        p.add_argument("--num-dev", type=int, default=sizes[1])
        p.add_argument("--num-test", type=int, default=None, help=f"(default {sizes[2]})")
        p.add_argument("--min-words", type=int, default=words[0],
                       help="fewest words" + (" of a plain word run (templates set their own)" if kind != "digits" else ""))
        p.add_argument("--max-words", type=int, default=words[1])
        if kind == "sentences":
            p.add_argument("--vocab-size", type=int, default=10000,
                           help="the most frequent English words (wordfreq) the text covers")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--channel-prob", type=float, default=0.0,
                       help="chance of a random channel on each training utterance (formant scaling, tilt, EQ, "
                            "band limits, codecs, babble / coloured noise); the recipes train with 0.7")
        p.add_argument("--pause-prob", type=float, default=0.0,
                       help="chance that a training utterance is read with pauses and phrase intonation")
        p.add_argument("--random-voices", type=int, default=0,
                       help="random eSpeak NG voice variants (up to 200) reading half the training utterances")
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--force", action="store_true", help="redo even if the corpus exists")
        p.add_argument("--quiet", action="store_true")
        p.set_defaults(func=cmd_synth, text=kind, default_train=sizes[0], default_test=sizes[2])

    p = sub.add_parser("add-noise", help="copy a corpus with babble or coloured noise mixed in at given SNRs",
                       formatter_class=fmt)
    p.add_argument("manifest")
    p.add_argument("--out", required=True, help="output folder: one <noise><snr>db/ folder per SNR")
    p.add_argument("--noise", choices=["babble", "white", "pink", "brown"], default="babble")
    p.add_argument("--snr", type=float, nargs="+", default=[10.0], help="signal-to-noise ratios in dB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_add_noise)

    p = sub.add_parser("validate", help="check manifests: audio, transcripts, vocabulary, durations", formatter_class=fmt)
    p.add_argument("manifests", nargs="+")
    p.add_argument("--decode-audio", action="store_true", help="decode every file (catches silent/NaN audio)")
    p.add_argument("--min-duration", type=float, default=0.05)
    p.add_argument("--max-duration", type=float, default=60.0)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="turn a corpus (LibriSpeech, Common Voice, LJSpeech, FSDD, Speech Commands, "
                       "TIMIT, a NeMo manifest, a folder of audio + .txt) into JSONL manifests", formatter_class=fmt,
                       description="Writes <out>/<split>.jsonl per split and import_report.json (kept and dropped "
                       "utterances by reason). Bad items are dropped and counted, never fatal: exit 0; 1 when a split "
                       "kept nothing; 2 when SRC lacks the corpus layout. The layouts: "
                       "speech_lstm/data/importers.py.")
    p.add_argument("corpus", choices=IMPORT_CORPORA)
    p.add_argument("src", help="the corpus folder (nemo: the JSONL manifest)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--subsets", nargs="+", default=None, help="librispeech: subset folders (default: all found)")
    p.add_argument("--splits", nargs="+", default=None,
                   help="common_voice: the <name>.tsv tables to import (default: train dev test)")
    p.add_argument("--dev", type=int, default=None, help="ljspeech: utterances held out into dev.jsonl (default 0)")
    p.add_argument("--test", type=int, default=None, help="ljspeech: utterances held out into test.jsonl (default 0)")
    p.add_argument("--seed", type=int, default=None, help="ljspeech: seed of the dev/test draw (default 0)")
    p.add_argument("--include-sa", action="store_true", default=None, help="timit: keep the SA sentences")
    p.add_argument("--split", default=None,
                   help="nemo, folder: the output manifest's name (default: the source manifest's name; train)")
    p.add_argument("--min-duration", type=float, default=0.0, help="seconds; shorter utterances are dropped")
    p.add_argument("--max-duration", type=float, default=None, help="seconds; longer utterances are dropped")
    p.add_argument("--workers", type=int, default=4, help="threads reading audio headers")
    p.add_argument("--force", action="store_true", help="redo even if the import is up to date")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("features", help="a feature store: features computed once into sharded TFRecord files",
                       formatter_class=fmt)
    fsub = p.add_subparsers(dest="features_command", required=True)
    q = fsub.add_parser("extract", help="featurize a manifest into sharded TFRecords with an index (resumes; "
                                        "train from it with train.feature_store)", formatter_class=fmt)
    q.add_argument("manifest")
    q.add_argument("--out", required=True, help="store directory")
    q.add_argument("--config", default=None, help="YAML config whose features: section to use (default: defaults)")
    q.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config option")
    q.add_argument("--workers", type=int, default=2, help="worker processes (one shard each at a time)")
    q.add_argument("--shard-size", type=int, default=1000, help="utterances per shard")
    q.add_argument("--force", action="store_true", help="redo every shard")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_features_extract)

    p = sub.add_parser("train", help="train a BiLSTM-CTC recognizer", formatter_class=fmt)
    p.add_argument("--config", required=True, help="YAML config (recipes/<name>/configs/*.yaml)")
    p.add_argument("--run-dir", required=True, help="run directory (resumes if interrupted)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config option")
    p.add_argument("--force", action="store_true", help="start over even if the run directory holds a run")
    from speech_lstm.config import STRATEGIES

    p.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="tf.distribute: one device, all local GPUs, or the workers in TF_CONFIG; overrides "
                        "train.strategy (default: the config's; docs/distributed.md)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    def add_decode(p):
        p.add_argument("--beam-width", type=int, default=None, help="beam search with this width (default: greedy)")
        p.add_argument("--words", default=None,
                       help="closed vocabulary, comma-separated (e.g. zero,oh,one,...): only these words can come out "
                            "(a lexicon-constrained beam search, width --beam-width or 16)")
        p.add_argument("--lexicon", default=None, help="like --words, from a file with one word per line")
        p.add_argument("--lm", default=None, metavar="FILE",
                       help="word n-gram language model (ARPA, e.g. from `speech-lstm lm build`) for a beam search "
                            "with pyctcdecode + KenLM (width --beam-width or 64)")
        p.add_argument("--alpha", type=float, default=None, help="LM weight (default 0.5; tune with `lm tune`)")
        p.add_argument("--beta", type=float, default=None, help="bonus per word (default 1.0)")
        p.add_argument("--hot-words", default=None, metavar="WORD:BOOST,...",
                       help="words to favour, e.g. 'kubernetes:10,lstm:6' (log-score bonus; 8 when no :BOOST)")
        p.add_argument("--batch-size", type=int, default=32)

    p = sub.add_parser("lm", help="word n-gram language models: build one from text, tune its weights on dev data",
                       formatter_class=fmt)
    lm_sub = p.add_subparsers(dest="lm_command", required=True)
    q = lm_sub.add_parser("build", help="estimate an interpolated Kneser-Ney n-gram model (ARPA)", formatter_class=fmt)
    q.add_argument("--text", nargs="+", required=True,
                   help="JSONL manifests (their transcripts) and/or text files (one sentence a line)")
    q.add_argument("--out", required=True, help="the .arpa file to write")
    q.add_argument("--order", type=int, default=3)
    q.add_argument("--min-count", type=int, default=1, help="drop highest-order n-grams seen fewer times")
    q.set_defaults(func=cmd_lm_build)
    q = lm_sub.add_parser("tune", help="grid-search the LM weight and word bonus on a dev manifest",
                          formatter_class=fmt)
    q.add_argument("--model", required=True, help="run directory or .keras file (a character model)")
    q.add_argument("--manifest", required=True, help="dev manifest (never the test split)")
    q.add_argument("--lm", required=True)
    q.add_argument("--alphas", default="0.25,0.5,0.75,1.0,1.5")
    q.add_argument("--betas", default="0,1,2,3")
    q.add_argument("--beam-width", type=int, default=64)
    q.add_argument("--limit", type=int, default=300, help="first N utterances of the manifest")
    q.add_argument("--out", default=None, help="results JSON (default: next to the LM, <name>.tune.json)")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_lm_tune)

    p = sub.add_parser("evaluate", help="WER/CER of a model on a manifest", formatter_class=fmt)
    p.add_argument("--model", required=True, help="run directory or .keras file")
    p.add_argument("--manifest", required=True)
    p.add_argument("--name", default=None, help="key of these results in results.json (default: the manifest's name)")
    p.add_argument("--force", action="store_true", help="replace results of that name computed on another manifest")
    p.add_argument("--out-dir", default=None, help="where results.json goes (default: the run directory)")
    add_decode(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transcribe", help="transcribe audio files (any length)", formatter_class=fmt)
    p.add_argument("inputs", nargs="*", help="audio files, directories (searched recursively) or glob patterns")
    p.add_argument("--inputs-from", metavar="FILE", help="a text file listing inputs, one per line")
    p.add_argument("--model", required=True, help="exported SavedModel directory, run directory or .keras file")
    p.add_argument("--format", choices=FORMATS, default="txt")
    p.add_argument("--output-dir", help="write one file per input here (mirrors the input folders)")
    p.add_argument("--top-paths", type=int, default=1, help="n-best size (needs --beam-width)")
    p.add_argument("--max-segment-seconds", type=float, default=20.0,
                   help="longer files are cut in pauses into segments of at most this length")
    p.add_argument("--emission-lag", type=float, default=None,
                   help="seconds to move word starts back by (default: the export's calibrated value, else 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_decode(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("export", help="export a model as a TensorFlow SavedModel (raw audio in, text out)",
                       formatter_class=fmt)
    p.add_argument("model", help="run directory or .keras file")
    p.add_argument("--out", required=True, help="SavedModel directory to create")
    p.add_argument("--beam-width", type=int, default=16, help="beam width of the beam_search signature")
    p.add_argument("--top-paths", type=int, default=4, help="n-best size of the beam_search signature")
    p.add_argument("--emission-lag", type=float, default=0.0,
                   help="seconds to move word starts back by (from calibrate_emission_lag)")
    p.add_argument("--force", action="store_true", help="replace an existing export")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("gates", help="plot (or save) an LSTM layer's gates and cell state over an input",
                       formatter_class=fmt)
    p.add_argument("model", help="recognizer (run directory or .keras) or music model (run directory or .keras)")
    p.add_argument("input", help="audio file (recognizer) or MIDI / MusicXML score (music model)")
    p.add_argument("--layer", type=int, default=0, help="which LSTM layer, from 0")
    p.add_argument("--direction", choices=("forward", "backward"), default="forward",
                   help="direction of a bidirectional layer to plot (npz holds both)")
    p.add_argument("--units", default=None, help="comma-separated unit indices to plot (default: --top)")
    p.add_argument("--top", type=int, default=32, help="how many units to plot (ranked by --sort)")
    p.add_argument("--sort", choices=("variance", "change"), default="variance",
                   help="rank units by the cell state's variance (slow drifts, counters) or by how much its "
                        "frame-to-frame steps vary (units that react to events)")
    p.add_argument("--format", choices=("png", "npz"), default=None, help="default: from --out's suffix")
    p.add_argument("--out", required=True, help="gates.png, or .npz for the arrays")
    p.set_defaults(func=cmd_gates)

    music = sub.add_parser("music", help="LSTMs on symbolic music (Bach chorales)", formatter_class=fmt)
    msub = music.add_subparsers(dest="music_command", required=True)

    def add_data(p):
        p.add_argument("--cache", default="recipes/bach_chorales/data/cache", help="parsed-corpus cache folder")
        p.add_argument("--split", default="recipes/bach_chorales/split.json", help="train/valid/test file list")
        p.add_argument("--jsb", default=None, help="use a public JSB Chorales file (.json or .mat) instead")

    p = msub.add_parser("prepare", help="parse the Bach chorales (cached) and write a split", formatter_class=fmt)
    p.add_argument("--cache", default="recipes/bach_chorales/data/cache")
    p.add_argument("--split-out", default="split.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_music_prepare)

    p = msub.add_parser("train", help="train a piano-roll or token LSTM (resumes)", formatter_class=fmt)
    p.add_argument("--config", default="recipes/bach_chorales/configs/default.yaml")
    p.add_argument("--model", choices=["roll", "pitch", "token"], default="roll", help="the config section to train")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--quiet", action="store_true")
    add_data(p)
    p.set_defaults(func=cmd_music_train)

    p = msub.add_parser("evaluate", help="NLL (nats/frame) and frame accuracy, JSB-style; nats/token for token models",
                        formatter_class=fmt)
    p.add_argument("--model", required=True, help="music run directory or .keras file")
    p.add_argument("--part", choices=["train", "valid", "test"], default="test")
    add_data(p)
    p.set_defaults(func=cmd_music_evaluate)

    p = msub.add_parser("generate", help="sample pieces: MIDI, MusicXML, WAV, PNG", formatter_class=fmt)
    p.add_argument("--model", required=True, help="music run directory or .keras file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--primer", default=None, help="a MIDI or MusicXML file to continue (default: a C major chord)")
    p.add_argument("--primer-frames", type=int, default=4, help="quarter notes of the primer to keep")
    p.add_argument("--frames", type=int, default=64, help="quarter notes to generate")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None, help="token models: sample among the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="token models: nucleus sampling mass")
    p.add_argument("--soprano", default=None,
                   help="token models: harmonise this melody (MIDI/MusicXML; its top voice) instead of continuing")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_music_generate)

    tts = sub.add_parser("tts", help="text-to-speech with duration and acoustic LSTMs (one eSpeak NG voice)",
                         formatter_class=fmt)
    tsub = tts.add_subparsers(dest="tts_command", required=True)
    p = tsub.add_parser("corpus", help="synthesize a config's TTS corpus (sentences, phonemes, alignments)",
                        formatter_class=fmt)
    p.add_argument("--config", default="recipes/tts/configs/default.yaml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--out", required=True, help="corpus folder")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tts_corpus)
    p = tsub.add_parser("train", help="train the duration and acoustic models (resumes)", formatter_class=fmt)
    p.add_argument("--config", default="recipes/tts/configs/default.yaml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--force", action="store_true", help="start over even if the run finished")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tts_train)
    p = tsub.add_parser("synthesize", help="speak a text (or every line of a file) with a trained voice",
                        formatter_class=fmt)
    p.add_argument("text", nargs="?", default=None)
    p.add_argument("--text-file", default=None, help="one sentence per line, each to its own WAV in --out")
    p.add_argument("--model", required=True, help="a TTS run directory")
    p.add_argument("--out", required=True, help="speech.wav (or .flac); with --text-file a folder")
    p.add_argument("--plot", default=None, help="also save the (first) predicted mel spectrogram as this PNG")
    p.set_defaults(func=cmd_tts_synthesize)
    p = tsub.add_parser("evaluate", help="MCD, duration error, PocketSphinx WER and speed on a TTS manifest",
                        formatter_class=fmt)
    p.add_argument("manifest", help="a TTS corpus manifest, e.g. data/tts/test.jsonl")
    p.add_argument("--model", required=True, help="a TTS run directory")
    p.add_argument("--out", required=True, help="folder for the WAVs and results.json")
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    p.add_argument("--recognizer", default=None, help="also score with this speech_lstm recognizer (export or run)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tts_evaluate)
    return parser


def main(argv=None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "transcribe" and getattr(args, "top_paths", 1) > 1 and args.beam_width is None:
        parser.error("--top-paths needs --beam-width")
    if getattr(args, "beam_width", None) is not None and args.beam_width < 1:
        parser.error("--beam-width must be >= 1")
    if getattr(args, "batch_size", 1) < 1:
        parser.error("--batch-size must be >= 1")
    try:
        return args.func(args)
    except (ConfigError, ParameterError) as e:
        _err(str(e))
        return 2
    except SpeechLSTMError as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
