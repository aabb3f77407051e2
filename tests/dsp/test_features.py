"""dsp/features.py: analytic oracles for the Bisig features."""

import numpy as np
from signals import SR, sine, white_noise

from dreambridge.dsp import features, filters


def test_sine_rms_is_amplitude_over_sqrt2():
    # 2048-sample frames hold a whole number of periods of 441 Hz only approximately;
    # the partial period bounds the error at ~1e-3 relative.
    x = sine(441.0, 1.0, amplitude=0.8)
    assert np.allclose(features.rms(x), 0.8 / np.sqrt(2), rtol=2e-3)


def test_single_bin_centroid_is_its_frequency():
    # A sine exactly on bin 100 of a 2048-point FFT; Hann leakage is symmetric around the
    # bin, so the centroid equals the bin frequency to float precision.
    f = 100 * SR / 2048
    c = features.spectral_centroid(sine(f, 0.5), SR)
    assert np.allclose(c, f, rtol=1e-6)


def test_white_noise_flatness(rng):
    x = white_noise(rng, 4.0)
    per_frame = features.spectral_flatness(x, SR)
    # Per-frame flatness of a chi-square power estimate is exp(-euler_gamma) = 0.5615;
    # with 1025 bins per frame the mean lands within 0.02 of it.
    assert abs(per_frame.mean() - np.exp(-np.euler_gamma)) < 0.02
    # The frame-averaged spectrum of white noise is flat: ~1 (tolerance: 174 frames of averaging).
    assert features.spectral_flatness(x, SR, average=True)[0] > 0.9


def test_sine_flatness_is_near_zero():
    assert features.spectral_flatness(sine(1000.0), SR).max() < 1e-3


def test_inband_flatness_ignores_empty_band(rng):
    x = filters.fft_filter(white_noise(rng, 2.0), filters.band_response(2 * SR, SR, lowpass_hz=12000))
    full = features.spectral_flatness(x, SR).mean()
    inband = features.spectral_flatness(x, SR, band_hz=(40, 8000)).mean()
    assert full < 0.1 and inband > 0.45  # low-passed noise: meaningless full-band, noise in band


def test_steady_sine_has_no_flux_and_a_step_has_some():
    assert features.spectral_flux(sine(1000.0), SR).max() < 1e-6
    x = np.concatenate([np.zeros(SR // 2, np.float32), sine(1000.0, 0.5)])
    assert features.spectral_flux(x, SR).max() > 0.01


def test_feature_summary_keys(rng):
    s = features.feature_summary(white_noise(rng), SR)
    for k in ("rms", "centroid_hz", "flatness", "flatness_inband", "flux"):
        assert k + "_mean" in s and k + "_std" in s
