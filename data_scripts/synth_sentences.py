#!/usr/bin/env python
"""Synthesize an English sentences corpus with eSpeak NG, split by voice: sentence-like word
sequences over the 10,000 most frequent English words, with numbers, dates and times as words.

    python data_scripts/synth_sentences.py --out data/sentences --hours 20 --channel-prob 0.7
    python data_scripts/synth_sentences.py --out data/sentences_flite --engine flite --num-dev 300

Same as ``speech-lstm synth-sentences``; writes 16 kHz WAVs and train/dev/test.jsonl manifests.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth-sentences", *sys.argv[1:]]))
