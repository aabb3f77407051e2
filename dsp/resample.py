"""Sample-rate conversion with a proper polyphase resampler (scipy.signal.resample_poly), and
the same resampler as a table of taps (``polyphase_plan``) for arrays on a device."""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

__all__ = ["resample", "polyphase_plan"]


def resample(x: np.ndarray, rate_in: int, rate_out: int, axis: int = -1) -> np.ndarray:
    """Resample ``x`` along ``axis`` (time) from ``rate_in`` to ``rate_out`` Hz.

    Uses a Kaiser-windowed polyphase FIR (scipy's default), zero-phase: the output is
    time-aligned with the input and has length ``ceil(n * rate_out / rate_in)``.
    """
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive (got {rate_in} -> {rate_out})")
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly  # 0.6 s to import: only when a file needs it

    g = gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g, axis=axis).astype(np.float32)


@lru_cache(maxsize=8)
def polyphase_plan(n_in: int, rate_in: int, rate_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``resample`` of ``n_in`` samples as a gather: ``(index, weights)``, both ``(n_out, taps)``,
    with ``resample(x)[..., m] == sum(x[..., index[m]] * weights[m])`` up to float32 rounding.

    The filter, its padding and its alignment are scipy's ``resample_poly`` (Kaiser window,
    beta 5, half length 10 x max(up, down), in float32 as for a float32 signal); output sample
    ``m`` is the sum over the input samples the upsampled filter reaches (taps out of range
    weigh 0). ``ArrayOps.resample`` applies it to numpy arrays or device tensors alike.
    """
    from scipy.signal import firwin  # only where a device resamples

    g = gcd(int(rate_in), int(rate_out))
    up, down = int(rate_out) // g, int(rate_in) // g
    n_out = -(-n_in * up // down)
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)
    h *= up
    pre = down - half_len % down
    remove = (half_len + pre) // down
    post = 0
    while ((n_in - 1) * up + len(h) + pre + post - 1) // down + 1 < n_out + remove:  # upfirdn's output length
        post += 1
    taps = np.concatenate([np.zeros(pre, np.float32), h, np.zeros(post, np.float32)])
    first = (np.arange(n_out, dtype=np.int64) + remove) * down  # position of output m in the upsampled signal
    phase = first % up
    k = phase[:, None] + np.arange(-(-len(taps) // up)) * up  # the filter taps that land on input samples
    i = (first - phase)[:, None] // up - np.arange(k.shape[1])
    valid = (k < len(taps)) & (i >= 0) & (i < n_in)
    weights = np.where(valid, taps[np.minimum(k, len(taps) - 1)], 0).astype(np.float32)
    return np.clip(i, 0, n_in - 1), weights
