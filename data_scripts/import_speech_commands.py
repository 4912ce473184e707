#!/usr/bin/env python
"""Import Google Speech Commands (<root>/<word>/*.wav + validation_list.txt, testing_list.txt): train/dev/test.

    python data_scripts/import_speech_commands.py /data/speech_commands_v0.02 --out data/speech_commands

Same as ``speech-lstm import speech_commands``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "speech_commands", *sys.argv[1:]]))
