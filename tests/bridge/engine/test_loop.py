"""bridge/engine/loop.py: the dream iteration (the order of its steps)."""

import numpy as np
from signals import SR

from dreambridge.bridge.engine import Dreamer
from dreambridge.dsp.filters import band_response
from dreambridge.dsp.features import rms
from dreambridge.presets import DreamParams

# one excerpt of 0.5 s from the seeded noise, no crossfade: the output is that excerpt as the loop left it
ONE = DreamParams(init="noise", excerpt_seconds=0.5, crossfade_seconds=0.0, iterations=1, learning_rate=0.0, layer=1,
                  highpass_hz=0.0, seed=4)
LEVEL = 10 ** (-1 / 20)  # the dream level from noise (scheduler.NOISE_PEAK_DB)


def _dream(model, **changes):
    n = int(0.5 * SR)
    return Dreamer(model, ONE.replace(**changes), device="cpu").process(np.zeros((1, n), np.float32), SR)[0]


def test_the_low_pass_comes_after_the_normalisation(tiny_model):
    """Bisig & Wegner's order: normalise, then low-pass. With no step (learning rate 0) one
    iteration is the normalised noise through the band filter, and no gain after it: what the
    filter removes is missing from the level (the old order renormalised, so every cutoff gave
    the same peak and, for noise, about the same RMS)."""
    flat = _dream(tiny_model, lowpass_hz=0.0)
    # unfiltered: exactly the noise at the dream level (float32 rounding of one multiply)
    assert abs(np.max(np.abs(flat)) - LEVEL) < 1e-6
    for cutoff_hz in (2000.0, 16000.0):
        out = _dream(tiny_model, lowpass_hz=cutoff_hz)
        expected = np.fft.irfft(np.fft.rfft(flat.astype(np.float64)) * band_response(len(flat), SR, cutoff_hz),
                                len(flat))
        # the same filter applied here in float64 vs the loop's float32 rFFT: ~1e-6 of full scale
        assert np.max(np.abs(out - expected)) < 1e-5, cutoff_hz
    low, high = (float(np.mean(rms(_dream(tiny_model, lowpass_hz=c)))) for c in (2000.0, 16000.0))
    # white noise keeps the share of its power below the cutoff: sqrt(2 / 16) of the 16 kHz level,
    # up to the filters' slopes and the noise's spectral scatter (~2000 bins below 2 kHz: ~3 %)
    assert 0.30 < low / high < 0.42, (low, high)
