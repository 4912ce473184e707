#!/usr/bin/env python
"""Parse the Bach chorales shipped with music21, cache them and write a melody-grouped split.

    python data_scripts/prepare_bach_chorales.py --cache recipes/bach_chorales/data/cache \\
        --split-out recipes/bach_chorales/split.json

The first run parses the corpus (about 20 s with 2 workers on 2 cores) and caches the note
lists under --cache; later runs read the cache. Prints the counts (chorales kept/skipped,
notes, quarter-note frames, 16th-grid coverage, melody groups, split sizes).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from speech_lstm.errors import SpeechLSTMError
from speech_lstm.music.corpus import (
    SPLITS,
    load_bach_chorales,
    melody_groups,
    off_grid_fraction,
    piano_roll,
    split_chorales,
    write_split,
)


def _reason_kind(reason: str) -> str:
    if reason.endswith(" parts"):
        return "not 4 parts"
    if reason.startswith("duplicate"):
        return "duplicate encoding"
    if reason.startswith("not a score"):
        return "not a score"
    return "parse error"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cache", required=True, help="folder for the parsed-corpus cache")
    parser.add_argument("--split-out", required=True, help="JSON file for the train/valid/test split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VALID", "TEST"))
    parser.add_argument("--workers", type=int, default=2, help="parsing processes")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)
    try:
        stats = {}
        chorales = load_bach_chorales(args.cache, progress=not args.no_progress, workers=args.workers, stats=stats)
        split = split_chorales(chorales, seed=args.seed, fractions=tuple(args.fractions))
        write_split(split, args.split_out)
    except SpeechLSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    how = "read from cache" if stats["cached"] else "parsed"
    print(f"{how} in {stats['load_seconds']:.2f} s (original parse {stats['parse_seconds']:.1f} s)")
    reasons = Counter(_reason_kind(r) for r in stats["skipped"].values())
    print(f"files: {stats['files']} candidate scores; kept {stats['kept']} four-part chorales; "
          f"skipped {len(stats['skipped'])} ({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))})")
    by_name = {c.name: c for c in chorales}
    notes = sum(len(c.notes) for c in chorales)
    modes = Counter(c.key_mode for c in chorales)
    print(f"notes: {notes}; modes: {dict(modes)}; off the 16th grid: {100 * off_grid_fraction(chorales):.4f}%")
    exact = sum(len(g) > 1 for g in melody_groups(chorales, similarity=None, prefix=0))
    groups = melody_groups(chorales)
    multi = [g for g in groups if len(g) > 1]
    print(f"melody groups: {len(groups)} ({len(multi)} with >1 chorale, holding {sum(map(len, multi))} "
          f"chorales; largest {max(map(len, groups))}); identical signatures alone: {exact} groups with >1")
    for s in SPLITS:
        frames = sum(piano_roll(by_name[n]).shape[0] for n in split[s])
        print(f"{s:5s}: {len(split[s]):3d} chorales, {frames:6d} quarter-note frames")
    print(f"split -> {args.split_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
