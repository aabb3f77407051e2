"""dsp/windows.py: the excerpt grid and its crossfades."""

import numpy as np
import pytest

from dreambridge.dsp import windows


@pytest.mark.parametrize("n_total", [1, 100, 44100, 44101, 100000, 132300])
def test_excerpt_overlap_add_reconstructs(n_total):
    n_ex, n_fade = 44100, 4410
    starts = windows.excerpt_starts(n_total, n_ex, n_fade)
    assert starts[0] == 0 and starts[-1] < n_total and starts[-1] + n_ex >= n_total
    assert np.all(np.diff(starts) == n_ex - n_fade)  # a regular grid: the same cut live and offline
    acc = np.zeros(starts[-1] + n_ex)
    for i, s in enumerate(starts):
        acc[s : s + n_ex] += windows.excerpt_weight(n_ex, n_fade, i == 0)
    # sin^2 + cos^2 crossfades: every sample's weights sum to 1 (float32 ramp rounding)
    assert np.allclose(acc[:n_total], 1.0, atol=1e-6)


def test_crossfade_ramps_sum_to_one():
    r = windows.fade_window(100)
    assert np.allclose(r + r[::-1], 1.0, atol=1e-6)
