"""Pictures: training curves, and features with the decoded transcript aligned in time."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from speech_lstm.errors import ParameterError  # noqa: E402

__all__ = ["plot_training_curves", "plot_features_alignment", "plot_gates", "plot_word_timings", "plot_piano_roll",
           "plot_voices", "plot_tts_training", "plot_mel_comparison"]


def _save(fig, out_png) -> Path:
    """Write ``fig`` as a PNG (110 dpi) and close it; returns the path."""
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _read_log(csv_path):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {}
    for r in rows:
        for k, v in r.items():
            try:
                cols.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                cols.setdefault(k, []).append(np.nan)
    return cols


def _y_scale(ax, values, log="log"):
    """A ``log`` (or "symlog") y axis when ``values`` span more than a factor of 10, else linear;
    tick labels as plain numbers (not 4.4x10^1), whole epochs on the x axis."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    v = np.asarray([x for x in values if np.isfinite(x) and x > 0])
    if v.size and v.max() / v.min() > 10:
        if log == "symlog":
            ax.set_yscale("symlog", linthresh=1.0)
        else:
            ax.set_yscale("log")
        plain = FuncFormatter(lambda y, _: f"{y:g}")
        ax.yaxis.set_major_formatter(plain)
        def minor(y, _):  # label the 2s and 5s between the decades, if there are few decades
            mantissa = y / 10 ** np.floor(np.log10(y)) if y > 0 else 0
            return f"{y:g}" if v.max() / v.min() < 100 and round(mantissa) in (2, 5) else ""

        ax.yaxis.set_minor_formatter(FuncFormatter(minor))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_training_curves(csv_path, out_png, title: str = "training") -> Path:
    """Loss (train/dev), dev WER/CER and learning rate per epoch from a Keras CSVLogger file.
    Axes are logarithmic where the values span more than a factor of 10."""
    cols = _read_log(csv_path)
    epochs = np.array(cols.get("epoch", [])) + 1
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    shown = []
    for key, label in (("loss", "train"), ("val_loss", "dev")):
        if key in cols:
            ax.plot(epochs, cols[key], marker="o", ms=3, label=label)
            shown += list(cols[key])
    ax.set(title="CTC loss", xlabel="epoch", ylabel="nats / utterance")
    _y_scale(ax, shown)
    ax.legend()
    ax = axes[1]
    shown = []
    for key, label in (("val_wer", "dev WER"), ("val_cer", "dev CER")):
        if key in cols:
            ax.plot(epochs, 100 * np.array(cols[key]), marker="o", ms=3, label=label)
            shown += list(100 * np.array(cols[key]))
    ax.set(title="dev error rates (greedy)", xlabel="epoch", ylabel="%")
    _y_scale(ax, shown, log="symlog")
    ax.legend()
    ax = axes[2]
    if "learning_rate" in cols:
        ax.plot(epochs, cols["learning_rate"], marker="o", ms=3)
    ax.set(title="learning rate", xlabel="epoch")
    _y_scale(ax, cols.get("learning_rate", []))
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_features_alignment(
    features: np.ndarray,
    frames_per_second: float,
    out_png,
    posteriors: np.ndarray | None = None,
    output_fps: float | None = None,
    chars=None,
    labels=None,
    title: str = "",
    n_mfcc: int | None = None,
    feature_label: str | None = None,
) -> Path:
    """Features (top) and CTC posteriors (bottom) on one time axis, decoded characters marked.

    features: float [frames, dim] at ``frames_per_second``.  posteriors: float [out_frames,
    classes] softmax output at ``output_fps`` (class 0 = blank).  chars: list of (char, time_s)
    emitted by the decoder.  labels: class names for the posterior rows.  n_mfcc: show only the
    first n_mfcc columns (the static coefficients, without deltas).  feature_label: y-axis name.
    """
    rows = 2 if posteriors is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(12, 2.8 * rows + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    shown = features[:, :n_mfcc] if n_mfcc else features
    duration = features.shape[0] / frames_per_second
    ax = axes[0]
    im = ax.imshow(shown.T, origin="lower", aspect="auto", cmap="magma", extent=[0, duration, 0, shown.shape[1]],
                   interpolation="nearest")
    ax.set_ylabel(feature_label or ("MFCC coefficient" if n_mfcc else "feature"))
    fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    for ch, t in chars or []:
        for a in axes:
            a.axvline(t, color="cyan", lw=0.6, alpha=0.7)
        ax.text(t, shown.shape[1] * 1.02, "␣" if ch == " " else ch, ha="center", va="bottom", fontsize=10,
                color="black", clip_on=False)
    if posteriors is not None:
        ax = axes[1]
        fps = output_fps or frames_per_second
        out_dur = posteriors.shape[0] / fps
        used = np.where(posteriors[:, 1:].max(axis=0) > 0.05)[0] + 1
        im = ax.imshow(posteriors[:, used].T, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1,
                       extent=[0, out_dur, -0.5, len(used) - 0.5], interpolation="nearest")
        if labels is not None:
            ax.set_yticks(range(len(used)))
            ax.set_yticklabels(["␣" if labels[i] == " " else labels[i] for i in used], fontsize=7)
        ax.plot(np.arange(posteriors.shape[0]) / fps + 0.5 / fps, posteriors[:, 0] * (len(used) - 1), color="white",
                lw=0.8, alpha=0.8, label="P(blank), scaled")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel("CTC posterior")
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, y=0.995)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_word_timings(waveform, sample_rate: int, offset: float, words, out_png, ref_words=None, segments=None,
                      title: str = "word timings") -> Path:
    """A stretch of audio with the recognised words (shaded spans, labelled) and, when given, the
    reference word starts (dashed lines) and the speech segments the file was cut into.

    waveform: float32 [samples] starting ``offset`` s into the file; words / ref_words: objects or
    dicts with ``word``, ``start``, ``end`` (s, absolute); segments: dicts with ``start``, ``end``.
    """
    def get(w, key):
        return w[key] if isinstance(w, dict) else getattr(w, key)

    t0, t1 = offset, offset + len(waveform) / sample_rate
    fig, ax = plt.subplots(figsize=(15, 3.6))
    t = offset + np.arange(len(waveform)) / sample_rate
    ax.plot(t, waveform, color="0.55", lw=0.4)
    peak = float(np.max(np.abs(waveform))) or 1.0
    for s in segments or []:
        if s["end"] > t0 and s["start"] < t1:
            ax.axvspan(s["start"], s["end"], ymin=0.02, ymax=0.08, color="tab:green", alpha=0.6)
    for i, w in enumerate(words):
        if t0 <= get(w, "start") < t1:
            ax.axvspan(get(w, "start"), get(w, "end"), color="tab:blue", alpha=0.15)
            ax.text(get(w, "start"), peak * (1.08 if i % 2 else 1.22), get(w, "word"), fontsize=8, color="tab:blue")
    for w in ref_words or []:
        if t0 <= get(w, "start") < t1:
            ax.axvline(get(w, "start"), color="tab:red", ls="--", lw=0.8)
    ax.set(xlim=(t0, t1), ylim=(-peak * 1.1, peak * 1.4), xlabel="time in the file (s)", yticks=[], title=title)
    handles = [plt.Rectangle((0, 0), 1, 1, color="tab:blue", alpha=0.3, label="recognised word (start-end)"),
               plt.Line2D([], [], color="tab:red", ls="--", label="reference word start"),
               plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.6, label="speech segment")]
    ax.legend(handles=handles[: 1 + (ref_words is not None) + (segments is not None)], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_piano_roll(roll, out_png, title: str = "piano roll", primer_frames: int = 0, lowest: int = 21) -> Path:
    """A bool [frames, 88] roll (quarter-note frames) as an image; the primer shaded."""
    roll = np.asarray(roll, bool)
    used = np.flatnonzero(roll.any(axis=0))
    lo, hi = (used.min() - 2, used.max() + 3) if used.size else (30, 60)
    lo, hi = max(lo, 0), min(hi, roll.shape[1])
    fig, ax = plt.subplots(figsize=(max(6, roll.shape[0] / 6), 4))
    ax.imshow(roll[:, lo:hi].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=(0, roll.shape[0], lowest + lo - 0.5, lowest + hi - 0.5))
    if primer_frames:
        ax.axvspan(0, primer_frames, color="tab:orange", alpha=0.15, label="primer")
        ax.legend(loc="upper right", fontsize=8)
    return _finish_pitch_plot(fig, ax, lowest + lo, lowest + hi, title, out_png)


_PITCH_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def _finish_pitch_plot(fig, ax, low: int, high: int, title: str, out_png) -> Path:
    """Octave ticks (C4 ...) on the pitch axis between MIDI ``low`` and ``high``, labels, save."""
    ticks = [p for p in range(low, high) if p % 12 == 0]
    ax.set_yticks(ticks, [f"{_PITCH_NAMES[p % 12]}{p // 12 - 1}" for p in ticks])
    ax.set(xlabel="quarter notes", ylabel="pitch", title=title)
    fig.tight_layout()
    return _save(fig, out_png)


VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


def plot_voices(notes, out_png, title: str = "voices", primer_quarters: float = 0.0) -> Path:
    """(voice, pitch, onset, duration) notes in quarters as a piano roll with one colour per
    voice; each note is its own bar, so a re-struck pitch shows as two bars."""
    fig, ax = plt.subplots(figsize=(max(6, max((o + d for _, _, o, d in notes), default=8) / 6), 4))
    colors = plt.get_cmap("tab10").colors
    pitches = [p for _, p, _, _ in notes] or [60]
    for v in sorted({n[0] for n in notes}):
        bars = [(o, d) for vv, _, o, d in notes if vv == v]
        for (o, d), p in zip(bars, [p for vv, p, _, _ in notes if vv == v]):
            ax.broken_barh([(o, d * 0.95)], (p - 0.4, 0.8), color=colors[v % 10],
                           label=VOICE_NAMES[v] if v < 4 else f"voice {v}")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if primer_quarters:
        unique["primer"] = ax.axvspan(0, primer_quarters, color="tab:orange", alpha=0.12)
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize=7, ncol=len(unique))
    ax.set_ylim(min(pitches) - 2, max(pitches) + 4)
    return _finish_pitch_plot(fig, ax, min(pitches) - 2, max(pitches) + 3, title, out_png)


