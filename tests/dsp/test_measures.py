"""dsp/measures.py: analytic oracles and controls (issue 15)."""

import numpy as np
import pytest
from scipy.signal import lfilter
from signals import SR, sine, white_noise

from dreambridge.dsp.measures import (band_share_change_db, crossfade_click_db, eq_gain_residual,
                                      grid_line_prominence, grid_line_summary, hop_pulsing, knob_spread)

INDEPENDENT_NOISE_DB = 10 / np.log(10) * np.pi / np.sqrt(3)  # std of the dB log-ratio of two Exp(1) powers: 7.88


def test_pure_eq_and_gain_leave_no_residual(rng):
    x = white_noise(rng, 4.0)
    taps = rng.standard_normal(32) * np.exp(-np.arange(32) / 6)  # a short, coloured FIR: a static EQ
    gain = np.repeat(10 ** (rng.uniform(-12, 6, 40) / 20), len(x) // 40 + 1)[: len(x)]  # a gain per 100 ms
    eq = lfilter(taps, [1.0], x)
    # A static EQ leaves only the leakage of the 2048-window: measured 0.4 dB; 1 dB is far from a dream's 5-8.
    assert eq_gain_residual(x, eq) < 1.0
    # The gain steps every 100 ms, inside frames too, so a frame straddling a step is not one gain (measured 1.2 dB).
    assert eq_gain_residual(x, eq * gain) < 1.5
    assert eq_gain_residual(x, 0.1 * x) < 1e-6  # a plain gain is removed exactly


def test_independent_noises_score_the_log_ratio_spread(rng):
    a, b = white_noise(rng, 4.0), white_noise(rng, 4.0)
    # 345 frames x 1025 bins: the sample spread of the log-ratio is within 0.3 dB of its analytic value
    assert abs(eq_gain_residual(a, b) - INDEPENDENT_NOISE_DB) < 0.3


def test_residual_separates_a_low_pass_from_new_content(rng):
    x = white_noise(rng, 2.0)
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / SR) > 7000] = 0  # a brick-wall low-pass: the silent bins are left out
    low = np.fft.irfft(spectrum, len(x))
    assert eq_gain_residual(x, low) < 1.0  # leakage at the wall only (measured 0.7 dB)
    assert eq_gain_residual(x, low + white_noise(rng, 2.0)) > 2.0  # new content the EQ cannot explain


@pytest.mark.parametrize("f0", [900.0, 6300.0])
def test_a_sine_on_the_grid_scores_its_level_over_the_neighbours(rng, f0):
    noise_std, amplitude, n_fft = 0.1, 0.01, 16384
    x = white_noise(rng, 8.0, noise_std) + sine(2 * f0, 8.0, amplitude)
    hz, db = grid_line_prominence(x, SR, f0, n_fft)
    expected = 10 * np.log10(amplitude**2 * n_fft / (6 * noise_std**2))  # sine power / noise in 1.5 bins (Hann ENBW)
    line = db[np.argmin(np.abs(hz - 2 * f0))]
    # Hann scalloping loses at most 1.42 dB off a bin centre; 45 averaged frames leave ~0.7 dB of noise in the median
    assert expected - 2.2 < line < expected + 1.0
    others = np.delete(db, np.argmin(np.abs(hz - 2 * f0)))
    # neighbours-only lines of white noise: the max of 3 bins over their median, ~1 dB; the median well under 3 dB
    assert np.median(others) < 3.0
    assert grid_line_summary(x, SR, [f0, 10.0])[1] != grid_line_summary(x, SR, [f0, 10.0])[1]  # a 10 Hz grid is NaN


def test_a_pulse_train_lights_every_line(rng):
    x = white_noise(rng, 8.0, 0.01)
    x[::49] += 0.5  # a 900 Hz stride-grid pulse train: lines at every 900 k Hz
    assert grid_line_summary(x, SR, [900.0])[0] > 20.0  # pulses carry far more power than the noise floor


def test_band_share_change_of_a_low_pass_and_of_nothing(rng):
    x = white_noise(rng, 2.0)
    assert abs(band_share_change_db(x, x, SR)) < 1e-9
    assert abs(band_share_change_db(x, 0.5 * x, SR)) < 1e-9  # a gain keeps the share
    spectrum = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spectrum[f >= 12000] = 0  # half of 8-16 kHz removed: the share halves (-3 dB), the total barely moves
    # total loses (22050-12000)/22050 of its power: share 0.5*(8/22.05)/(12/22.05) = 1/3 of the input's
    expected = 10 * np.log10((4000 / 12000) / (8000 / 22050))
    assert abs(band_share_change_db(x, np.fft.irfft(spectrum, len(x)), SR) - expected) < 0.3  # Welch leakage at the wall


