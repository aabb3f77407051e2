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
    # sin^2 + cos^2 crossfades: every sample's weights sum to 1 (float32 ramp rounding) up to the
    # last excerpt's fade-out, which the division by the weights undoes (no excerpt past it: positive)
    assert np.allclose(acc[: min(n_total, starts[-1] + n_ex - n_fade)], 1.0, atol=1e-6)
    assert acc[:n_total].min() > 0


def test_crossfade_ramps_sum_to_one():
    r = windows.fade_window(100)
    assert np.allclose(r + r[::-1], 1.0, atol=1e-6)


N_EX, N_FADE = 44100, 4410


@pytest.mark.parametrize("n_total", [1, 4410, 22050, 39690, 39691, 44100, 44101, 88200, 83790, 83791, 132300])
def test_every_excerpt_is_needed_and_the_weights_never_reach_zero(n_total):
    starts = windows.excerpt_starts(n_total, N_EX, N_FADE)
    hop = N_EX - N_FADE
    assert starts == [k * hop for k in range(len(starts))]  # the regular grid, whatever the length
    assert starts[-1] + N_EX >= n_total  # the last one reaches the end
    assert all(s < n_total - N_FADE for s in starts[1:])  # no excerpt only fades into the previous one's end
    # the next one on the grid would have been needed only for the previous one's fade-out
    assert starts[-1] + hop >= n_total - N_FADE
    acc = np.zeros(starts[-1] + N_EX, dtype=np.float64)
    for i, s in enumerate(starts):
        acc[s : s + N_EX] += windows.excerpt_weight(N_EX, N_FADE, i == 0)
    # the overlap-add divides by these: positive everywhere (the last fade-out's smallest value is
    # sin^2(pi / 4 / n_fade) ~ 1.3e-7, far above the 1e-12 floor) and 1 up to the last fade-out
    assert acc[:n_total].min() >= np.sin(np.pi / 4 / N_FADE) ** 2 * 0.99  # 0.99: float32 ramp rounding
    assert np.allclose(acc[: min(n_total, starts[-1] + hop)], 1.0, atol=1e-6)  # float32 ramp rounding


def test_a_file_of_one_excerpt_is_one_excerpt():
    assert windows.excerpt_starts(N_EX, N_EX, N_FADE) == [0]  # was [0, 39690]: 0.1 s signal, 0.9 s padding
    assert windows.excerpt_starts(N_EX // 2, N_EX, N_FADE) == [0]
    assert windows.excerpt_starts(N_EX + 1, N_EX, N_FADE) == [0, N_EX - N_FADE]  # control: past one, two


@pytest.mark.parametrize("n_received", [44100, 50000, 83790, 87000, 200000])
def test_a_stream_never_dreams_an_excerpt_the_rule_drops(n_received):
    """A stream dreams excerpt k once its last sample has arrived; those are all among the
    excerpts the signal received so far needs, so only a close-time tail can be left out."""
    hop = N_EX - N_FADE
    streamed = [k * hop for k in range(n_received) if k * hop + N_EX <= n_received]
    assert set(streamed) <= set(windows.excerpt_starts(n_received, N_EX, N_FADE))


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
