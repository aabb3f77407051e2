"""Measures of what a dream did to a sound, and of its artefacts.

- ``dc_share``: share of the signal's power below ``cutoff_hz`` (20 Hz): a cone pushed
  sideways, not a sound.
- ``comb_share``: share of power within ``width_hz`` of the harmonics ``k * f0`` (k >= 1)
  of a stride grid ``f0 = sample_rate / prod(strides up to the dreamed layer)``: the
  buzz strided convolutions leave. White noise scores the chance level
  ``~ 2 * width_hz / f0``.
- ``envelope_correlation``: Pearson correlation of two signals' RMS envelopes (50 ms
  frames): does the rhythm survive?
- ``log_spectral_distance``: mean over frames of the RMS difference, in dB, between two
  power spectra (floored at -100 dB): is the change audible?
- ``centroid_spread_octaves``: ``log2(max / min)`` of a set of spectral centroids (the
  maps of one layer): do the maps sound different from each other?
"""

from __future__ import annotations

import numpy as np

from .features import magnitude_spectrogram

__all__ = [
    "dc_share",
    "comb_share",
    "comb_chance",
    "envelope_correlation",
    "log_spectral_distance",
    "centroid_spread_octaves",
]


def _power_spectrum(x: np.ndarray, sample_rate: int):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    power = np.abs(np.fft.rfft(x)) ** 2
    return np.fft.rfftfreq(len(x), 1.0 / sample_rate), power


def dc_share(x, sample_rate: int, cutoff_hz: float = 20.0) -> float:
    freqs, power = _power_spectrum(x, sample_rate)
    total = power.sum()
    return float(power[freqs < cutoff_hz].sum() / total) if total > 0 else 0.0


def comb_share(x, sample_rate: int, f0_hz: float, width_hz: float = 3.0) -> float:
    freqs, power = _power_spectrum(x, sample_rate)
    total = power[freqs > 0].sum()
    if total <= 0 or f0_hz <= 0:
        return 0.0
    nearest = np.round(freqs / f0_hz)
    near = (nearest >= 1) & (np.abs(freqs - nearest * f0_hz) <= width_hz)
    return float(power[near].sum() / total)


def comb_chance(f0_hz: float, width_hz: float = 3.0) -> float:
    """The comb share of white noise (power spread evenly): the share of bins near a harmonic."""
    return min(1.0, 2 * width_hz / f0_hz)


def envelope_correlation(a, b, sample_rate: int, frame_seconds: float = 0.05) -> float:
    n = max(1, int(round(frame_seconds * sample_rate)))
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    m = min(len(a), len(b)) // n * n
    if m < 2 * n:
        return 1.0
    ea = np.sqrt(np.mean(a[:m].reshape(-1, n) ** 2, axis=1))
    eb = np.sqrt(np.mean(b[:m].reshape(-1, n) ** 2, axis=1))
    if ea.std() == 0 or eb.std() == 0:
        return 1.0 if np.allclose(ea, eb) else 0.0
    return float(np.corrcoef(ea, eb)[0, 1])


def log_spectral_distance(a, b, sample_rate: int) -> float:
    _, ma = magnitude_spectrogram(a, sample_rate)
    _, mb = magnitude_spectrogram(b, sample_rate)
    n = min(len(ma), len(mb))
    la = 10 * np.log10(np.maximum(ma[:n] ** 2, 1e-10))
    lb = 10 * np.log10(np.maximum(mb[:n] ** 2, 1e-10))
    return float(np.mean(np.sqrt(np.mean((la - lb) ** 2, axis=1))))


def centroid_spread_octaves(centroids) -> float:
    c = np.asarray([v for v in centroids if v > 0], dtype=np.float64)
    return float(np.log2(c.max() / c.min())) if len(c) >= 2 else 0.0
