"""The DeepDream iteration, written once for every backend.

One iteration, in the order of Bisig & Wegner (section 3.4) with Ardila's options::

    random temporal offset -> forward -> objective of the chosen layers/maps
    -> input gradient -> normalise (max | mean | std) -> cascade Gaussian smoothing
    -> gradient step -> normalise the waveform (peak 1) -> band filter (low-pass + DC blocker)

The band filter comes last, as in the paper ("1) gradient ascent [ending] 7) the waveform
is normalised [...] 3) the waveform is low-pass filtered"): what the low-pass removes is
not made up by a gain after it, so a low cutoff lowers the level as well as the brightness.

The random offset is applied as *jitter*: the network hears the excerpt shifted, and the
gradient is shifted back before the step, so the dream never drifts out of alignment with
the session however many iterations run.

Smoothing, step and band filter are linear, so they run as one spectral update on the
excerpt's rFFT ``X`` (kept between iterations)::

    X <- X + learning_rate * rfft(g) * S_i ;  X <- X * H / peak(irfft(X)) ;  x = irfft(X)

with ``S_i`` the circular cascade-kernel response of iteration ``i`` (times the grid notch, one table
per iteration) and ``H`` the band
response: one rFFT and two inverses per iteration (the first inverse finds the peak before
the filter; one inverse took ~1 ms for 1 s at 44.1 kHz), where a direct 101-tap low-pass
convolution costs ~20 ms. The numpy references in
``dreambridge.dsp`` define each step; the array ops come from a ``dsp`` object (torch
tensors on the GPU/CPU, or numpy for the onnxruntime backend). This module imports neither.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dreambridge.dsp.filters import band_response, grid_notch_response
from dreambridge.dsp.smoothing import (balanced_offsets, cascade_kernel, draw_offset, smoothing_cosines,
                                       smoothing_sigma)
from dreambridge.presets.params import DreamParams

__all__ = ["dream_loop", "offsets_for", "offset_range", "MAX_GRID_JITTER", "NOTCH_MIN_GRID_HZ", "step_notch",
           "lock_window", "LOCK_SECONDS", "LOCK_FLOOR", "transforms_per_iteration"]


NOTCH_MIN_GRID_HZ = 150.0  # grids finer than this are left to the jitter: their notches would cover too much
LOCK_SECONDS = 1024 / 44100  # the envelope lock's window: 23 ms, as the engine's envelope follower
LOCK_FLOOR = 1e-8  # power floor of the lock's ratio (-80 dBFS): the input's rests stay rests, never 0/0
MAX_GRID_JITTER = 2205  # 50 ms at 44.1 kHz: the grid jitter of deep layers (periods of 0.25 s and more) is capped here


def offset_range(params: DreamParams, stride_period: int) -> int:
    """Largest random offset (samples): ``max_offset_samples``, widened for ``jitter="grid"``
    to half the stride period of the dreamed layer, so offsets cover a whole period and the
    gradient lands on every phase of the stride grid (no comb builds up)."""
    if params.jitter == "grid":
        return max(params.max_offset_samples, min(stride_period, MAX_GRID_JITTER) // 2)
    return params.max_offset_samples


def offsets_for(rngs: list[np.random.Generator], params: DreamParams, stride_period: int = 1) -> np.ndarray:
    """``[iterations, B]`` random offsets, one stream per excerpt (batch-independent):
    independent draws, or for ``jitter="balanced"`` every offset equally often in each block
    of ``2 max + 1`` iterations (``dsp.smoothing.balanced_offsets``)."""
    limit = offset_range(params, stride_period)
    out = np.zeros((params.iterations, len(rngs)), dtype=np.int64)
    for b, rng in enumerate(rngs):
        if params.jitter == "balanced":
            out[:, b] = balanced_offsets(rng, limit, params.iterations)
            continue
        for i in range(params.iterations):
            out[i, b] = draw_offset(rng, limit)
    return out


@lru_cache(maxsize=16)
def _band(n: int, sample_rate: int, lowpass_hz: float, highpass_hz: float) -> np.ndarray:
    return band_response(n, sample_rate, lowpass_hz, highpass_hz).astype(np.float32)


@lru_cache(maxsize=16)
def lock_window(n: int, sample_rate: int) -> np.ndarray:
    """rFFT response of the envelope lock's circular moving average (a Hann window of
    ``LOCK_SECONDS``, unit sum): ``irfft(rfft(x * x) * this)`` is ``x``'s local power."""
    m = max(1, int(round(LOCK_SECONDS * sample_rate)))
    w = np.zeros(n)
    h = np.hanning(m + 2)[1:-1]
    w[np.arange(m) - m // 2] = h / h.sum()  # centred on sample 0, wrapped: zero phase
    return np.fft.rfft(w).real.astype(np.float32)


@lru_cache(maxsize=16)
def step_notch(n: int, sample_rate: int, periods: tuple, width_hz: float) -> np.ndarray | None:
    """The ``grid_notch_hz`` response for the stride ``periods`` of the dreamed layers
    (grids of at least ``NOTCH_MIN_GRID_HZ``), or None when off."""
    grids = [sample_rate / p for p in periods if sample_rate / p >= NOTCH_MIN_GRID_HZ and p > 1]
    if width_hz <= 0 or not grids:
        return None
    return grid_notch_response(n, sample_rate, grids, width_hz).astype(np.float32)


_cosines = lru_cache(maxsize=16)(smoothing_cosines)  # one table per (kernel, excerpt length)


def transforms_per_iteration(params: DreamParams) -> tuple[float, float] | None:
    """``(rffts, inverses)`` of the excerpt length per iteration of :func:`dream_loop`
    in ``deepdream`` mode, the excerpt's own transforms (its first rFFT, the lock's reference)
    spread over its iterations; None in the STFT modes (their transforms are STFTs).

    Per iteration: the gradient's rFFT and the inverse after the step; with the envelope
    lock the lock's pair and the re-transform after it; the inverse after the band filter.
    """
    if params.mode != "deepdream":
        return None
    lock = params.envelope_lock > 0
    per_excerpt = (1 + lock, lock)  # the excerpt's rFFT; the lock's reference pair
    iterations = max(params.iterations, 1)
    return (1 + 2 * lock + per_excerpt[0] / iterations, 2 + lock + per_excerpt[1] / iterations)


def _on(dsp, table):
    return None if table is None else dsp.asarray(table)


def _smoothing_responses(dsp, k: int, n: int, coef: float, iterations: int) -> list:
    """The cascade kernel's rFFT response at each iteration (its sigma shrinks), on the device."""
    cosines = dsp.asarray(_cosines(k, n))
    return [dsp.matvec(cascade_kernel(k, smoothing_sigma(coef, i, iterations))[k // 2 :].astype(np.float32), cosines)
            for i in range(iterations)]


def _step_tables(smoothing, notch, lr: float, iterations: int) -> list:
    """Per iteration ``smoothing[i] * notch * lr`` (the factors that are on)."""
    tables = []
    for i in range(iterations):
        table = None if smoothing is None else smoothing[i]
        if notch is not None:
            table = notch if table is None else table * notch
        tables.append(lr if table is None else table * lr)
    return tables


def dream_loop(backend, dsp, x, params: DreamParams, selection, rngs, sample_rate: int, callback=None, target=None,
               debug=None):
    """Run ``params.iterations`` dream steps on excerpts ``x`` ``[B, 1, N]`` (peak 1).

    ``rngs`` holds one ``numpy.random.Generator`` per excerpt. ``callback(i, objective)``
    is called after each iteration. ``target`` (``[B, 1, N]``) is the target sound of
    ``mode="target"``. ``debug`` (a dict) receives the last gradient and mask. Returns the
    dreamed excerpts, normalised to peak 1 before the band filter (after it their peak is lower
    where the filter cut something, or a hair higher where it rings), or with
    ``output="gradient"`` the last smoothed gradient at peak 1.

    DreamSound modes (``params.mode``), with ``g`` the normalised, smoothed gradient and
    ``M(s)`` the hard-cut mask of ``s``'s STFT magnitude (``dsp.stft.hard_cut_mask``)::

        deepdream    x <- x + lr * g
        filter       x <- ISTFT(M(g) * STFT(x))            (the sound, where the gradient is)
        filter_flip  x <- ISTFT(M(x) * STFT(g))            (the gradient, shaped by the sound)
        filter_add   x <- x + lr * ISTFT(M(g) * STFT(x))
        target       x <- x + lr * ISTFT(M(target) * STFT(g))
    """
    n = x.shape[-1]
    band = dsp.cached(("band", n, sample_rate, params.lowpass_hz, params.highpass_hz),
                      lambda: dsp.asarray(_band(n, sample_rate, params.lowpass_hz, params.highpass_hz)))
    offsets = offsets_for(rngs, params, getattr(selection, "stride_period", 1))
    lock = ref_power = None
    if params.envelope_lock > 0:
        lock = dsp.cached(("lock", n, sample_rate), lambda: dsp.asarray(lock_window(n, sample_rate)))
        ref_power = abs(dsp.irfft(dsp.rfft(x * x) * lock, n)) + LOCK_FLOOR
    periods = tuple(getattr(selection, "grid_periods", ()))
    notch = dsp.cached(("notch", n, sample_rate, periods, params.grid_notch_hz),
                       lambda: _on(dsp, step_notch(n, sample_rate, periods, params.grid_notch_hz)))
    k = params.smoothing_kernel
    smoothing = None
    if k > 1:
        smoothing = dsp.cached(("smoothing", k, n, params.smoothing_coef, params.iterations),
                               lambda: _smoothing_responses(dsp, k, n, params.smoothing_coef, params.iterations))
    # smoothing x notch (x learning rate in deepdream mode): one real table per iteration, one multiply
    lr = params.learning_rate if params.mode == "deepdream" else 1.0
    step_tables = None
    if smoothing is not None or notch is not None or lr != 1.0:
        step_tables = dsp.cached(("step", k, n, params.smoothing_coef, params.iterations, sample_rate, periods,
                                  params.grid_notch_hz, lr),
                                 lambda: _step_tables(smoothing, notch, lr, params.iterations))
    spectrum = dsp.rfft(x)
    stft_args = (params.n_fft, params.hop_length, params.win_length)
    target_mask = None
    if params.mode == "target":
        if target is None:
            from dreambridge.presets.errors import ParameterError

            raise ParameterError("mode=target needs a target sound (--target FILE)")
        target_mask = dsp.hard_cut_mask(dsp.stft(target, *stft_args), params.threshold)
    grad = None
    for i in range(params.iterations):
        shift = offsets[i]
        objective, grad = backend.objective_and_grad(dsp.shift(x, shift), selection)
        grad = dsp.normalize(dsp.shift(grad, -shift), params.grad_norm)
        step = dsp.rfft(grad)
        if step_tables is not None:
            step = step * step_tables[i]
        if params.mode == "deepdream":
            spectrum = spectrum + step
        else:
            g = dsp.irfft(step, n)  # the smoothed gradient in time
            if params.mode in ("filter", "filter_add"):
                mask = dsp.hard_cut_mask(dsp.stft(g, *stft_args), params.threshold)
                filtered = dsp.istft(mask * dsp.stft(x, *stft_args), *stft_args, n)
            elif params.mode == "filter_flip":
                mask = dsp.hard_cut_mask(dsp.stft(x, *stft_args), params.threshold)
                filtered = dsp.istft(mask * dsp.stft(g, *stft_args), *stft_args, n)
            else:  # target
                mask = target_mask
                filtered = dsp.istft(mask * dsp.stft(g, *stft_args), *stft_args, n)
            if params.mode in ("filter", "filter_flip"):
                spectrum = dsp.rfft(filtered)
            else:
                spectrum = spectrum + dsp.rfft(filtered) * params.learning_rate
            if debug is not None:
                debug["mask"] = mask
        x = dsp.irfft(spectrum, n)
        if lock is not None:
            # abs(): the circular moving average of a positive signal can dip a hair below 0 in float32
            power = abs(dsp.irfft(dsp.rfft(x * x) * lock, n)) + LOCK_FLOOR
            x = x * (ref_power / power) ** (0.5 * params.envelope_lock)
            spectrum = dsp.rfft(x)
        # normalise, then filter (the paper's order): the band filter's loss stays in the level
        spectrum = spectrum * band / dsp.peak(x)
        x = dsp.irfft(spectrum, n)
        if callback is not None:
            callback(i, objective)
    if debug is not None and grad is not None:
        debug["gradient"] = grad
    if params.output == "gradient" and grad is not None:
        return grad / dsp.peak(grad)
    return x
