"""Importers: standard corpus layouts -> the project's JSONL manifests, one a split.

Every importer checks the layout first (a missing file or folder raises
:class:`~speech_lstm.errors.CorpusLayoutError` naming it and what was expected), lists the
utterances, and hands them to :func:`import_utterances`, which spells whole numbers as words
(num2words: "3" -> "three", "21st", years) and normalises the transcripts with
:func:`speech_lstm.text.normalize_text`, reads each file's duration from its header in a
thread pool, drops bad items with a reason (one bad file never stops an import), writes
``<out_dir>/<split>.jsonl`` atomically and ``<out_dir>/import_report.json`` with the counts
kept and dropped by reason, and examples.

Drop reasons: ``missing_audio``, ``unreadable_audio``, ``empty_audio``, ``empty_transcript``,
``unsupported_characters`` (letters or digits that normalisation would delete, which would
leave a wrong label), ``missing_transcript``, ``malformed_line``, ``unrecognised_name``,
``segment_outside_audio``, ``too_short``, ``too_long``. Silent or corrupt audio past the
header is not decoded here: ``speech-lstm validate --decode-audio`` finds it.

Idempotent: a re-run over the same source writes identical files; when the report records the
same corpus, source, options and source fingerprint (transcripts plus each audio file's size
and mtime) and the manifests exist, nothing is redone unless ``force``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from speech_lstm.audio import audio_info
from speech_lstm.data.manifest import write_manifest
from speech_lstm.errors import AudioLoadError, CorpusLayoutError, ParameterError
from speech_lstm.files import atomic_write
from speech_lstm.text import DEFAULT_CHARS, normalize_text

__all__ = ["Utterance", "ImportResult", "import_utterances", "import_librispeech", "import_common_voice",
           "import_ljspeech", "import_fsdd", "import_speech_commands", "import_timit", "import_nemo",
           "import_folder", "IMPORTERS", "REPORT_NAME", "AUDIO_EXTENSIONS"]

REPORT_NAME = "import_report.json"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
EXAMPLES = 5  # examples kept in the report for each drop reason
_VERSION = 1  # bump when the output of an importer changes, so that old imports are redone
_SPELLABLE = set(DEFAULT_CHARS)


@dataclasses.dataclass
class Utterance:
    """One utterance as a corpus lists it, before any check.

    audio: path of the audio file; text: the raw transcript; split: the manifest it goes to
    (None for an item dropped before a split applies); speaker: optional id; offset / duration:
    seconds, a segment of the file (None: from the start / to the end); extra: further keys for
    the manifest entry; problem: ``(reason, detail)`` found while listing, to drop it.
    """

    audio: str
    text: str
    split: str | None
    speaker: str | None = None
    offset: float | None = None
    duration: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    problem: tuple | None = None


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What an import wrote. manifests: split -> path (splits that kept nothing have none);
    kept: split -> utterances; hours: split -> hours of audio; dropped: reason -> count;
    report: the import_report.json; up_to_date: True when nothing had to be redone."""

    manifests: dict
    kept: dict
    hours: dict
    dropped: dict
    report: Path
    up_to_date: bool = False


# ---------------------------------------------------------------- the shared core


_NUMBER = re.compile(r"(?<![\w.,])(\d+)(st|nd|rd|th)?(?![\w.,]\w|\w)", re.IGNORECASE)


def _spell(match) -> str:
    """A whole number in a transcript as words, the way it is usually read: ordinals ("21st"),
    years (1100-2099 as "nineteen eighty four") and cardinals. Decimals, times and the like stay
    digits, and the item is dropped as unsupported."""
    from speech_lstm.data.sentences import spell_number, spell_ordinal, spell_year

    n = int(match.group(1))
    if match.group(2):
        return spell_ordinal(n)
    if len(match.group(1)) == 4 and 1100 <= n <= 2099 and not (n % 1000 == 0):
        return spell_year(n)
    return spell_number(n)


