#!/usr/bin/env python
"""Import Free Spoken Digit Dataset (<root>/recordings/<digit>_<speaker>_<index>.wav): index 0-4 test, the rest train.

    python data_scripts/import_fsdd.py /data/free-spoken-digit-dataset --out data/fsdd

Same as ``speech-lstm import fsdd``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "fsdd", *sys.argv[1:]]))
