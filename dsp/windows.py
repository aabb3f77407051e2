"""Excerpt scheduling: where the dream windows of a long signal start, and the
raised-cosine crossfades that join them.

A signal of ``n_total`` samples is covered by excerpts of ``n_excerpt`` samples that
overlap by ``n_fade`` samples (hop ``n_excerpt - n_fade``); the last excerpt is moved
back to end exactly at the signal's end. Each excerpt is weighted by a flat-top window
whose ends are sin^2 fades (the first excerpt has no fade-in, the last no fade-out), and
the overlap-add is divided by the summed weights, which are >= 1 everywhere, so any
excerpt layout reconstructs the signal exactly when the excerpts are left unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["excerpt_starts", "fade_window", "excerpt_weight"]


def excerpt_starts(n_total: int, n_excerpt: int, n_fade: int) -> list[int]:
    """Start sample of every excerpt covering ``n_total`` samples."""
    if n_excerpt <= 0:
        raise ValueError("n_excerpt must be positive")
    if not 0 <= n_fade < n_excerpt:
        raise ValueError(f"n_fade={n_fade} must be in 0..{n_excerpt - 1}")
    if n_total <= n_excerpt:
        return [0]
    hop = n_excerpt - n_fade
    starts = list(range(0, n_total - n_excerpt, hop))
    starts.append(n_total - n_excerpt)
    return starts


def fade_window(n_fade: int) -> np.ndarray:
    """The fade-in ramp: ``sin^2`` over ``n_fade`` samples; fade-out is its reverse, and
    ramp + reversed ramp = 1 (a constant-gain crossfade of correlated material)."""
    t = (np.arange(n_fade) + 0.5) / max(n_fade, 1)
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def excerpt_weight(n_excerpt: int, n_fade: int, first: bool, last: bool) -> np.ndarray:
    """Overlap-add weight of one excerpt (flat top, faded ends except at the signal's edges)."""
    w = np.ones(n_excerpt, dtype=np.float32)
    if n_fade > 0:
        ramp = fade_window(n_fade)
        if not first:
            w[:n_fade] = ramp
        if not last:
            w[-n_fade:] = ramp[::-1]
    return w
