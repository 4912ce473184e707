#!/usr/bin/env python
"""Synthesize a connected spoken-digits corpus with eSpeak NG, split by voice.

    python data_scripts/synth_digits.py --out data/digits --num-train 6000 --num-dev 400 --num-test 600

Same as ``speech-lstm synth-digits``; writes 16 kHz WAVs and train/dev/test.jsonl manifests.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth-digits", *sys.argv[1:]]))