def _clean_text(raw: str):
    """(normalised transcript, None) or (None, (reason, detail))."""
    if not raw or not raw.strip():
        return None, ("empty_transcript", "no transcript")
    raw = _NUMBER.sub(_spell, raw)
    decomposed = unicodedata.normalize("NFKD", raw.replace("\u2019", "'")).lower()
    lost = sorted({c for c in decomposed if (c.isalnum() and c not in _SPELLABLE) or c == "\ufffd"})
    if lost:
        return None, ("unsupported_characters", f"characters the vocabulary cannot spell: {''.join(lost)!r}")
    text = normalize_text(raw)
    if not any(c.isalpha() for c in text):
        return None, ("empty_transcript", "nothing left after normalisation")
    return text, None


def _check(u: Utterance, min_duration: float, max_duration: float):
    """(manifest entry, None) or (None, (reason, detail)) for one utterance."""
    if u.problem:
        return None, tuple(u.problem)
    text, problem = _clean_text(u.text)
    if problem:
        return None, problem
    try:
        sample_rate, frames, _ = audio_info(u.audio)
    except AudioLoadError as e:
        return None, ("missing_audio" if e.reason == "file not found" else "unreadable_audio", e.reason)
    if frames <= 0 or sample_rate <= 0:
        return None, ("empty_audio", "0 samples")
    total, offset = frames / sample_rate, float(u.offset or 0.0)
    duration = total - offset if u.duration is None else float(u.duration)
    if duration > total - offset and duration - (total - offset) < 0.1:  # rounded or re-encoded lengths
        duration = total - offset
    if offset >= total or duration <= 0 or offset + duration > total:
        return None, ("segment_outside_audio", f"offset {offset:g} s + duration {duration:g} s outside the file's "
                                               f"{total:.3f} s")
    if duration < min_duration:
        return None, ("too_short", f"{duration:.3f} s < min_duration {min_duration:g} s")
    if duration > max_duration:
        return None, ("too_long", f"{duration:.3f} s > max_duration {max_duration:g} s")
    entry = {"audio_filepath": str(u.audio), "text": text, "duration": round(duration, 4)}
    if u.speaker is not None:
        entry["speaker"] = u.speaker
    if offset > 0:
        entry["offset"] = offset
    entry.update({k: v for k, v in u.extra.items() if k not in entry and k != "offset"})
    return entry, None


def _fingerprint(utterances) -> str:
    """sha1 of the listing and of each audio file's size and mtime: cheap to recompute."""
    h = hashlib.sha1()
    for u in utterances:
        try:
            st = os.stat(u.audio)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
        h.update(json.dumps([dataclasses.astuple(u), stamp], default=str).encode() + b"\n")
    return h.hexdigest()


