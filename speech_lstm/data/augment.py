"""Feature-level augmentation, deterministic under a seed."""

from __future__ import annotations

import numpy as np

__all__ = ["spec_augment"]


def spec_augment(
    features: np.ndarray,
    rng: np.random.Generator,
    freq_masks: int = 2,
    freq_width: int = 5,
    time_masks: int = 2,
    time_width: float = 0.05,
) -> np.ndarray:
    """SpecAugment masks on normalised features [frames, dim] (masked values set to 0 = mean).

    freq_width: max coefficients per frequency mask (applied to the same band of every
    delta block).  time_width: max fraction of the frames per time mask.
    Returns a new array; the input is not modified.
    """
    out = features.copy()
    frames, dim = out.shape
    for _ in range(freq_masks):
        w = int(rng.integers(0, freq_width + 1))
        if w:
            f0 = int(rng.integers(0, max(1, dim - w)))
            out[:, f0 : f0 + w] = 0.0
    max_t = max(1, int(frames * time_width))
    for _ in range(time_masks):
        w = int(rng.integers(0, max_t + 1))
        if w and frames > w:
            t0 = int(rng.integers(0, frames - w))
            out[t0 : t0 + w, :] = 0.0
    return out
