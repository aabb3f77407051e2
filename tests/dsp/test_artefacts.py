"""dsp/artefacts.py: analytic oracles for the artefact measures."""

import numpy as np
import pytest
from signals import SR, white_noise

from dreambridge.dsp import artefacts


def test_dc_share_of_offset_and_noise(rng):
    x = white_noise(rng, 2.0)
    # 20 Hz of 22.05 kHz of flat noise: 9e-4 expected, from only 40 random bins: < 3e-3
    assert artefacts.dc_share(x, SR) < 0.003
    assert artefacts.dc_share(x * 0.01 + 1.0, SR) > 0.99


def test_comb_share_of_a_pulse_train_and_noise(rng):
    f0 = SR / 245  # Model2's grid at layer 2: 180 Hz
    pulses = np.zeros(2 * SR)
    pulses[::245] = 1.0
    assert artefacts.comb_share(pulses, SR, f0) > 0.99
    noise = artefacts.comb_share(white_noise(rng, 2.0), SR, f0)
    assert abs(noise - artefacts.comb_chance(f0)) < 0.01  # chance: 6 Hz of every 180 Hz = 3.3 %


def test_envelope_correlation_and_lsd(rng):
    x = white_noise(rng, 2.0) * np.repeat([0.1, 1.0] * 10, SR // 10)[: 2 * SR]
    assert artefacts.envelope_correlation(x, x, SR) == pytest.approx(1.0)
    assert artefacts.envelope_correlation(x, x[::-1], SR) < 0.0  # alternating envelope reversed
    assert artefacts.log_spectral_distance(x, x, SR) == pytest.approx(0.0, abs=1e-9)
    # a 20 dB gain change is a 20 dB log-spectral distance (the -100 dB floor bends a few
    # near-empty bins of the quiet frames by a hair)
    assert artefacts.log_spectral_distance(x, 10 * x, SR) == pytest.approx(20.0, abs=1e-3)


def test_centroid_spread():
    assert artefacts.centroid_spread_octaves([100, 200, 800]) == pytest.approx(3.0)