def _read_report(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _result(report: dict, out_dir: Path, report_path: Path, up_to_date: bool) -> ImportResult:
    splits = report["splits"]
    return ImportResult(
        manifests={s: out_dir / v["manifest"] for s, v in splits.items() if v.get("manifest")},
        kept={s: v["kept"] for s, v in splits.items()},
        hours={s: v["hours"] for s, v in splits.items()},
        dropped={r: v["count"] for r, v in report["dropped"].items()},
        report=report_path, up_to_date=up_to_date)


def import_utterances(corpus: str, source, utterances, out_dir, *, splits=(), options: dict | None = None,
                      min_duration: float = 0.0, max_duration: float | None = None, workers: int = 4,
                      force: bool = False, progress: bool = True) -> ImportResult:
    """Check ``utterances`` (a list of :class:`Utterance`) and write one manifest per split.

    corpus / source / options: recorded in the report (with the source fingerprint they decide
    whether a re-run can be skipped). splits: split names to report even if nothing lists them.
    min_duration / max_duration: seconds; items outside are dropped (``too_short`` /
    ``too_long``). workers: int >= 1, threads reading audio headers. A split that keeps nothing
    gets no manifest (and a stale one from an earlier import of the same source is removed).
    """
    max_duration = float("inf") if max_duration is None else float(max_duration)
    if not 0 <= min_duration <= max_duration:
        raise ParameterError(f"need 0 <= min_duration <= max_duration, got {min_duration}, {max_duration}")
    if workers < 1:
        raise ParameterError(f"workers must be >= 1, got {workers}")
    out_dir = Path(out_dir).resolve()
    report_path = out_dir / REPORT_NAME
    utterances = list(utterances)
    spec = {"corpus": corpus, "source": str(Path(source).resolve()), "version": _VERSION,
            "options": {**(options or {}), "min_duration": min_duration,
                        "max_duration": None if max_duration == float("inf") else max_duration}}
    spec = json.loads(json.dumps(spec))
    fingerprint = _fingerprint(utterances)
    old = _read_report(report_path)
    same_source = isinstance(old, dict) and all(old.get(k) == spec[k] for k in ("corpus", "source"))
    old_manifests = [v.get("manifest") for v in old.get("splits", {}).values()] if same_source else []
    if (not force and same_source and all(old.get(k) == v for k, v in spec.items())
            and old.get("fingerprint") == fingerprint and all((out_dir / m).is_file() for m in old_manifests if m)):
        return _result(old, out_dir, report_path, up_to_date=True)

    checked = []
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(utterances), desc=f"importing {corpus}", unit="utt", disable=not progress) as bar:
        for start in range(0, len(utterances), 4096):  # chunks: a million futures at once would hog memory
            for result in pool.map(lambda u: _check(u, min_duration, max_duration), utterances[start:start + 4096]):
                checked.append(result)
                bar.update(1)
    names = list(dict.fromkeys([*splits, *(u.split for u in utterances if u.split is not None)]))
    kept = {s: [] for s in names}
    split_dropped = dict.fromkeys(names, 0)
    dropped = {}
    for u, (entry, problem) in zip(utterances, checked):
        if entry is not None:
            kept[u.split].append(entry)
            continue
        reason, detail = problem
        if u.split is not None:
            split_dropped[u.split] += 1
        slot = dropped.setdefault(reason, {"count": 0, "examples": []})
        slot["count"] += 1
        if len(slot["examples"]) < EXAMPLES:
            slot["examples"].append({"split": u.split, "audio": str(u.audio), "text": u.text, "detail": detail})

    report_splits = {}
    for split in names:
        path = out_dir / f"{split}.jsonl"
        if kept[split]:
            write_manifest(kept[split], path)
        report_splits[split] = {"manifest": path.name if kept[split] else None, "kept": len(kept[split]),
                                "dropped": split_dropped[split],
                                "hours": round(sum(e["duration"] for e in kept[split]) / 3600, 4)}
    written = {v["manifest"] for v in report_splits.values()}
    for name in old_manifests:  # written by the earlier import of this source, not by this one: stale
        if name and name not in written:
            (out_dir / name).unlink(missing_ok=True)
    report = {**spec, "fingerprint": fingerprint, "listed": len(utterances),
              "kept": sum(len(v) for v in kept.values()), "splits": report_splits,
              "dropped": dict(sorted(dropped.items()))}
    with atomic_write(report_path) as f:
        f.write(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return _result(report, out_dir, report_path, up_to_date=False)


# ---------------------------------------------------------------- layout checks


def _hint(root: Path, names) -> str:
    """' (found under X: pass that folder)' when a child folder of ``root`` holds one of ``names``."""
    try:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            if any((child / n).exists() for n in names):
                return f" (found under {child}: pass that folder)"
    except OSError:
        pass
    return ""


def _require_dir(path, expected: str, hint: bool = False) -> Path:
    """``path`` if it is a folder, else CorpusLayoutError naming it and what was ``expected``; ``hint``:
    say so when a sibling folder holds a folder of that name (a corpus root one level too high)."""
    path = Path(path)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "missing folder"
        raise CorpusLayoutError(f"{path}: {what}; expected {expected}"
                                + (_hint(path.parent, [path.name]) if hint else ""))
    return path


def _require_file(path, expected: str, root: Path | None = None) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CorpusLayoutError(f"{path}: missing file; expected {expected}"
                                + (_hint(root, [path.name]) if root is not None else ""))
    return path


def _read_lines(path: Path) -> list[str]:
    # undecodable bytes become U+FFFD, which _clean_text drops as unsupported
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


# ---------------------------------------------------------------- corpora


def import_librispeech(root, out_dir, subsets=None, **options) -> ImportResult:
    """LibriSpeech (or any corpus in its layout, e.g. Multilingual LibriSpeech's flac release):

        <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   lines "<utt-id> TRANSCRIPT"
        <root>/<subset>/<speaker>/<chapter>/<utt-id>.flac

    One manifest per subset (``train-clean-100.jsonl``, ...): ``subsets`` names them (default:
    every subset folder found). ``options``: those of :func:`import_utterances`.
    """
    root = _require_dir(root, "the LibriSpeech folder holding train-clean-100/, dev-clean/, ...")
    subsets = [subsets] if isinstance(subsets, str) else subsets
    if subsets is None:
        subsets = sorted(d.name for d in root.iterdir() if d.is_dir() and next(d.glob("*/*/*.trans.txt"), None))
        if not subsets:
            raise CorpusLayoutError(f"{root}: no <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt found; "
                                    "expected e.g. train-clean-100/103/1240/103-1240.trans.txt"
                                    + _hint(root, ["train-clean-100", "dev-clean", "test-clean"]))
    utterances = []
    for subset in subsets:
        folder = _require_dir(root / subset, f"a LibriSpeech subset folder <speaker>/<chapter>/ under {root}")
        transcripts = sorted(folder.glob("*/*/*.trans.txt"))
        if not transcripts:
            raise CorpusLayoutError(f"{folder}: no <speaker>/<chapter>/<speaker>-<chapter>.trans.txt in it")
        for trans in transcripts:
            speaker = trans.parent.parent.name
            for line in _read_lines(trans):
                if line.strip():
                    uid, _, text = line.strip().partition(" ")
                    utterances.append(Utterance(str(trans.parent / f"{uid}.flac"), text, subset, speaker))
    return import_utterances("librispeech", root, utterances, out_dir, splits=subsets,
                             options={"subsets": list(subsets)}, **options)


def import_common_voice(root, out_dir, splits=("train", "dev", "test"), **options) -> ImportResult:
    """Mozilla Common Voice (one language's folder):

        <root>/<split>.tsv   tab-separated with a header: client_id, path, sentence, ...
        <root>/clips/<path>  (MP3)

    One manifest per tsv in ``splits`` (e.g. train, dev, test, validated, other); client_id
    becomes ``speaker``. The project's vocabulary spells English only: other languages' letters
    are dropped as ``unsupported_characters``.
    """
    root = _require_dir(root, "a Common Voice language folder holding clips/ and train.tsv, dev.tsv, test.tsv")
    clips = _require_dir(root / "clips", "the Common Voice audio folder clips/*.mp3", hint=True)
    splits = [splits] if isinstance(splits, str) else list(splits)
    if not splits:
        raise ParameterError("splits: give at least one tsv name (e.g. train)")
    tables = [_require_file(root / f"{s}.tsv", f"a Common Voice table {s}.tsv (columns client_id, path, sentence)")
              for s in splits]
    utterances = []
    for split, table in zip(splits, tables):
        with table.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in ("path", "sentence") if c not in (reader.fieldnames or [])]
            if missing:
                raise CorpusLayoutError(f"{table}: missing column(s) {', '.join(missing)}; expected a header with "
                                        f"client_id, path, sentence, got {reader.fieldnames}")
            for row in reader:
                if not row.get("path") or row.get("sentence") is None:
                    utterances.append(Utterance(str(table), "", split, problem=(
                        "malformed_line", f"{table.name}:{reader.line_num}: no path or sentence")))
                    continue
                utterances.append(Utterance(str(clips / row["path"]), row["sentence"], split,
                                            row.get("client_id") or None))
    return import_utterances("common_voice", root, utterances, out_dir, splits=splits,
                             options={"splits": list(splits)}, **options)


