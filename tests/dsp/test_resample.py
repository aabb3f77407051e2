"""dsp/resample.py: the polyphase resampler, and its plan of taps for devices."""

import numpy as np
import pytest
from signals import sine

from dreambridge.dsp.ops import NUMPY
from dreambridge.dsp.resample import polyphase_plan, resample


def test_resample_round_trip_keeps_alignment():
    x = sine(440.0, 0.5, sample_rate=48000)
    y = resample(resample(x, 48000, 44100), 44100, 48000)
    # Polyphase Kaiser FIR: a 440 Hz tone survives a round trip to ~1e-3 (edges excluded).
    assert len(y) == len(x) and np.allclose(y[500:-500], x[500:-500], atol=2e-3)


@pytest.mark.parametrize("n_in, rate_in, rate_out", [(48000, 48000, 44100), (44100, 44100, 48000),
                                                     (17640, 44100, 48000), (22050, 22050, 44100),
                                                     (4410, 44100, 16000)])
def test_the_polyphase_plan_is_resample_poly_as_a_gather(rng, n_in, rate_in, rate_out):
    x = rng.standard_normal((2, n_in)).astype(np.float32)
    index, weights = polyphase_plan(n_in, rate_in, rate_out)
    ours = NUMPY.resample(x, (index, weights))
    reference = resample(x, rate_in, rate_out)
    assert ours.shape == reference.shape
    # the same float32 taps, summed in another order: a few float32 ulps of a unit-variance signal
    assert np.abs(ours - reference).max() < 5e-6
    assert np.abs(resample(x[:, ::-1].copy(), rate_in, rate_out) - reference).max() > 0.1  # control
