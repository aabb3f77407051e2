"""Excerpt scheduling: where the dream windows of a long signal start, and the
raised-cosine crossfades that join them.

A signal is covered by excerpts of ``n_excerpt`` samples that start every ``hop =
n_excerpt - n_fade`` samples from sample 0 and so overlap by ``n_fade`` samples. The grid
does not depend on the signal's length (the last excerpt may run past the end, zero
padded), so a file dreamed offline and the same audio streamed live are cut into the same
excerpts. Each excerpt is weighted by a flat-top window whose ends are sin^2 fades (the
first excerpt has no fade-in), and the overlap-add is divided by the summed weights, which
are 1 everywhere, so unchanged excerpts reconstruct the signal exactly.

The signal's length only decides where the grid stops: an excerpt is dreamed when it starts
before ``n_total - n_fade``. One that starts later would only cross-fade into the previous
excerpt's fade-out (the rest of it is padding); without it the weights there are that
fade-out alone, never 0 (``sin^2`` at half a sample from its end), and the division by the
summed weights gives the previous excerpt at full level. A 1 s file at 1 s excerpts is one
excerpt, not two. A stream dreams an excerpt once its last sample has arrived, so it starts
before ``n_received - n_excerpt``, never among the dropped ones.

That constant-gain crossfade is right for correlated neighbours (a dreamed input). Two
*independent* excerpts (each dreamed from its own noise) add in power, not in amplitude:
under the ``sin^2`` ramps their sum dips by 3 dB mid-fade, a pulse at every hop.
``uncorrelated_fade_gain`` lifts the fades back to constant power.
"""

from __future__ import annotations

import numpy as np

__all__ = ["excerpt_starts", "fade_window", "excerpt_weight", "uncorrelated_fade_gain"]


def excerpt_starts(n_total: int, n_excerpt: int, n_fade: int) -> list[int]:
    """Start sample of every excerpt a signal of ``n_total`` samples needs: those that start
    before ``n_total - n_fade`` (and always the first), so the last one ends at or after
    ``n_total``."""
    if n_excerpt <= 0:
        raise ValueError("n_excerpt must be positive")
    if not 0 <= n_fade < n_excerpt:
        raise ValueError(f"n_fade={n_fade} must be in 0..{n_excerpt - 1}")
    return list(range(0, max(int(n_total) - n_fade, 1), n_excerpt - n_fade))


def fade_window(n_fade: int) -> np.ndarray:
    """The fade-in ramp: ``sin^2`` over ``n_fade`` samples; fade-out is its reverse, and
    ramp + reversed ramp = 1 (a constant-gain crossfade of correlated material)."""
    t = (np.arange(n_fade) + 0.5) / max(n_fade, 1)
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def excerpt_weight(n_excerpt: int, n_fade: int, first: bool) -> np.ndarray:
    """Overlap-add weight of one excerpt (flat top, sin^2 fades; no fade-in for the first)."""
    w = np.ones(n_excerpt, dtype=np.float32)
    if n_fade > 0:
        ramp = fade_window(n_fade)
        if not first:
            w[:n_fade] = ramp
        w[-n_fade:] = ramp[::-1]
    return w


def uncorrelated_fade_gain(n_excerpt: int, n_fade: int, first: bool) -> np.ndarray:
    """Gain for an excerpt whose neighbours are independent of it: ``1 / sqrt(r^2 + (1 -
    r)^2)`` over its fades (``r`` the ``sin^2`` ramp), 1 elsewhere. Both excerpts of a
    crossfade carry the same gain there, so their weighted sum keeps the power of either
    (equal power) instead of dipping 3 dB."""
    g = np.ones(n_excerpt, dtype=np.float32)
    if n_fade > 0:
        ramp = fade_window(n_fade).astype(np.float64)
        lift = (1.0 / np.sqrt(ramp**2 + (1.0 - ramp) ** 2)).astype(np.float32)
        if not first:
            g[:n_fade] = lift
        g[-n_fade:] = lift[::-1]
    return g