def import_ljspeech(root, out_dir, dev: int = 0, test: int = 0, seed: int = 0, **options) -> ImportResult:
    """LJSpeech (one speaker, ``speaker`` "LJ"):

        <root>/metadata.csv   lines "<id>|<raw text>|<normalized text>" (numbers spelled out)
        <root>/wavs/<id>.wav

    The normalized column is used (the raw one where it is empty). Default: one manifest,
    ``train.jsonl``; ``dev`` / ``test``: int >= 0 utterances held out into ``dev.jsonl`` /
    ``test.jsonl``, drawn at random but fixed by ``seed``.
    """
    root = _require_dir(root, "the LJSpeech folder holding metadata.csv and wavs/")
    meta = _require_file(root / "metadata.csv", "LJSpeech's metadata.csv, lines id|raw|normalized", root)
    wavs = _require_dir(root / "wavs", "LJSpeech's audio folder wavs/<id>.wav")
    if dev < 0 or test < 0:
        raise ParameterError(f"dev and test must be >= 0, got {dev}, {test}")
    utterances = []
    for lineno, line in enumerate(_read_lines(meta), 1):
        fields = line.split("|")
        if not line.strip():
            continue
        if len(fields) < 2 or not fields[0].strip():
            utterances.append(Utterance(str(meta), line, None, problem=(
                "malformed_line", f"metadata.csv:{lineno}: expected id|raw|normalized")))
            continue
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        utterances.append(Utterance(str(wavs / f"{fields[0].strip()}.wav"), text, "train", "LJ"))
    listed = [u for u in utterances if u.split]
    if dev + test >= len(listed) and dev + test:
        raise ParameterError(f"dev + test = {dev + test} leaves nothing to train on ({len(listed)} utterances)")
    if dev + test:
        order = np.random.default_rng(seed).permutation(len(listed))
        for rank, i in enumerate(order[: dev + test]):
            listed[i].split = "test" if rank < test else "dev"
    splits = ["train"] + (["dev"] if dev else []) + (["test"] if test else [])
    return import_utterances("ljspeech", root, utterances, out_dir, splits=splits,
                             options={"dev": dev, "test": test, "seed": seed}, **options)


