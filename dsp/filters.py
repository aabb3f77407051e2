"""Zero-phase frequency-domain filters: the low-pass of Bisig & Wegner and the DC blocker.

Both are Butterworth *magnitude* responses applied by multiplying the real FFT of a
signal (circularly, which suits the circularly shifted excerpts of the dream loop)::

    |H_lp(f)| = 1 / sqrt(1 + (f / cutoff_hz) ** (2 * order))
    |H_hp(f)| = 1 / sqrt(1 + (cutoff_hz / f) ** (2 * order)),   |H_hp(0)| = 0

No phase shift, so a dreamed excerpt stays sample-aligned. An FFT multiply of 44,100
samples costs ~1 ms where a 101-tap direct convolution costs ~20 ms.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOWPASS_ORDER", "HIGHPASS_ORDER", "band_response", "grid_notch_response", "fft_filter", "check_cutoff"]

LOWPASS_ORDER = 8  # 48 dB/octave: 12 kHz cutoff leaves -48 dB at 24 kHz
HIGHPASS_ORDER = 2  # 12 dB/octave: a 20 Hz DC blocker that leaves 40 Hz at -0.3 dB


def check_cutoff(name: str, cutoff_hz: float, sample_rate: int) -> None:
    """Raise ``ValueError`` naming the value and the allowed range."""
    nyquist = sample_rate / 2
    if cutoff_hz < 0 or cutoff_hz >= nyquist:
        raise ValueError(
            f"{name}={cutoff_hz:g} is outside 0..{nyquist:g} Hz (Nyquist for {sample_rate} Hz audio); "
            f"use 0 to switch it off or a value below {nyquist:g}"
        )


def band_response(
    n_samples: int,
    sample_rate: int,
    lowpass_hz: float = 0.0,
    highpass_hz: float = 0.0,
    lowpass_order: int = LOWPASS_ORDER,
    highpass_order: int = HIGHPASS_ORDER,
) -> np.ndarray:
    """Real gain per rFFT bin (length ``n_samples // 2 + 1``), float64.

    ``lowpass_hz=0`` / ``highpass_hz=0`` switch that side off.
    """
    freqs = np.fft.rfftfreq(int(n_samples), 1.0 / sample_rate)
    gain = np.ones_like(freqs)
    if lowpass_hz > 0:
        check_cutoff("lowpass_hz", lowpass_hz, sample_rate)
        gain *= 1.0 / np.sqrt(1.0 + (freqs / lowpass_hz) ** (2 * lowpass_order))
    if highpass_hz > 0:
        check_cutoff("highpass_hz", highpass_hz, sample_rate)
        with np.errstate(divide="ignore"):
            ratio = np.where(freqs > 0, highpass_hz / np.maximum(freqs, 1e-300), np.inf)
        gain *= 1.0 / np.sqrt(1.0 + ratio ** (2 * highpass_order))
    return gain


def grid_notch_response(n_samples: int, sample_rate: int, grids_hz, width_hz: float) -> np.ndarray:
    """Real gain per rFFT bin: a Gaussian notch of standard deviation ``width_hz`` at every
    harmonic ``k * f0`` (k >= 1, below Nyquist) of each grid ``f0`` in ``grids_hz``.

    Applied to the dream step, it keeps strided convolutions' stride-grid lines out of the
    dream; ``width_hz=0`` or no grids gives all ones.
    """
    freqs = np.fft.rfftfreq(int(n_samples), 1.0 / sample_rate)
    gain = np.ones_like(freqs)
    if width_hz <= 0:
        return gain
    for f0 in grids_hz:
        for k in range(1, int(freqs[-1] // f0) + 1):
            near = np.abs(freqs - k * f0) < 6 * width_hz  # the Gaussian is 1 to float64 precision beyond 6 sigma
            gain[near] *= 1.0 - np.exp(-0.5 * ((freqs[near] - k * f0) / width_hz) ** 2)
    return gain


def fft_filter(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Apply an rFFT gain (from :func:`band_response`) along the last axis, circularly."""
    x = np.asarray(x)
    n = x.shape[-1]
    return np.fft.irfft(np.fft.rfft(x, axis=-1) * gain, n=n, axis=-1).astype(x.dtype, copy=False)
