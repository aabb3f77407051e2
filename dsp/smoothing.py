"""Cascade Gaussian smoothing of the gradient and the random temporal offset.

Definitions (the common PyTorch DeepDream cascade, as used by Bisig & Wegner):

- **kernel size** ``smoothing_kernel``: the number of taps of each Gaussian (odd,
  centred). 1 switches smoothing off.
- **smoothing coefficient** ``smoothing_coef``: the base of the Gaussian's standard
  deviation in samples. At iteration ``i`` (0-based) of ``n`` the cascade uses
  ``sigma = smoothing_coef + 2 * (i + 1) / n`` -- the schedule of the PyTorch DeepDream
  code the papers build on, so smoothing grows from ``coef`` to ``coef + 2`` samples
  over a run.
- **cascade**: three Gaussians at ``0.5 * sigma``, ``sigma`` and ``2 * sigma``, each
  normalised to unit sum over the ``kernel_size`` taps, applied with reflect padding and
  averaged. Because convolution is linear, that equals one convolution with the
  average of the three kernels (:func:`cascade_kernel`), which is what we apply.
- **edges**: the dream loop smooths *circularly* (``mode="wrap"``), like its circular
  random offset and FFT low-pass, so smoothing folds into the same FFT as the filter
  (:func:`kernel_response`). Only the outer ``kernel_size // 2`` samples of an excerpt
  differ from reflect padding, and those lie under the crossfade.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "smoothing_sigma", "gaussian_kernel", "cascade_kernel", "cascade_smooth", "kernel_response",
    "smoothing_cosines", "draw_offset", "balanced_offsets",
]


def smoothing_sigma(smoothing_coef: float, iteration: int, n_iterations: int) -> float:
    """Standard deviation (samples) of the middle Gaussian at ``iteration`` of ``n_iterations``."""
    return float(smoothing_coef) + 2.0 * (iteration + 1) / max(int(n_iterations), 1)


def gaussian_kernel(kernel_size: int, sigma: float) -> np.ndarray:
    """A centred Gaussian of ``kernel_size`` taps, normalised to sum 1."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be a positive odd number")
    t = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2
    sigma = max(float(sigma), 1e-6)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def cascade_kernel(kernel_size: int, sigma: float) -> np.ndarray:
    """Average of the Gaussians at 0.5, 1 and 2 sigma (each unit-sum): one unit-sum kernel."""
    return np.mean([gaussian_kernel(kernel_size, s * sigma) for s in (0.5, 1.0, 2.0)], axis=0)


def cascade_smooth(x: np.ndarray, kernel_size: int, sigma: float, mode: str = "reflect") -> np.ndarray:
    """Smooth ``x`` along the last axis with the cascade kernel (same length).

    ``mode`` is the edge padding: ``"reflect"`` (the image DeepDream convention) or
    ``"wrap"`` (circular, what the dream loop uses).
    """
    x = np.asarray(x)
    if kernel_size <= 1:
        return x
    kernel = cascade_kernel(kernel_size, sigma)
    half = kernel_size // 2
    pad = [(0, 0)] * (x.ndim - 1) + [(half, half)]
    padded = np.pad(x, pad, mode=mode)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel_size, axis=-1)
    return (windows @ kernel[::-1]).astype(x.dtype, copy=False)


def smoothing_cosines(kernel_size: int, n_samples: int, dtype=np.float32) -> np.ndarray:
    """``[1 + half, n_samples // 2 + 1]``: row 0 ones, row j ``2 cos(2 pi j f / n)``; a
    centred symmetric kernel's circular rFFT response is ``kernel[half:] @ this``."""
    half = kernel_size // 2
    f = np.arange(n_samples // 2 + 1)
    rows = [np.ones(len(f))] + [2 * np.cos(2 * np.pi * j * f / n_samples) for j in range(1, half + 1)]
    return np.stack(rows).astype(dtype)


def kernel_response(kernel: np.ndarray, n_samples: int) -> np.ndarray:
    """rFFT gain (real, ``n_samples // 2 + 1`` bins) of a centred symmetric kernel applied
    circularly: multiplying a signal's rFFT by it equals ``cascade_smooth(mode="wrap")``."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return kernel[len(kernel) // 2 :] @ smoothing_cosines(len(kernel), n_samples, np.float64)


def draw_offset(rng: np.random.Generator, max_offset_samples: int) -> int:
    """A random temporal offset, uniform over ``-max..max`` samples (0 when max is 0)."""
    if max_offset_samples <= 0:
        return 0
    return int(rng.integers(-max_offset_samples, max_offset_samples + 1))


def balanced_offsets(rng: np.random.Generator, max_offset_samples: int, n_iterations: int) -> np.ndarray:
    """``n_iterations`` random offsets in ``-max..max`` samples, stratified: each block of
    ``2 max + 1`` consecutive iterations uses every offset exactly once, in an order drawn
    from ``rng`` (the last block is cut short; a run shorter than one block draws without
    replacement). Each offset is still uniform over the range, but every short stretch of
    iterations sees every offset, so the dream depends less on which seed drew them.

    Returns an ``int64`` array (all 0 when max is 0).
    """
    n = max(int(n_iterations), 0)
    if max_offset_samples <= 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    values = np.arange(-max_offset_samples, max_offset_samples + 1, dtype=np.int64)
    n_blocks = -(-n // len(values))
    return rng.permuted(np.tile(values, (n_blocks, 1)), axis=1).reshape(-1)[:n]
