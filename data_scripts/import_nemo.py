#!/usr/bin/env python
"""Import A NeMo-style JSONL manifest (audio_filepath, text, duration, optional offset): normalised and checked.

    python data_scripts/import_nemo.py /data/an4/train_manifest.json --out data/an4 --split train

Same as ``speech-lstm import nemo``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "nemo", *sys.argv[1:]]))
