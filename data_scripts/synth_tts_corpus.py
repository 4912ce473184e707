#!/usr/bin/env python
"""Synthesize a text-to-speech corpus: English sentences spoken by one fixed eSpeak NG voice,
with each sentence's phonemes (eSpeak NG's phonemizer) and the sample where each phoneme starts
(eSpeak NG's phoneme events), split train/dev/test by sentence.

    python data_scripts/synth_tts_corpus.py --config recipes/tts/configs/default.yaml --out data/tts
    python data_scripts/synth_tts_corpus.py --out data/tts_big --set corpus.num_train=10000

Same as ``speech-lstm tts corpus``; writes 22,050 Hz WAVs and train/dev/test.jsonl manifests.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["tts", "corpus", *sys.argv[1:]]))
