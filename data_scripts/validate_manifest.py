#!/usr/bin/env python
"""Check manifests before training: missing/unreadable audio, empty transcripts, characters
outside the vocabulary, durations out of bounds. Same as ``speech-lstm validate``.

    python data_scripts/validate_manifest.py data/digits/train.jsonl --decode-audio
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
