"""dsp/smoothing.py: the cascade Gaussian kernel and the random offset."""

import numpy as np
import pytest

from dreambridge.dsp import smoothing


def test_cascade_kernel_definition():
    k = smoothing.cascade_kernel(9, 1.5)
    parts = [smoothing.gaussian_kernel(9, s) for s in (0.75, 1.5, 3.0)]
    assert np.allclose(k, np.mean(parts, axis=0))
    assert k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1])
    assert smoothing.smoothing_sigma(0.5, 0, 10) == pytest.approx(0.7)
    assert smoothing.smoothing_sigma(0.5, 9, 10) == pytest.approx(2.5)


def test_smoothing_keeps_constant_and_wrap_equals_spectral(rng):
    assert np.allclose(smoothing.cascade_smooth(np.ones(50), 9, 2.0), 1.0)
    x = rng.standard_normal(500)
    k = smoothing.cascade_kernel(9, 1.3)
    wrap = smoothing.cascade_smooth(x, 9, 1.3, mode="wrap")
    spectral = np.fft.irfft(np.fft.rfft(x) * smoothing.kernel_response(k, 500), n=500)
    assert np.allclose(wrap, spectral, atol=1e-12)
    # Only the outer kernel_size // 2 samples differ between reflect and wrap edges.
    reflect = smoothing.cascade_smooth(x, 9, 1.3, mode="reflect")
    assert np.allclose(wrap[4:-4], reflect[4:-4])


def test_offset_range(rng):
    draws = [smoothing.draw_offset(rng, 3) for _ in range(500)]
    assert set(draws) == {-3, -2, -1, 0, 1, 2, 3}
    assert smoothing.draw_offset(rng, 0) == 0
