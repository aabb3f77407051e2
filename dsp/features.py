"""The four audio features of Bisig & Wegner, per frame and summarised.

- **RMS** (loudness): ``sqrt(mean(frame ** 2))`` of each (unwindowed) frame.
- **spectral centroid** (brightness, Hz): ``sum(f * |X|) / sum(|X|)``.
- **spectral flatness** (noisiness, 0..1): geometric / arithmetic mean of the power
  spectrum ``|X|^2`` of each frame (the librosa convention). For white noise the
  per-frame value is ``exp(-euler_gamma) ~ 0.56`` (the log-bias of a chi-square power
  estimate); the flatness of the frame-averaged spectrum (``average=True``) is ~1.
  ``band_hz=(lo, hi)`` restricts it to a pass band (after a low-pass, full-band
  flatness is meaningless).
- **spectral flux** (roughness): ``sqrt(mean_k (M_t,k - M_t-1,k) ** 2)`` of amplitude
  spectra ``M`` scaled so a sine of amplitude ``A`` peaks at ``A``; 0 for steady sound.

Frames: ``n_fft`` samples, ``hop_length`` apart, Hann window, no centre padding.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "N_FFT",
    "HOP_LENGTH",
    "frame",
    "magnitude_spectrogram",
    "rms",
    "spectral_centroid",
    "spectral_flatness",
    "spectral_flux",
    "feature_summary",
]

N_FFT = 2048
HOP_LENGTH = 512
_AMIN = 1e-10  # power floor of the flatness log, as librosa's amin


def frame(x: np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """``[n_frames, n_fft]`` frames of mono ``x`` (zero padded to at least one frame)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop_length]


def magnitude_spectrogram(x, sample_rate: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH):
    """``(freqs [n_bins], M [n_frames, n_bins])``: Hann-windowed amplitude spectra scaled
    so a sine of amplitude A at a bin centre peaks at A."""
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    spectra = np.abs(np.fft.rfft(frame(x, n_fft, hop_length) * window, axis=-1)) * (2.0 / window.sum())
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate), spectra


def rms(x, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Per-frame RMS of mono ``x``."""
    return np.sqrt(np.mean(frame(x, n_fft, hop_length) ** 2, axis=-1))


def spectral_centroid(x, sample_rate: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Per-frame spectral centroid in Hz (0 for a silent frame)."""
    freqs, m = magnitude_spectrogram(x, sample_rate, n_fft, hop_length)
    total = m.sum(axis=-1)
    return np.where(total > 0, (m * freqs).sum(axis=-1) / np.maximum(total, 1e-300), 0.0)


def spectral_flatness(x, sample_rate: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                      band_hz: tuple[float, float] | None = None, average: bool = False,
                      gate_db: float | None = None) -> np.ndarray:
    """Per-frame spectral flatness of the power spectrum (one value if ``average``).

    ``gate_db`` keeps only the frames within that many dB of the loudest frame: a frame of
    digital silence has a perfectly "flat" numerical floor (flatness 1), which says
    nothing about hiss, so comparisons of stems with rests use a 60 dB gate.
    """
    freqs, m = magnitude_spectrogram(x, sample_rate, n_fft, hop_length)
    power = m ** 2
    if gate_db is not None:
        energy = power.sum(axis=-1)
        keep_frames = energy >= energy.max() * 10 ** (-gate_db / 10) if energy.max() > 0 else energy >= 0
        power = power[keep_frames]
    if band_hz is not None:
        keep = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
        power = power[:, keep]
    if average:
        power = power.mean(axis=0, keepdims=True)
    power = np.maximum(power, _AMIN)
    return np.exp(np.mean(np.log(power), axis=-1)) / np.mean(power, axis=-1)


def spectral_flux(x, sample_rate: int, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Per-frame spectral flux (one fewer value than frames; ``[0.]`` for one frame)."""
    _, m = magnitude_spectrogram(x, sample_rate, n_fft, hop_length)
    if len(m) < 2:
        return np.zeros(1)
    return np.sqrt(np.mean(np.diff(m, axis=0) ** 2, axis=-1))


def feature_summary(x, sample_rate: int, band_hz: tuple[float, float] = (40.0, 8000.0)) -> dict:
    """Mean and std over frames of the four features (+ in-band flatness) of mono ``x``."""
    values = {
        "rms": rms(x),
        "centroid_hz": spectral_centroid(x, sample_rate),
        "flatness": spectral_flatness(x, sample_rate),
        "flatness_inband": spectral_flatness(x, sample_rate, band_hz=band_hz),
        "flux": spectral_flux(x, sample_rate),
    }
    out = {}
    for name, v in values.items():
        out[name + "_mean"] = float(np.mean(v))
        out[name + "_std"] = float(np.std(v))
    return out
