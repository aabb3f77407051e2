"""dsp/stft.py: the DreamSound hard-cut mask."""

import numpy as np

from dreambridge.dsp.stft import hard_cut_mask


def test_hard_cut_mask_passes_bins_above_threshold_unchanged(rng):
    magnitude = rng.random((1, 5, 7))
    magnitude[0, 2, 3] = 2.0  # the maximum
    mask = hard_cut_mask(magnitude, 0.3)
    expected = (magnitude / 2.0 > 0.3).astype(float)
    assert np.array_equal(mask, expected)
    masked = mask * magnitude
    assert np.array_equal(masked[mask == 1], magnitude[mask == 1]) and not masked[mask == 0].any()
