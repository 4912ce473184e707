#!/usr/bin/env python
"""Bach chorales, end to end: parse the music21 corpus -> piano rolls and voice token streams ->
baselines -> two piano-roll LSTMs and a token LSTM -> benchmark-style evaluation -> generated
and harmonised chorales (MIDI, MusicXML, WAV, PNG) and their statistics.

    python recipes/bach_chorales/run.py                  # default config
    python recipes/bach_chorales/run.py --config debug   # a smoke run of every stage

Every section of the config with a ``kind`` is a model to train, in order (default: ``roll``,
``nade``, ``token``). Outputs go to ``exp/<config>/``: one run folder per model (best.keras,
train_log.jsonl; re-running resumes or skips finished training), ``generated/``,
``results.json`` and ``RESULTS.md``. The split is ``split.json`` (melody groups never cross splits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent

# Published test NLL (nats per frame) on the JSB Chorales benchmark, for context.
PUBLISHED = [
    ("RNN-NADE (Boulanger-Lewandowski et al. 2012)", 5.56),
    ("TCN (Bai et al. 2018)", 8.10),
    ("LSTM (Bai et al. 2018)", 8.45),
    ("LSTM (Chung et al. 2014)", 8.67),
]


def stage(name):
    print(f"\n=== {name} ===", flush=True)
    return time.perf_counter()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="default", help="a name in configs/ or a YAML path")
    args = parser.parse_args(argv)
    os.chdir(HERE)
    import keras
    import numpy as np
    import yaml

    from speech_lstm.errors import SpeechLSTMError
    from speech_lstm.music.corpus import decode_tokens, read_split, split_rolls
    from speech_lstm.music.metrics import (MarkovBaseline, UnigramBaseline, compare_statistics, format_report,
                                           frame_accuracy, frame_nll)
    from speech_lstm.music.model import MusicModelConfig, predict_rolls, token_nll, train_music_model
    from speech_lstm.music.render import render_notes, render_roll
    from speech_lstm.music.sample import primer_tokens, sample_roll, sample_tokens, soprano_tokens

    config_path = Path(args.config) if args.config.endswith(".yaml") else HERE / "configs" / f"{args.config}.yaml"
    try:
        cfg = yaml.safe_load(config_path.read_text())
        models = {name: MusicModelConfig(**{"seed": cfg.get("seed", 0), **section})
                  for name, section in cfg.items() if isinstance(section, dict) and "kind" in section}
        if not models:
            raise KeyError("no model sections (a mapping with a 'kind')")
    except (OSError, TypeError, KeyError, SpeechLSTMError) as e:
        print(f"error: {config_path}: {e}", file=sys.stderr)
        return 2
    out = HERE / "exp" / config_path.stem
    out.mkdir(parents=True, exist_ok=True)
    timings, t_all, results = {}, time.perf_counter(), {}

    t = stage("1. parse the Bach chorales in the music21 wheel (cached): quarter-note piano rolls, 16th-note tokens")
    split = read_split(HERE / "split.json")
    rolls = split_rolls(HERE / "data" / "cache", HERE / "split.json")
    streams = split_rolls(HERE / "data" / "cache", HERE / "split.json", progress=False, representation="tokens")
    for k, rs in rolls.items():
        print(f"{k:5s}: {len(rs)} chorales, {sum(len(r) for r in rs)} frames, {sum(len(x) for x in streams[k])} tokens")
    timings["prepare"] = time.perf_counter() - t

    t = stage("2. baselines")
    for baseline in (UnigramBaseline(), MarkovBaseline()):
        baseline.fit(rolls["train"])
        probs = [baseline.predict(r) for r in rolls["test"]]
        results[type(baseline).__name__] = {"test_nll": frame_nll(rolls["test"], probs)["nll"],
                                            "test_frame_accuracy": frame_accuracy(rolls["test"], probs)}
    timings["baselines"] = time.perf_counter() - t

    trained = {}
    for i, (name, mc) in enumerate(models.items(), start=3):
        t = stage(f"{i}. train the {name} LSTM ({dataclasses.asdict(mc)})")
        data = streams if mc.kind == "token" else rolls
        state = train_music_model(data["train"], data["valid"], mc, out / name)
        model = keras.saving.load_model(out / name / "best.keras")
        log = [json.loads(line) for line in (out / name / "train_log.jsonl").read_text().splitlines()]
        results[f"{name} LSTM"] = {"valid_nll": state["best"], "epochs": state["epoch"], "params": model.count_params(),
                                   "train_minutes": round(sum(r["seconds"] for r in log) / 60, 1)}
        if mc.kind == "token":
            results[f"{name} LSTM"].update({f"test_{k}": v for k, v in token_nll(model, streams["test"]).items()})
        else:
            probs = predict_rolls(model, rolls["test"])
            results[f"{name} LSTM"].update({"test_nll": frame_nll(rolls["test"], probs)["nll"],
                                            "test_frame_accuracy": frame_accuracy(rolls["test"], probs)})
        trained[name] = model
        print(json.dumps(results[f"{name} LSTM"]))
        timings[f"train_{name}"] = time.perf_counter() - t

    t = stage(f"{i + 1}. generate chorales from test primers, harmonise test melodies, compare statistics with the real ones")
    g = cfg["generate"]
    statistics = {}
    for name, model in trained.items():
        pieces = []
        for k in range(g["pieces"]):
            test_k = k % len(rolls["test"])
            title = f"{name} LSTM, sample {k} (primer: {split['test'][test_k]})"
            if models[name].kind == "token":
                primer = primer_tokens(streams["test"][test_k], g["primer_frames"])
                tokens = sample_tokens(model, primer, 4 * g["frames"], g["temperature"], top_p=g.get("top_p"), seed=k)
                notes = decode_tokens(tokens)
                render_notes(notes, out / "generated" / f"{name}_{k:02d}", title=title, primer_quarters=g["primer_frames"])
                pieces.append([(p, o - g["primer_frames"], d) for _, p, o, d in notes if o >= g["primer_frames"]])
            else:
                roll = sample_roll(model, rolls["test"][test_k][: g["primer_frames"]], g["frames"], g["temperature"], seed=k)
                render_roll(roll, out / "generated" / f"{name}_{k:02d}", primer_frames=g["primer_frames"], title=title)
                pieces.append(roll[g["primer_frames"]:])
        if models[name].kind == "token":  # against the real chorales' notes at 16th-note resolution
            real = [[n[1:] for n in decode_tokens(x)] for x in streams["test"]]
        else:  # against the real chorales' quarter-note rolls, the representation the model saw
            real = rolls["test"]
        statistics[name] = compare_statistics(pieces, real)
        if models[name].kind == "token":  # harmonise the soprano of test chorales (Bach's own lines)
            for k in range(g.get("harmonise", 0)):
                melody = decode_tokens(streams["test"][k])
                sop = soprano_tokens([n for n in melody if n[0] == 0])
                tokens = sample_tokens(model, streams["test"][k][:1], len(sop), g["temperature"], top_p=g.get("top_p"),
                                       seed=k, soprano=sop)
                render_notes(decode_tokens(tokens), out / "generated" / f"{name}_harmonisation_{k:02d}",
                             title=f"{name} LSTM harmonises the soprano of {split['test'][k]}")
                render_notes(melody, out / "generated" / f"bach_{k:02d}", title=f"Bach: {split['test'][k]}")
    timings["generate"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all

    report = {"results": results, "statistics": statistics, "published_jsb": dict(PUBLISHED),
              "timings_seconds": {k: round(v, 1) for k, v in timings.items()}}
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    rows = {k: {"test NLL (nats/frame)": v["test_nll"], "frame accuracy": v["test_frame_accuracy"]}
            for k, v in results.items() if "test_nll" in v}
    rows.update({f"published JSB: {k}": {"test NLL (nats/frame)": v} for k, v in PUBLISHED})
    md = ["# Bach chorales: JSB-like (music21 split)", "", format_report(rows), ""]
    tokens_rows = {k: {"test nats/token": v["test_nats_per_token"], "test nats/quarter": v["test_nats_per_quarter"]}
                   for k, v in results.items() if "test_nats_per_token" in v}
    if tokens_rows:
        md += ["16th-note voice tokens (a different target: not comparable with nats/frame)", "",
               format_report(tokens_rows), ""]
    for name, stats in statistics.items():
        md += [f"## Statistics of {name} LSTM samples vs real test chorales", "",
               format_report({k: v for k, v in stats.items() if "histogram" not in k}), "",
               "Histogram overlaps: " + ", ".join(f"{k} {v['overlap']:.3f}" for k, v in stats.items()
                                                  if "histogram" in k), ""]
    md.append(f"Stage times (s): {json.dumps(report['timings_seconds'])}")
    (out / "RESULTS.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
