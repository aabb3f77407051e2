"""bridge/engine/torch_backend.py: the fast input gradient and ``TorchDSP`` against the numpy
references."""

import numpy as np
import pytest
import torch
from signals import SR

from dreambridge.bridge.engine.torch_backend import TorchDSP, forward_taps_fast
from dreambridge.dsp.filters import band_response, fft_filter
from dreambridge.dsp.smoothing import cascade_kernel, kernel_response, smoothing_cosines
from dreambridge.dsp.stft import hard_cut_mask, istft, stft
from dreambridge.models.factory import build_model
from dreambridge.models.nets import fold_batchnorm


@pytest.mark.parametrize("arch", ["model1", "model2", "ardila6"])
def test_fast_input_gradient_equals_autograd(arch):
    torch.manual_seed(1)
    net = build_model(arch, 6)
    for block in net.blocks:
        block.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    folded = fold_batchnorm(net)
    x = torch.randn(2, 1, SR + 37)
    for upto in range(net.n_layers):
        xa = x.clone().requires_grad_(True)
        (ga,) = torch.autograd.grad((net.forward_taps(xa, upto=upto)[0][upto] ** 2).mean(), xa)
        xb = x.clone().requires_grad_(True)
        (gb,) = torch.autograd.grad((forward_taps_fast(folded, xb, upto=upto)[0][upto] ** 2).mean(), xb)
        # float32 sums over ~1e3-1e5 terms in different orders: ~1e-6 relative, 1e-4 is ample
        assert (ga - gb).abs().max() <= 1e-4 * ga.abs().max()


def test_torch_dsp_matches_numpy_references(rng):
    dsp = TorchDSP("cpu")
    x = rng.standard_normal((3, 1, 4000)).astype(np.float32)
    t = torch.from_numpy(x)
    shifts = np.array([1, -2, 5])
    rolled = dsp.shift(t, shifts).numpy()
    for b in range(3):
        assert np.array_equal(rolled[b], np.roll(x[b], shifts[b], axis=-1))
    band = band_response(4000, SR, 12000, 20).astype(np.float32)
    ours = dsp.irfft(dsp.rfft(t) * dsp.asarray(band), 4000).numpy()
    assert np.allclose(ours, fft_filter(x, band), atol=1e-5)  # float32 FFT rounding
    k = cascade_kernel(9, 1.7)
    response = dsp.matvec(k[4:].astype(np.float32), dsp.asarray(smoothing_cosines(9, 4000))).numpy()
    assert np.allclose(response, kernel_response(k, 4000), atol=1e-5)
    g = dsp.normalize(t, "max").numpy()
    assert np.allclose(np.abs(g).max(axis=-1), 1.0)
    g = dsp.normalize(t, "std").numpy()
    assert np.allclose(g.std(axis=-1, ddof=1), 1.0, atol=1e-5) and np.allclose(g.mean(axis=-1), 0, atol=1e-6)


def test_stft_round_trip_and_torch_matches_numpy(rng):
    x = rng.standard_normal((2, 1, 6000)).astype(np.float32)
    spec = stft(x, 1024, 256, 1024)
    assert np.allclose(istft(spec, 1024, 256, 1024, 6000), x, atol=1e-6)  # overlap-add of a COLA window
    dsp = TorchDSP("cpu")
    tspec = dsp.stft(torch.from_numpy(x), 1024, 256, 1024).numpy()
    assert np.allclose(tspec, spec, atol=1e-3 * np.abs(spec).max())  # float32 FFT vs float64 reference
    back = dsp.istft(torch.from_numpy(spec.astype(np.complex64)), 1024, 256, 1024, 6000).numpy()
    assert np.allclose(back, x, atol=1e-5)
    mask = dsp.hard_cut_mask(torch.from_numpy(spec.astype(np.complex64)), 0.2).numpy()
    assert np.array_equal(mask, hard_cut_mask(np.abs(spec), 0.2).astype(np.float32))
