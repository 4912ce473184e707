#!/usr/bin/env python
"""Import Mozilla Common Voice (<root>/{train,dev,test}.tsv + clips/*.mp3): one manifest per table.

    python data_scripts/import_common_voice.py /data/cv-corpus/en --out data/cv_en --max-duration 15

Same as ``speech-lstm import common_voice``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "common_voice", *sys.argv[1:]]))
