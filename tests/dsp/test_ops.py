"""dsp/ops.py: the per-iteration operations, defined once, run by numpy (``NUMPY``) against plain
numpy written out by hand."""

import numpy as np

from dreambridge.dsp.ops import NUMPY, TINY
from dreambridge.dsp.stft import hard_cut_mask


def test_normalize_modes(rng):
    g = rng.standard_normal((3, 1, 500)) * np.array([1.0, 5.0, 1e-3])[:, None, None]
    peak = NUMPY.normalize(g, "max")
    assert np.allclose(peak, g / np.abs(g).max(axis=-1, keepdims=True), rtol=1e-12)
    assert np.allclose(np.abs(NUMPY.normalize(g, "mean")).mean(axis=-1), 1.0, rtol=1e-12)
    unit = NUMPY.normalize(g, "std")
    assert np.allclose(unit.mean(axis=-1), 0.0, atol=1e-12) and np.allclose(unit.std(axis=-1, ddof=1), 1.0, rtol=1e-12)
    silent = np.zeros((1, 1, 8))
    for mode in ("max", "mean", "std"):  # the TINY floor: a silent gradient stays 0, never NaN
        assert not np.any(NUMPY.normalize(silent, mode))
    assert np.array_equal(NUMPY.peak(silent), np.full((1, 1, 1), TINY))


def test_shift_is_np_roll_of_each_excerpt(rng):
    x = rng.standard_normal((3, 1, 50))
    assert NUMPY.shift(x, np.array([0, 0, 0])) is x  # nothing to do: no copy
    assert np.array_equal(NUMPY.shift(x, np.array([4, 4, 4])), np.roll(x, 4, axis=-1))
    shifts = np.array([1, -7, 0])
    each = NUMPY.shift(x, shifts)
    for item, s in zip(range(3), shifts):
        assert np.array_equal(each[item], np.roll(x[item], s, axis=-1))


def test_hard_cut_mask_is_the_reference_per_item(rng):
    spec = rng.standard_normal((2, 1, 33, 9)) + 1j * rng.standard_normal((2, 1, 33, 9))
    spec[1] *= 100.0  # the threshold is relative to each item's own maximum
    mask = NUMPY.hard_cut_mask(spec, 0.3)
    assert mask.dtype == np.float64 and set(np.unique(mask)) == {0.0, 1.0}  # real: the magnitude's dtype
    for item in range(2):
        assert np.array_equal(mask[item], hard_cut_mask(np.abs(spec[item]), 0.3))