_FSDD_NAME = re.compile(r"^(\d)_(.+)_(\d+)$")


def import_fsdd(root, out_dir, **options) -> ImportResult:
    """Free Spoken Digit Dataset:

        <root>/recordings/<digit>_<speaker>_<index>.wav

    The transcript is the digit as a word ("zero" ... "nine"). The dataset's own split:
    index 0-4 -> ``test.jsonl``, the rest -> ``train.jsonl``.
    """
    from speech_lstm.data.synth import DIGIT_WORDS

    root = _require_dir(root, "the free-spoken-digit-dataset folder holding recordings/")
    recordings = _require_dir(root / "recordings", "FSDD's recordings/<digit>_<speaker>_<index>.wav", hint=True)
    files = sorted(recordings.glob("*.wav"))
    if not files:
        raise CorpusLayoutError(f"{recordings}: no <digit>_<speaker>_<index>.wav files in it")
    utterances = []
    for wav in files:
        m = _FSDD_NAME.match(wav.stem)
        if m is None:
            utterances.append(Utterance(str(wav), "", None, problem=(
                "unrecognised_name", f"{wav.name}: expected <digit>_<speaker>_<index>.wav")))
            continue
        split = "test" if int(m.group(3)) < 5 else "train"
        utterances.append(Utterance(str(wav), DIGIT_WORDS[int(m.group(1))], split, m.group(2)))
    return import_utterances("fsdd", root, utterances, out_dir, splits=("train", "test"), **options)


