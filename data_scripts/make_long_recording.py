#!/usr/bin/env python
"""Make a long spoken-digits recording with word timings (speech_lstm.data.long_recording).

    python data_scripts/make_long_recording.py --out /tmp/long30.wav --minutes 30 --seed 0
"""

from __future__ import annotations

import argparse
import sys

from speech_lstm.data.long_recording import build_long_recording, words_json_path
from speech_lstm.errors import ParameterError, SynthesisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="output WAV; the words go to <stem>.words.json next to it")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--pause", type=float, nargs=2, default=(0.4, 1.5), metavar=("MIN", "MAX"),
                        help="silence before each utterance, seconds")
    args = parser.parse_args(argv)
    try:
        doc = build_long_recording(args.out, args.minutes, args.seed, args.sample_rate, tuple(args.pause))
    except (ParameterError, SynthesisError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {doc['duration']:.1f} s, {len(doc['utterances'])} utterances, {len(doc['words'])} words "
          f"-> {words_json_path(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