_GATE_ROWS = (("f", "forget gate f_t", "viridis", (0, 1)), ("i", "input gate i_t", "viridis", (0, 1)),
              ("o", "output gate o_t", "viridis", (0, 1)), ("c", "cell state C_t", "RdBu_r", None))


def plot_gates(trace, out_png, direction: str = "forward", units=None, top: int = 32, sort: str = "variance") -> Path:
    """A :class:`speech_lstm.gates.GateTrace` as one figure on one time axis: the input
    (features or piano roll, decoded symbols marked), then the forget, input and output gates
    and the cell state of the chosen units (default: the ``top`` ranked by ``sort``, see
    :func:`speech_lstm.gates.select_units`)."""
    from speech_lstm.gates import select_units

    if direction not in trace.directions:
        raise ParameterError(f"direction {direction!r}: this layer has {', '.join(trace.directions)}")
    idx = select_units(trace, direction, units, top, sort)
    arrays = trace.directions[direction]
    steps = arrays["c"].shape[0]
    t_end = steps / trace.step_fps
    fig, axes = plt.subplots(5, 1, figsize=(12, 11), sharex=True,
                             gridspec_kw={"height_ratios": [1.3, 1, 1, 1, 1]})
    ax = axes[0]
    shown = np.asarray(trace.inputs, float)
    in_end = shown.shape[0] / trace.input_fps
    if trace.kind == "music":
        used = np.flatnonzero(shown.any(axis=0))
        lo, hi = (max(used.min() - 2, 0), min(used.max() + 3, shown.shape[1])) if used.size else (30, 60)
        im = ax.imshow(shown[:, lo:hi].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                       extent=(0, in_end, trace.input_low + lo - 0.5, trace.input_low + hi - 0.5))
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03, ticks=[0, 1])  # keeps the time axes aligned
        ticks = [p for p in range(trace.input_low + lo, trace.input_low + hi) if p % 12 == 0]
        ax.set_yticks(ticks, [f"{_PITCH_NAMES[p % 12]}{p // 12 - 1}" for p in ticks])
        ax.set_ylabel("pitch")
    else:
        im = ax.imshow(shown.T, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                       extent=(0, in_end, 0, shown.shape[1]))
        ax.set_ylabel(f"{trace.input_name}\n(+ deltas)")
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    for t, sym in trace.labels:
        for a in axes:
            a.axvline(t + 0.5 / trace.step_fps, color="cyan" if a is not axes[0] else "white", lw=0.6, alpha=0.6)
        ax.text(t + 0.5 / trace.step_fps, ax.get_ylim()[1], "␣" if sym == " " else sym.strip(), ha="center",
                va="bottom", fontsize=9, clip_on=False)
    for a, (key, name, cmap, limits) in zip(axes[1:], _GATE_ROWS):
        values = arrays[key][:, idx].T
        if limits is None:
            m = float(np.percentile(np.abs(values), 99)) or 1.0  # a few saturated units would wash out the rest
            limits = (-m, m)
        im = a.imshow(values, origin="lower", aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1],
                      interpolation="nearest", extent=(0, t_end, -0.5, len(idx) - 0.5))
        a.set_ylabel(f"{name}\n{'unit' if units is not None else 'unit (rank)'}")
        if units is not None and len(idx) <= 16:
            a.set_yticks(range(len(idx)), [str(u) for u in idx], fontsize=7)
        fig.colorbar(im, ax=a, pad=0.01, fraction=0.03)
    axes[-1].set_xlabel("time (s)" if trace.kind == "speech" else "quarter notes")
    axes[-1].set_xlim(0, max(t_end, in_end))
    what = f'"{trace.text}"' if trace.text else Path(trace.source).name
    chosen = "chosen" if units is not None else f"by cell-state {sort}"
    fig.suptitle(f"{trace.layer} ({direction}), {len(idx)} of {arrays['c'].shape[1]} units {chosen}: {what}", y=0.995)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_tts_training(duration_log, acoustic_log, out_png) -> Path:
    """Train and dev loss per epoch of the TTS duration model (MSE of log frames) and acoustic
    model (L1 of the normalised log-mel, before and after the post-net), from Keras CSV logs."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    panels = ((duration_log, (("loss", "train"), ("val_loss", "dev")), "duration model: MSE of log(1 + frames)"),
              (acoustic_log, (("mel_loss", "train"), ("val_mel_loss", "dev"),
                              ("mel_postnet_loss", "train, post-net"), ("val_mel_postnet_loss", "dev, post-net")),
               "acoustic model: L1 of the normalised log-mel"))
    for ax, (log, keys, title) in zip(axes, panels):
        cols = _read_log(log) if Path(log).exists() else {}
        epochs = np.array(cols.get("epoch", [])) + 1
        for key, label in keys:
            if key in cols:
                ax.plot(epochs, cols[key], marker="o", ms=3, label=label)
        ax.set(title=title, xlabel="epoch", ylabel="loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, out_png)


def plot_mel_comparison(reference, synthesized, out_png, hop_seconds: float, title: str = "",
                        boundaries=None) -> Path:
    """Log-mel spectrograms [frames, n_mels] one above the other, on one time axis and colour
    scale: the reference recording (None: left out) and the synthesized speech.
    ``boundaries``: optional phoneme starts per panel, ``[[(frame, label), ...], ...]``."""
    mels = [np.asarray(m) for m in (reference, synthesized) if m is not None]
    names = [n for m, n in zip((reference, synthesized),
                               ("reference (eSpeak NG)", "synthesized (LSTMs + Griffin-Lim)")) if m is not None]
    if not mels or any(m.ndim != 2 for m in mels) or len({m.shape[1] for m in mels}) != 1:
        raise ParameterError(f"expected [frames, n_mels] arrays with the same bands, got {[m.shape for m in mels]}")
    lo, hi = min(m.min() for m in mels), max(m.max() for m in mels)
    span = max(len(m) for m in mels) * hop_seconds
    fig, axes = plt.subplots(len(mels), 1, figsize=(11, 2.9 * len(mels)), sharex=True, squeeze=False)
    for k, (ax, m, name) in enumerate(zip(axes[:, 0], mels, names)):
        image = ax.imshow(m.T, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi,
                          extent=(0, len(m) * hop_seconds, 0, m.shape[1]))
        if boundaries is not None:
            for frame, label in boundaries[k]:
                ax.axvline(frame * hop_seconds, color="white", lw=0.5, alpha=0.5)
                ax.text(frame * hop_seconds + 0.003, m.shape[1] - 2, label, color="white", fontsize=6, va="top")
        ax.set(ylabel="mel band", title=name, xlim=(0, span))
        fig.colorbar(image, ax=ax, label="ln magnitude", pad=0.01)
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)
