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


@pytest.mark.parametrize("max_offset, n", [(1, 15), (1, 3), (2, 23), (1, 1000), (512, 10), (0, 7)])
def test_balanced_offsets_use_every_offset_equally_often(max_offset, n):
    seq = smoothing.balanced_offsets(np.random.default_rng([7, 0]), max_offset, n)
    m = 2 * max_offset + 1
    assert seq.shape == (n,) and seq.dtype == np.int64
    assert seq.min() >= -max_offset and seq.max() <= max_offset
    # every whole block of m iterations is a permutation of -max..max; a short tail repeats nothing
    for start in range(0, n, m):
        block = seq[start : start + m]
        assert len(set(block.tolist())) == len(block)
    counts = np.bincount(seq + max_offset, minlength=m)
    assert counts.max() - counts.min() <= 1 if n >= m else counts.max() == 1


def test_balanced_offsets_are_drawn_by_the_seed():
    a = smoothing.balanced_offsets(np.random.default_rng([0, 0]), 1, 15)
    assert np.array_equal(a, smoothing.balanced_offsets(np.random.default_rng([0, 0]), 1, 15))  # deterministic
    others = [smoothing.balanced_offsets(np.random.default_rng([s, 0]), 1, 15) for s in range(1, 6)]
    assert all(not np.array_equal(a, b) for b in others)  # 15! / (5!)^3 = 756,756 orders: another seed, another
    # Control: independent draws over 15 iterations leave a count imbalance the balanced ones never have.
    rng = np.random.default_rng(3)
    iid = [np.bincount([smoothing.draw_offset(rng, 1) + 1 for _ in range(15)], minlength=3) for _ in range(200)]
    assert np.mean([c.max() - c.min() for c in iid]) > 2
