"""dsp/filters.py: analytic oracles for the band and grid-notch responses."""

import numpy as np
import pytest
from signals import SR, white_noise

from dreambridge.dsp import filters


def test_lowpass_response_at_cutoff_is_minus_3db():
    gain = filters.band_response(SR, SR, lowpass_hz=1000.0)
    assert gain[1000] == pytest.approx(1 / np.sqrt(2), rel=1e-9)
    assert gain[100] > 0.999 and gain[4000] < 1e-4  # 2 octaves above: -96 dB at order 8


def test_highpass_removes_dc_exactly(rng):
    x = white_noise(rng) + 0.5
    y = filters.fft_filter(x, filters.band_response(len(x), SR, highpass_hz=20.0))
    assert abs(y.mean()) < 1e-6  # the DC bin's gain is exactly 0


def test_cutoff_above_nyquist_is_a_clear_error():
    with pytest.raises(ValueError, match="Nyquist"):
        filters.band_response(1000, SR, lowpass_hz=30000)


def test_grid_notch_zeroes_every_harmonic_and_leaves_the_rest():
    from dreambridge.dsp.filters import grid_notch_response

    n = 44100  # 1 Hz bins: the harmonics fall on bins
    gain = grid_notch_response(n, SR, [900.0, 6300.0], 5.0)
    assert np.all(gain[900::900] < 1e-12)  # exactly on a harmonic: 1 - exp(0) = 0
    assert np.all(gain[450::900][:20] > 1 - 1e-12)  # halfway between harmonics: 90 sigma away
    assert abs(gain[905] - (1 - np.exp(-0.5))) < 1e-12  # one sigma off: the Gaussian's value
    assert np.all(grid_notch_response(n, SR, [900.0], 0.0) == 1.0)
