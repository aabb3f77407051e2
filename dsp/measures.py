"""Measures that tell a dream from an EQ (issue 15), as pure numpy functions.

- ``eq_gain_residual``: what is left of a change after removing the best static EQ (one
  gain per frequency bin) plus the best per-frame gain, in log-spectral terms, over the
  bins where both signals sound. A pure EQ or gain scores ~0 dB; two independent white
  noises score ``10 / ln 10 * pi / sqrt(3) ~ 7.9 dB`` (the spread of the log-ratio of two
  exponential variables).
- ``grid_line_prominence``: level, in dB, of each harmonic ``k * f0`` of a stride grid
  over the median of its neighbours (a ring of bins either side) in a Welch spectrum: a
  sine added at a grid frequency scores its power over the noise in one bin's
  equivalent noise bandwidth. ``grid_line_summary`` gives the median per grid.
- ``band_share_change_db``: change, in dB, of the share of the power in a band (8-16 kHz:
  the roof of a sound) from one signal to another.
- ``knob_spread``: how much more the outputs of different knob settings differ from each
  other than the outputs of different seeds (mean pairwise log-spectral distance ratio).
- ``hop_pulsing``: correlation of a signal's loudness envelope with itself one excerpt hop
  later: a dream that swells and dips with the excerpt grid scores near 1 (a noise
  amplitude-modulated at the hop rate ~1), a steady or freely varying one near 0.
- ``crossfade_click_db``: the loudest short moment inside the crossfades against the
  typical (median) short-time level of the parts heard alone: a click or a burst at a
  crossfade scores its level over the rest, a steady signal ~1 dB.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .artefacts import log_spectral_distance
from .features import frame

__all__ = ["log_power_spectrogram", "eq_gain_residual", "welch_power", "grid_line_prominence", "grid_line_summary",
           "band_share_change_db", "knob_spread", "mean_pairwise_distance", "hop_pulsing", "crossfade_click_db",
           "MIN_GRID_HZ", "PULSE_FRAME_SECONDS", "CLICK_WINDOW_SECONDS"]

MIN_GRID_HZ = 30.0  # grids finer than this cannot be told from their neighbours in an 8 s Welch spectrum
_TINY = 1e-20
PULSE_FRAME_SECONDS = 0.01  # envelope frames of hop_pulsing: short against a 0.9 s hop, long enough to average noise
CLICK_WINDOW_SECONDS = 0.005  # moving-RMS window of crossfade_click_db: a click is a few ms


def log_power_spectrogram(x, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``[frames, bins]`` power of a Hann-windowed STFT in dB (floored at -200 dB)."""
    frames = frame(np.asarray(x, dtype=np.float64).reshape(-1), n_fft, hop_length) * np.hanning(n_fft)
    return 10 * np.log10(np.maximum(np.abs(np.fft.rfft(frames, axis=-1)) ** 2, _TINY))


def eq_gain_residual(dry, wet, n_fft: int = 2048, hop_length: int = 512, floor_db: float = 60.0,
                     n_rounds: int = 20) -> float:
    """RMS (dB) of ``L_wet - L_dry - a(f) - b(t)`` over the bins where both sound.

    ``L`` are log power spectrograms; ``a`` (one value per bin: the best static EQ) and
    ``b`` (one per frame: the best gain) are the least-squares fit of the log-ratio on
    the sounding bins (within ``floor_db`` of each signal's loudest bin), found by
    alternating means (``n_rounds`` rounds converge well below 0.01 dB here).
    Returns 0 when fewer than two frames or bins sound in both.
    """
    la, lb = log_power_spectrogram(dry, n_fft, hop_length), log_power_spectrogram(wet, n_fft, hop_length)
    n = min(len(la), len(lb))
    la, lb = la[:n], lb[:n]
    if n < 2:
        return 0.0
    mask = (la >= la.max() - floor_db) & (lb >= lb.max() - floor_db)
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    if rows.sum() < 2 or cols.sum() < 2:
        return 0.0
    d = np.where(mask, lb - la, 0.0)
    w = mask.astype(np.float64)
    a = np.zeros(d.shape[1])
    b = np.zeros(d.shape[0])
    for _ in range(n_rounds):
        a = np.sum(w * (d - b[:, None]), axis=0) / np.maximum(w.sum(axis=0), 1)
        b = np.sum(w * (d - a[None, :]), axis=1) / np.maximum(w.sum(axis=1), 1)
    resid = (d - a[None, :] - b[:, None])[mask]
    return float(np.sqrt(np.mean(resid**2)))


def welch_power(x, sample_rate: int, n_fft: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs, power)``: mean Hann-windowed periodogram over half-overlapping frames."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = frame(x, n_fft, n_fft // 2) * np.hanning(n_fft)
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate), np.mean(np.abs(np.fft.rfft(frames, axis=-1)) ** 2, axis=0)


