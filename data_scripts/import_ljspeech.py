#!/usr/bin/env python
"""Import LJSpeech (<root>/metadata.csv + wavs/): one speaker, normalized transcripts; optional dev/test draw.

    python data_scripts/import_ljspeech.py /data/LJSpeech-1.1 --out data/ljspeech --dev 250 --test 500

Same as ``speech-lstm import ljspeech``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "ljspeech", *sys.argv[1:]]))
