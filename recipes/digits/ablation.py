#!/usr/bin/env python
"""The generalization ablation table from finished runs of this recipe.

    python recipes/digits/run.py --config baseline   # the default until 2026-11-30
    python recipes/digits/run.py --config channel    # + random channels on the training audio
    python recipes/digits/run.py --config logmel     # + log-mel front end
    python recipes/digits/run.py --config words      # + word-level output
    python recipes/digits/run.py --config words_mfcc # channel + word-level output, MFCC
    python recipes/digits/run.py --config robust     # words on stronger randomization (12,000 utterances)
    python recipes/digits/run.py --config specaug    # channel + stronger SpecAugment
    python recipes/digits/run.py --config voices     # channel + random eSpeak NG voice variants, phrasing
    python recipes/digits/run.py --config robust_chars  # the channel model on the robust corpus
    python recipes/digits/run.py                     # the default: the words config again (run-to-run noise)
    python recipes/digits/ablation.py                # the table (markdown), from exp/*/results.json

Each row is one run; WER on the eSpeak NG test split (unseen voices), on the flite set (all
voices and per voice) and on the flite set in babble at 10 dB SNR, greedy and with the decoder
constrained to the digit words (character models; a word-level model can only write them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = [("baseline", "eSpeak NG voices, speed, echo, reverb, MFCC, characters"),
         ("channel", "+ random channels on 70 % of training audio"),
         ("logmel", "+ log-mel front end"),
         ("words", "+ word-level CTC output"),
         ("words_mfcc", "`channel` + word-level output, MFCC (no log-mel)"),
         ("robust", "`words` on stronger randomization: channel on 90 %, formants 0.82-1.28, babble of 2-8 "
                    "talkers at 0-25 dB, 12,000 utterances"),
         ("specaug", "`channel` + stronger SpecAugment (6 time masks of up to 6 %, frequency masks up to 8)"),
         ("voices", "`channel` + 200 random eSpeak NG voice variants reading half the training utterances, "
                    "30 % read with pauses"),
         ("robust_chars", "`channel` (characters, MFCC) on the `robust` corpus, 6 epochs"),
         ("default", "the recipe's default: `words` again (a second run of the same config)")]


def _pct(r):
    return f"{100 * r['wer']:.2f}" if r else "–"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", default=str(HERE / "exp"), help="folder of the runs")
    args = parser.parse_args(argv)
    rows = []
    voices = None
    for name, what in STEPS:
        path = Path(args.exp) / name / "results.json"
        if not path.exists():
            print(f"({name}: no {path}; run `python recipes/digits/run.py --config {name}`)", file=sys.stderr)
            continue
        r = json.loads(path.read_text())
        flite = r.get("flite_words") or r.get("flite")
        voices = voices or sorted((flite or {}).get("per_speaker_wer", {}))
        per_voice = [f"{100 * flite['per_speaker_wer'][v]:.1f}" if flite else "–" for v in voices]
        rows.append([f"`{name}`: {what}", _pct(r.get("test")), _pct(r.get("test_words")), _pct(r.get("flite")),
                     _pct(r.get("flite_words")), *per_voice, _pct(r.get("flite_babble10db")),
                     _pct(r.get("flite_babble10db_words"))])
    if not rows:
        print("no finished runs found", file=sys.stderr)
        return 1
    head = ["run", "eSpeak test", "eSpeak test, words", "flite", "flite, words",
            *[f"flite {v}, words" for v in voices or []], "flite + babble 10 dB", "flite + babble 10 dB, words"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" + "---:|" * (len(head) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