def grid_line_prominence(x, sample_rate: int, f0_hz: float, n_fft: int = 16384, max_hz: float | None = None,
                         spectrum: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(line_hz, prominence_db)`` for each harmonic ``k * f0_hz`` (k >= 1) below ``max_hz``
    (default: Nyquist less the ring).

    A line's level is the largest bin within one bin of ``k * f0``; its neighbours are the
    bins from 3 bins to ``min(0.45 f0, 40 bins)`` away on both sides, and the prominence
    is ``10 log10(line / median(neighbours))``. Lines whose neighbours are all silent
    (below 1e-20) are left out. ``spectrum`` (from ``welch_power``) saves recomputing it.
    """
    freqs, power = spectrum if spectrum is not None else welch_power(x, sample_rate, n_fft)
    bin_hz = freqs[1] - freqs[0]
    inner, outer = 3, int(min(0.45 * f0_hz / bin_hz, 40))
    if outer <= inner + 1:
        return np.zeros(0), np.zeros(0)
    top = (max_hz if max_hz else sample_rate / 2) - (outer + 1) * bin_hz
    hz, db = [], []
    for k in range(1, int(top // f0_hz) + 1):
        c = int(round(k * f0_hz / bin_hz))
        line = power[c - 1 : c + 2].max()
        ring = np.concatenate([power[c - outer : c - inner + 1], power[c + inner : c + outer + 1]])
        ref = np.median(ring)
        if ref <= _TINY:
            continue
        hz.append(k * f0_hz)
        db.append(10 * np.log10(max(line, _TINY) / ref))
    return np.asarray(hz), np.asarray(db)


def grid_line_summary(x, sample_rate: int, grids_hz, n_fft: int = 16384, max_hz: float | None = None) -> list[float]:
    """Median line prominence (dB) per grid of ``grids_hz``; NaN for a grid finer than
    ``MIN_GRID_HZ`` or with no measurable line."""
    spectrum = welch_power(x, sample_rate, n_fft)
    out = []
    for f0 in grids_hz:
        _, db = grid_line_prominence(x, sample_rate, f0, n_fft, max_hz, spectrum) if f0 >= MIN_GRID_HZ else (0, [])
        out.append(float(np.median(db)) if len(db) else float("nan"))
    return out


def band_share_change_db(dry, wet, sample_rate: int, band_hz: tuple[float, float] = (8000.0, 16000.0)) -> float:
    """``10 log10(share_wet / share_dry)`` of the power in ``band_hz`` (shares floored at 1e-12)."""

    def share(x):
        freqs, power = welch_power(x, sample_rate, 4096)
        total = power[1:].sum()
        inside = power[(freqs >= band_hz[0]) & (freqs < band_hz[1])].sum()
        return max(inside / total, 1e-12) if total > 0 else 1e-12

    return float(10 * np.log10(share(wet) / share(dry)))


def mean_pairwise_distance(signals, sample_rate: int) -> float:
    """Mean log-spectral distance (dB) over all pairs of ``signals`` (at least two)."""
    pairs = list(combinations(range(len(signals)), 2))
    if not pairs:
        raise ValueError("mean_pairwise_distance needs at least two signals")
    return float(np.mean([log_spectral_distance(signals[i], signals[j], sample_rate) for i, j in pairs]))


def knob_spread(by_setting, by_seed, sample_rate: int) -> float:
    """How much more ``by_setting`` (outputs of different knob settings, same seed) differ
    from each other than ``by_seed`` (outputs of one setting, different seeds): the ratio
    of their mean pairwise log-spectral distances (inf when the seeds agree exactly)."""
    seeds = mean_pairwise_distance(by_seed, sample_rate)
    settings = mean_pairwise_distance(by_setting, sample_rate)
    return float(settings / seeds) if seeds > 0 else float("inf")


def hop_pulsing(x, sample_rate: int, hop_samples: int, frame_seconds: float = PULSE_FRAME_SECONDS) -> float:
    """Pearson correlation between the RMS envelope of ``x`` (frames of ``frame_seconds``,
    less its mean over each hop) and the same envelope ``hop_samples`` later.

    Removing each hop's mean leaves the shape *within* the hops: excerpts dreamed at
    slightly different levels (each is peak-normalised) step up and down at random, which
    is no pulse, and with a few excerpts would scatter the correlation by +-0.3.

    A noise amplitude-modulated by ``1 + m sin(2 pi t / hop)`` scores
    ``(m^2 / 2) / (m^2 / 2 + 1 / (2 n))`` with ``n`` samples per frame (~1); a steady noise
    ~0 (within ``1 / sqrt(n_frames)``). NaN when the signal is shorter than two hops or its
    envelope does not move.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = max(1, int(round(frame_seconds * sample_rate)))
    n_frames = len(x) // n
    lag = int(round(hop_samples / n))
    if lag < 2 or n_frames < 2 * lag:
        return float("nan")
    n_rows = n_frames // lag
    env = np.sqrt(np.mean(x[: n_rows * lag * n].reshape(n_rows, lag, n) ** 2, axis=-1))
    env = (env - env.mean(axis=1, keepdims=True)).reshape(-1)  # a level that differs from hop to hop is no pulse
    a, b = env[:-lag], env[lag:]
    if np.std(a) <= 0 or np.std(b) <= 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def crossfade_click_db(x, sample_rate: int, n_excerpt: int, n_fade: int,
                       window_seconds: float = CLICK_WINDOW_SECONDS) -> float:
    """Worst crossfade of ``x`` (excerpts of ``n_excerpt`` samples overlapping by ``n_fade``,
    the scheduler's grid from sample 0): the largest moving RMS (``window_seconds``) inside
    any crossfade, in dB over the median moving RMS of the parts heard alone.

    A sine burst of amplitude ``A`` (at least one window long) inside a crossfade of a
    noise of RMS ``s`` scores ``10 log10((A^2 / 2 + s^2) / s^2)``. NaN without a complete
    crossfade or solo part.
    """
    from .normalize import rms_envelope

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    hop = n_excerpt - n_fade
    if n_fade <= 0 or hop <= 0:
        return float("nan")
    env = rms_envelope(x[None, :], max(1, int(round(window_seconds * sample_rate))))[0]
    fades, solos = [], []
    for start in range(0, len(x), hop):
        if start + hop <= len(x):
            solos.append(env[start + (n_fade if start else 0) : start + hop])
        if start + n_excerpt <= len(x):
            fades.append(env[start + hop : start + n_excerpt].max())
    if not fades or not solos:
        return float("nan")
    ref = np.median(np.concatenate(solos))
    return float(20 * np.log10(max(max(fades), _TINY) / max(ref, _TINY)))
