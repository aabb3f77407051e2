"""dsp/windows.py: the excerpt grid and its crossfades."""

import numpy as np
import pytest

from dreambridge.dsp import windows
from dreambridge.dsp.windows import excerpt_weight, fade_window, uncorrelated_fade_gain


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


def test_independent_excerpts_crossfade_at_constant_power(rng):
    n_excerpt, n_fade, n_pairs = 400, 100, 20000
    a = rng.standard_normal((n_pairs, n_excerpt))
    b = rng.standard_normal((n_pairs, n_excerpt))
    out_a = a * excerpt_weight(n_excerpt, n_fade, first=True) * uncorrelated_fade_gain(n_excerpt, n_fade, True)
    out_b = b * excerpt_weight(n_excerpt, n_fade, first=False) * uncorrelated_fade_gain(n_excerpt, n_fade, False)
    mixed = out_a[:, -n_fade:] + out_b[:, :n_fade]  # the overlap of excerpt 0's end and excerpt 1's start
    power = np.mean(mixed**2, axis=0)
    # unit-power noises: 20000 pairs estimate the power at each fade sample within 3 sigma = 3 * sqrt(2 / 20000) = 0.03
    assert np.max(np.abs(power - 1.0)) < 0.03
    # control: without the lift the middle of the fade dips by 3 dB (power 0.5), as r^2 + (1 - r)^2 predicts
    r = fade_window(n_fade)
    plain = np.mean((a[:, -n_fade:] * r[::-1] + b[:, :n_fade] * r) ** 2, axis=0)
    assert abs(plain[n_fade // 2] - 0.5) < 0.03  # as above
    gain = uncorrelated_fade_gain(n_excerpt, n_fade, first=True)
    assert np.all(gain[:-n_fade] == 1.0)  # no fade-in on the first excerpt, and a flat top stays untouched
    assert abs(gain[-n_fade // 2] - np.sqrt(2)) < 0.02  # +3 dB at mid-fade (the ramp is 0.5 half a sample away)
