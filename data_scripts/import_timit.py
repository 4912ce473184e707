#!/usr/bin/env python
"""Import TIMIT (<root>/{TRAIN,TEST}/<dialect>/<speaker>/<utt>.{WAV,TXT}, any case): train/test, SA sentences left out.

    python data_scripts/import_timit.py /data/TIMIT --out data/timit

Same as ``speech-lstm import timit``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "timit", *sys.argv[1:]]))
