"""STFT, inverse STFT and the DreamSound hard-cut mask (numpy references).

Conventions (shared with the torch versions in the engine): periodic Hann window of
``win_length`` samples zero-padded to ``n_fft``, frames every ``hop_length`` samples,
the signal reflect-padded by ``n_fft // 2`` at both ends (centred frames); the inverse is
a windowed overlap-add divided by the summed squared window, so ``istft(stft(x)) == x``
(to float rounding) whenever ``hop_length <= win_length / 2``. These are exactly the
conventions of ``torch.stft``/``torch.istft`` with ``center=True, pad_mode="reflect"``.

The hard-cut mask of DreamSound (Camara Halac & Delgado): normalise a magnitude
spectrogram by its maximum, subtract ``threshold``, keep the sign: bins above the
threshold pass unchanged (1), the rest are cut (0).
"""

from __future__ import annotations

import numpy as np

from .ops import NUMPY

__all__ = ["hann", "stft", "istft", "hard_cut_mask"]


def hann(win_length: int, n_fft: int) -> np.ndarray:
    w = np.hanning(win_length + 1)[:-1]
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


def stft(x: np.ndarray, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """``[..., n_fft // 2 + 1, n_frames]`` complex STFT of ``x`` ``[..., n]``."""
    x = np.asarray(x, dtype=np.float64)
    pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    padded = np.pad(x, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    return np.swapaxes(np.fft.rfft(frames * hann(win_length, n_fft), axis=-1), -1, -2)


def istft(spec: np.ndarray, n_fft: int, hop_length: int, win_length: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (windowed overlap-add), cropped to ``length`` samples."""
    window = hann(win_length, n_fft)
    frames = np.fft.irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1) * window
    n_frames = frames.shape[-2]
    total = n_fft + hop_length * (n_frames - 1)
    out = np.zeros(frames.shape[:-2] + (total,))
    norm = np.zeros(total)
    for i in range(n_frames):
        out[..., i * hop_length : i * hop_length + n_fft] += frames[..., i, :]
        norm[i * hop_length : i * hop_length + n_fft] += window**2
    out = out / np.where(norm > 1e-11, norm, 1.0)
    return out[..., n_fft // 2 : n_fft // 2 + length]


def hard_cut_mask(magnitude: np.ndarray, threshold: float) -> np.ndarray:
    """1 where ``magnitude / max(magnitude) - threshold > 0``, else 0 (per item: the max is
    taken over the last two axes, frequency and time)."""
    return NUMPY.magnitude_mask(magnitude, threshold)
