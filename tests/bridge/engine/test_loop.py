"""bridge/engine/loop.py: the dream iteration (the order of its steps; no host round trip inside the loop)."""

import numpy as np
import pytest
import torch
from signals import SR as SIGNAL_SR

from dreambridge.bridge.engine import Dreamer
from dreambridge.bridge.engine.loop import dream_loop
from dreambridge.bridge.engine.selection import resolve_selection
from dreambridge.bridge.engine.torch_backend import TorchBackend, TorchDSP
from dreambridge.dsp.features import rms
from dreambridge.dsp.filters import band_response
from dreambridge.presets.params import DreamParams

SR = 44100
# Every per-iteration feature that runs an op on the device: random offsets differing per excerpt (roll_each),
# smoothing (a kernel per iteration), the grid notch, the envelope lock, gradient normalisation.
PARAMS = DreamParams(layer=1, iterations=4, max_offset_samples=8, smoothing_kernel=9, envelope_lock=1.0,
                     grid_notch_hz=12.0, lowpass_hz=9000.0, excerpt_seconds=0.25)
# Tensor -> host conversions: each one waits for the device (a sync on CUDA).
HOST_READS = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__")


def _loop_setup(model, device, params):
    backend = TorchBackend(model, device)
    dsp = TorchDSP(device)
    selection = resolve_selection(params, model.layer_channels, model.n_classes,
                                  [s.stride * (s.pool_stride or 1) for s in model.specs])
    x = np.random.default_rng(0).standard_normal((3, 1, int(SR * params.excerpt_seconds))).astype(np.float32)
    x /= np.abs(x).max(axis=-1, keepdims=True)
    rngs = [np.random.default_rng([7, k]) for k in range(3)]
    return backend, dsp, selection, dsp.asarray(x), rngs


@pytest.mark.parametrize("mode", ["deepdream", "filter"])
def test_no_host_reads_inside_the_loop(tiny_model, monkeypatch, mode):
    """Counted on the CPU (the same code runs on CUDA): no tensor is read back to the host
    between the first and the last iteration; numpy goes to the device only as inputs."""
    params = PARAMS.replace(mode=mode)
    backend, dsp, selection, x, rngs = _loop_setup(tiny_model[0], "cpu", params)
    calls = {}
    iterations = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, __name=name, __original=original, **kwargs):
            if iterations:  # only inside the loop (after the first callback)
                calls[__name] = calls.get(__name, 0) + 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    to_numpy = []
    monkeypatch.setattr(TorchDSP, "to_numpy", lambda self, a: to_numpy.append(1) or a.detach().numpy())
    out = dream_loop(backend, dsp, x, params, selection, rngs, SR,
                     callback=lambda i, objective: iterations.append(i))
    assert iterations == list(range(params.iterations))
    iterations.clear()
    assert calls == {} and to_numpy == []
    assert torch.isfinite(out).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_loop_never_synchronises(tiny_model):
    """CUDA's own sync detector: any host synchronisation inside the loop raises. The DreamSound filter modes
    are left out: ``torch.istft`` checks its window envelope with an internal ``.item()`` (one sync per
    iteration, inside torch, invisible to the CPU count above)."""
    params = PARAMS
    backend, dsp, selection, x, rngs = _loop_setup(tiny_model[0], "cuda", params)
    dream_loop(backend, dsp, x, params, selection, rngs, SR)  # warm-up: cuDNN/cuFFT plans, pinned pool
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = dream_loop(backend, dsp, x, params, selection, rngs, SR)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out).all().item()


# one excerpt of 0.5 s from the seeded noise, no crossfade: the output is that excerpt as the loop left it
ONE = DreamParams(init="noise", excerpt_seconds=0.5, crossfade_seconds=0.0, iterations=1, learning_rate=0.0, layer=1,
                  highpass_hz=0.0, seed=4)
LEVEL = 10 ** (-1 / 20)  # the dream level from noise (scheduler.NOISE_PEAK_DB)


def _dream(model, **changes):
    n = int(0.5 * SIGNAL_SR)
    return Dreamer(model, ONE.replace(**changes), device="cpu").process(np.zeros((1, n), np.float32), SIGNAL_SR)[0]


def test_the_low_pass_comes_after_the_normalisation(tiny_model):
    """Bisig & Wegner's order: normalise, then low-pass. With no step (learning rate 0) one
    iteration is the normalised noise through the band filter, and no gain after it: what the
    filter removes is missing from the level (the old order renormalised, so every cutoff gave
    the same peak and, for noise, about the same RMS)."""
    flat = _dream(tiny_model, lowpass_hz=0.0)
    # unfiltered: exactly the noise at the dream level (float32 rounding of one multiply)
    assert abs(np.max(np.abs(flat)) - LEVEL) < 1e-6
    for cutoff_hz in (2000.0, 16000.0):
        out = _dream(tiny_model, lowpass_hz=cutoff_hz)
        expected = np.fft.irfft(np.fft.rfft(flat.astype(np.float64)) * band_response(len(flat), SIGNAL_SR, cutoff_hz),
                                len(flat))
        # the same filter applied here in float64 vs the loop's float32 rFFT: ~1e-6 of full scale
        assert np.max(np.abs(out - expected)) < 1e-5, cutoff_hz
    low, high = (float(np.mean(rms(_dream(tiny_model, lowpass_hz=c)))) for c in (2000.0, 16000.0))
    # white noise keeps the share of its power below the cutoff: sqrt(2 / 16) of the 16 kHz level,
    # up to the filters' slopes and the noise's spectral scatter (~2000 bins below 2 kHz: ~3 %)
    assert 0.30 < low / high < 0.42, (low, high)
