"""``dsp.windows``: the equal-power lift of crossfades between independent excerpts."""

import numpy as np

from dreambridge.dsp.windows import excerpt_weight, fade_window, uncorrelated_fade_gain


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
