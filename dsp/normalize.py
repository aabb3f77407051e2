"""Level helpers: zero-mean, peak normalisation, dB conversions, DC removal."""

from __future__ import annotations

import numpy as np

from .ops import NUMPY

__all__ = ["db_to_gain", "remove_dc", "peak_normalize", "peak", "rms_envelope", "follow_envelope", "TINY",
           "CEILING_DB"]

TINY = 1e-12  # below any audible level (-240 dBFS): the floor of every divisor here
CEILING_DB = -0.1  # no output sample above -0.1 dBFS (the engine's blocks and every file written)


def db_to_gain(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def peak(x: np.ndarray, axis=-1) -> np.ndarray:
    """Largest absolute sample along ``axis``."""
    return np.max(np.abs(x), axis=axis, keepdims=True)


def remove_dc(x: np.ndarray, axis=-1) -> np.ndarray:
    """Subtract the mean along ``axis`` (time by default)."""
    return x - np.mean(x, axis=axis, keepdims=True)


def peak_normalize(x: np.ndarray, target: float = 1.0, axis=-1) -> np.ndarray:
    """Zero-mean, then scale so the peak along ``axis`` equals ``target``.

    Silence (peak below ``TINY``) stays silence rather than being blown up to noise.
    """
    x = remove_dc(np.asarray(x, dtype=np.float32), axis=axis)
    p = peak(x, axis=axis)
    scale = np.where(p > TINY, target / np.maximum(p, TINY), 0.0)
    return (x * scale).astype(np.float32)


def rms_envelope(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving RMS over ``window`` samples along the last axis (same length, float64);
    the definition is ``dsp.ops.ArrayOps.rms_envelope``, shared with the GPU path."""
    return NUMPY.rms_envelope(x, window)


def follow_envelope(
    wet: np.ndarray, dry: np.ndarray, amount: float, window: int = 1024, max_gain_db: float = 24.0
) -> np.ndarray:
    """Give ``wet`` the loudness contour of ``dry``: gain ``(env_dry / env_wet) ** amount``
    per sample (moving RMS over ``window`` samples, gain capped at ``max_gain_db``); the
    definition is ``dsp.ops.ArrayOps.follow_envelope``, shared with the GPU path."""
    return NUMPY.follow_envelope(wet, dry, amount, window, max_gain_db, floor=TINY)