def test_knob_spread_of_different_and_equal_settings(rng):
    x = white_noise(rng, 1.0)
    seeds = [x, x + white_noise(rng, 1.0, 0.003)]  # two "seeds": the same sound, 40 dB of independent noise apart
    f = np.fft.rfftfreq(len(x), 1 / SR)
    settings = [np.fft.irfft(np.fft.rfft(x) * np.where(f < cut, 1.0, 0.01), len(x)) for cut in (2000, 6000, 12000)]
    assert knob_spread(settings, seeds, SR) > 2.5  # settings 40 dB apart over wide bands vs a 40 dB-down perturbation
    assert knob_spread(seeds, seeds, SR) == pytest.approx(1.0)


# From noise (issue 15, target 3): pulsing at the excerpt hop and clicks at crossfades
HOP = int(0.9 * SR)  # the engine's default grid: 1 s excerpts, 0.1 s crossfades
N_EXCERPT, N_FADE = SR, int(0.1 * SR)


def test_noise_modulated_at_the_hop_pulses_and_steady_noise_does_not(rng):
    x = white_noise(rng, 9.0)
    t = np.arange(len(x)) / SR
    depth = 0.5
    pulsing = x * (1 + depth * np.sin(2 * np.pi * t * SR / HOP))
    n = int(0.01 * SR)  # samples per envelope frame
    expected = (depth**2 / 2) / (depth**2 / 2 + 1 / (2 * n))  # modulation variance over frame-RMS estimation noise
    # 900 frames: the sample correlation sits within 0.02 of the analytic 0.99
    assert abs(hop_pulsing(pulsing, SR, HOP) - expected) < 0.02
    # steady noise: correlation 0 within ~3/sqrt(810 frame pairs) = 0.1
    assert abs(hop_pulsing(x, SR, HOP)) < 0.1
    # control: a modulation with a period of two hops is a hop out of phase with itself: anti-correlated (each
    # hop's mean taken out of a half cycle leaves a shape that measured -0.95; -0.5 is far from any pulse)
    other = x * (1 + depth * np.sin(2 * np.pi * t * SR / (2 * HOP)))
    assert hop_pulsing(other, SR, HOP) < -0.5
    # a level that steps from hop to hop (excerpts normalised apart) is no pulse: within 0.1 of 0 as steady noise
    steps = np.repeat(10 ** (rng.uniform(-3, 3, 11) / 20), HOP)[: len(x)]
    assert abs(hop_pulsing(x * steps, SR, HOP)) < 0.1
    assert np.isnan(hop_pulsing(x[: HOP], SR, HOP))  # shorter than two hops: no answer


def test_a_click_at_a_crossfade_scores_its_level(rng):
    sigma = 0.01
    x = rng.standard_normal(5 * HOP + N_FADE) * sigma
    # steady noise: the loudest 5 ms of the crossfades is ~1 dB over the median (220-sample RMS varies +-5 %)
    assert abs(crossfade_click_db(x, SR, N_EXCERPT, N_FADE)) < 2.0
    amplitude = 1.0
    burst = amplitude * np.sin(2 * np.pi * 1000 * np.arange(int(0.01 * SR)) / SR)  # 10 ms: longer than the window
    at = 2 * HOP + N_FADE // 2  # the middle of the second crossfade
    clicked = x.copy()
    clicked[at : at + len(burst)] += burst
    expected = 10 * np.log10((amplitude**2 / 2 + sigma**2) / sigma**2)  # 37 dB
    # the window's RMS over a sine fluctuates by its partial cycles and the noise's own spread: 0.5 dB
    assert abs(crossfade_click_db(clicked, SR, N_EXCERPT, N_FADE) - expected) < 0.5
    # control: the same burst in the middle of an excerpt is no crossfade click (the median ignores it)
    solo = x.copy()
    solo[2 * HOP + N_FADE + 10000 : 2 * HOP + N_FADE + 10000 + len(burst)] += burst
    assert crossfade_click_db(solo, SR, N_EXCERPT, N_FADE) < 2.0
    assert np.isnan(crossfade_click_db(x[: N_EXCERPT - 1], SR, N_EXCERPT, N_FADE))  # no complete crossfade