def import_speech_commands(root, out_dir, **options) -> ImportResult:
    """Google Speech Commands (v0.01 or v0.02):

        <root>/<word>/<speaker-hash>_nohash_<n>.wav
        <root>/validation_list.txt, <root>/testing_list.txt   lines "<word>/<file>.wav"

    The transcript is the folder's name; folders starting with ``_`` (``_background_noise_``)
    are skipped. Files in testing_list -> ``test.jsonl``, in validation_list -> ``dev.jsonl``,
    the rest -> ``train.jsonl``; listed files that are missing are dropped as ``missing_audio``.
    """
    root = _require_dir(root, "the Speech Commands folder holding <word>/*.wav and the list files")
    lists = {}
    for split, name in (("dev", "validation_list.txt"), ("test", "testing_list.txt")):
        path = _require_file(root / name, "the Speech Commands split list (lines <word>/<file>.wav)", root)
        lists.update({line.strip(): split for line in _read_lines(path) if line.strip()})
    words = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("_"))
    if not words:
        raise CorpusLayoutError(f"{root}: no <word>/ folders of WAVs in it")
    files = {f"{d.name}/{w.name}" for d in words for w in d.glob("*.wav")}
    files |= {rel for rel in lists if not rel.startswith("_")}
    utterances = [Utterance(str(root / rel), rel.split("/")[0], lists.get(rel, "train"),
                            Path(rel).name.split("_nohash_")[0]) for rel in sorted(files)]
    return import_utterances("speech_commands", root, utterances, out_dir, splits=("train", "dev", "test"),
                             **options)


def import_timit(root, out_dir, include_sa: bool = False, **options) -> ImportResult:
    """TIMIT (names matched case-insensitively; NIST SPHERE or RIFF WAVs):

        <root>/{TRAIN,TEST}/<dialect>/<speaker>/<utt>.WAV
        <root>/{TRAIN,TEST}/<dialect>/<speaker>/<utt>.TXT   one line "<start> <end> <transcript>"

    ``train.jsonl`` and ``test.jsonl`` (all of TEST, not only the core test set); the speaker
    is the speaker folder. The two SA sentences every speaker read are left out, as usual,
    unless ``include_sa``.
    """
    root = _require_dir(root, "the TIMIT folder holding TRAIN/ and TEST/")
    found = {d.name.lower(): d for d in root.iterdir() if d.is_dir() and d.name.lower() in ("train", "test")}
    for split in ("train", "test"):
        if split not in found:
            raise CorpusLayoutError(f"{root / split.upper()}: missing folder; expected TIMIT's "
                                    f"{split.upper()}/<dialect>/<speaker>/<utt>.WAV and .TXT (any case)"
                                    + _hint(root, ["TRAIN", "train"]))
    utterances = []
    for split in ("train", "test"):
        for speaker_dir in sorted(p for p in found[split].glob("*/*") if p.is_dir()):
            by_stem = {}
            for p in sorted(speaker_dir.iterdir()):
                by_stem.setdefault((p.stem.lower(), p.suffix.lower()), p)
            for (stem, suffix), txt in sorted(by_stem.items()):
                if suffix != ".txt" or (stem.startswith("sa") and not include_sa):
                    continue
                wav = by_stem.get((stem, ".wav"), txt.with_suffix(".WAV" if txt.suffix.isupper() else ".wav"))
                fields = " ".join(_read_lines(txt)).split(maxsplit=2)
                if len(fields) < 3:
                    utterances.append(Utterance(str(wav), "", split, speaker_dir.name, problem=(
                        "malformed_line", f"{txt.name}: expected '<start> <end> <transcript>'")))
                    continue
                utterances.append(Utterance(str(wav), fields[2], split, speaker_dir.name))
    return import_utterances("timit", root, utterances, out_dir, splits=("train", "test"),
                             options={"include_sa": include_sa}, **options)


