#!/usr/bin/env python
"""Import LibriSpeech (<root>/<subset>/<speaker>/<chapter>/*.trans.txt + .flac): one manifest per subset.

    python data_scripts/import_librispeech.py /data/LibriSpeech --out data/librispeech --subsets train-clean-100 dev-clean test-clean

Same as ``speech-lstm import librispeech``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "librispeech", *sys.argv[1:]]))
