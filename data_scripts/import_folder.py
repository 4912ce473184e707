#!/usr/bin/env python
"""Import A folder of audio files (wav/flac/mp3/ogg), each with a same-named .txt transcript, searched recursively.

    python data_scripts/import_folder.py /data/my_recordings --out data/mine --split test

Same as ``speech-lstm import folder``; writes <out>/<split>.jsonl and import_report.json.
"""

import sys

from speech_lstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["import", "folder", *sys.argv[1:]]))