_NEMO_OWN = ("audio_filepath", "text", "duration", "offset")


def import_nemo(manifest, out_dir, split: str | None = None, **options) -> ImportResult:
    """A NeMo-style JSONL manifest: one ``{"audio_filepath", "text", "duration"}`` object a line,
    optional ``offset`` (seconds; ``offset`` + ``duration`` is a segment of the file).

    Relative paths are resolved against the source manifest's folder. Writes
    ``<split>.jsonl`` (default: the source's name without extension); the text is normalised and
    the duration checked against the file (re-read when missing); other keys (``speaker``, ...)
    are kept. Lines that are not such objects are dropped as ``malformed_line``.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise CorpusLayoutError(f"{manifest}: missing file; expected a NeMo-style JSONL manifest, one "
                                '{"audio_filepath", "text", "duration"} object a line')
    split = split or manifest.stem
    if (Path(out_dir) / f"{split}.jsonl").resolve() == manifest.resolve():
        raise ParameterError(f"importing {manifest} would overwrite it: choose another out_dir or split")
    utterances = []
    for lineno, line in enumerate(_read_lines(manifest), 1):
        if not line.strip():
            continue
        where = f"{manifest.name}:{lineno}"
        try:
            item = json.loads(line)
        except ValueError as e:
            utterances.append(Utterance(str(manifest), "", split, problem=("malformed_line", f"{where}: {e}")))
            continue
        if not (isinstance(item, dict) and isinstance(item.get("audio_filepath"), str)
                and isinstance(item.get("text"), str)):
            utterances.append(Utterance(str(manifest), "", split, problem=(
                "malformed_line", f"{where}: expected an object with string audio_filepath and text")))
            continue
        audio = Path(item["audio_filepath"])
        audio = audio if audio.is_absolute() else manifest.parent / audio
        numbers = [item.get(k) for k in ("duration", "offset")]
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0) for v in numbers):
            utterances.append(Utterance(str(audio), item["text"], split, problem=(
                "malformed_line", f"{where}: duration and offset must be numbers >= 0, got {numbers}")))
            continue
        extra = {k: v for k, v in item.items() if k not in _NEMO_OWN and not k.startswith("_")}
        utterances.append(Utterance(str(audio), item["text"], split, None, item.get("offset"), item.get("duration"),
                                    extra))
    return import_utterances("nemo", manifest, utterances, out_dir, splits=(split,), options={"split": split},
                             **options)


def import_folder(root, out_dir, split: str = "train", **options) -> ImportResult:
    """A folder of audio files, each with its transcript in a text file of the same name:

        <root>/**/<name>.{wav,flac,mp3,ogg}
        <root>/**/<name>.txt

    searched recursively, into one manifest ``<split>.jsonl``. Audio without a transcript is
    dropped as ``missing_transcript``; text files without audio are ignored.
    """
    root = _require_dir(root, "a folder of audio files (wav, flac, mp3, ogg), each with a same-named .txt")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise CorpusLayoutError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in it or below it")
    utterances = []
    for audio in files:
        txt = audio.with_suffix(".txt")
        if txt.is_file():
            utterances.append(Utterance(str(audio), " ".join(_read_lines(txt)), split))
        else:
            utterances.append(Utterance(str(audio), "", split, problem=(
                "missing_transcript", f"no {txt.name} next to {audio.name}")))
    return import_utterances("folder", root, utterances, out_dir, splits=(split,), options={"split": split},
                             **options)


IMPORTERS = {"librispeech": import_librispeech, "common_voice": import_common_voice, "ljspeech": import_ljspeech,
             "fsdd": import_fsdd, "speech_commands": import_speech_commands, "timit": import_timit,
             "nemo": import_nemo, "folder": import_folder}
