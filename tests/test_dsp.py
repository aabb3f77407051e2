"""dsp/: analytic oracles for features, filters, smoothing, windows, levels."""

import numpy as np
import pytest
from signals import SR, sine, white_noise

from dreambridge.dsp import features, filters, normalize, smoothing, windows
from dreambridge.dsp.resample import resample


# -- features ---------------------------------------------------------------------
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


# -- filters ----------------------------------------------------------------------
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


# -- smoothing ----------------------------------------------------------------------
def test_cascade_kernel_definition():
    k = smoothing.cascade_kernel(9, 1.5)
    parts = [smoothing.gaussian_kernel(9, s) for s in (0.75, 1.5, 3.0)]
    assert np.allclose(k, np.mean(parts, axis=0))
    assert k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1])
    assert smoothing.smoothing_sigma(0.5, 0, 10) == pytest.approx(0.7)
    assert smoothing.smoothing_sigma(0.5, 9, 10) == pytest.approx(2.5)


def test_smoothing_keeps_constant_and_wrap_equals_spectral(rng):
    assert np.allclose(smoothing.cascade_smooth(np.ones(50), 9, 2.0), 1.0)
    x = rng.standard_normal(500)
    k = smoothing.cascade_kernel(9, 1.3)
    wrap = smoothing.cascade_smooth(x, 9, 1.3, mode="wrap")
    spectral = np.fft.irfft(np.fft.rfft(x) * smoothing.kernel_response(k, 500), n=500)
    assert np.allclose(wrap, spectral, atol=1e-12)
    # Only the outer kernel_size // 2 samples differ between reflect and wrap edges.
    reflect = smoothing.cascade_smooth(x, 9, 1.3, mode="reflect")
    assert np.allclose(wrap[4:-4], reflect[4:-4])


def test_offset_range(rng):
    draws = [smoothing.draw_offset(rng, 3) for _ in range(500)]
    assert set(draws) == {-3, -2, -1, 0, 1, 2, 3}
    assert smoothing.draw_offset(rng, 0) == 0


# -- windows ------------------------------------------------------------------------
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


# -- levels and rates -----------------------------------------------------------------
def test_peak_normalize_and_silence(rng):
    y = normalize.peak_normalize(white_noise(rng) + 0.2, 0.5)
    assert abs(y.mean()) < 1e-6 and np.max(np.abs(y)) == pytest.approx(0.5, rel=1e-6)
    assert not np.any(normalize.peak_normalize(np.zeros(10)))


def test_resample_round_trip_keeps_alignment():
    x = sine(440.0, 0.5, sample_rate=48000)
    y = resample(resample(x, 48000, 44100), 44100, 48000)
    # Polyphase Kaiser FIR: a 440 Hz tone survives a round trip to ~1e-3 (edges excluded).
    assert len(y) == len(x) and np.allclose(y[500:-500], x[500:-500], atol=2e-3)


# -- artefact measures --------------------------------------------------------------------
from dreambridge.dsp import artefacts  # noqa: E402


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


def test_follow_envelope_imposes_the_contour(rng):
    from dreambridge.dsp.normalize import follow_envelope, rms_envelope

    dry = white_noise(rng, 1.0) * np.repeat([0.05, 1.0] * 5, SR // 10)[:SR]
    wet = white_noise(rng, 1.0)
    out = follow_envelope(wet, dry, 1.0)
    env_out, env_dry = rms_envelope(out, 2048), rms_envelope(dry, 2048)
    assert np.corrcoef(env_out, env_dry)[0, 1] > 0.95  # the noise now pulses with the input
    assert np.array_equal(follow_envelope(wet, dry, 0.0), wet)
    assert np.allclose(rms_envelope(np.ones(100), 10)[10:-10], 1.0)


def test_grid_notch_zeroes_every_harmonic_and_leaves_the_rest():
    from dreambridge.dsp.filters import grid_notch_response

    n = 44100  # 1 Hz bins: the harmonics fall on bins
    gain = grid_notch_response(n, SR, [900.0, 6300.0], 5.0)
    assert np.all(gain[900::900] < 1e-12)  # exactly on a harmonic: 1 - exp(0) = 0
    assert np.all(gain[450::900][:20] > 1 - 1e-12)  # halfway between harmonics: 90 sigma away
    assert abs(gain[905] - (1 - np.exp(-0.5))) < 1e-12  # one sigma off: the Gaussian's value
    assert np.all(grid_notch_response(n, SR, [900.0], 0.0) == 1.0)
