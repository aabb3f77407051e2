"""dsp/normalize.py: levels and the envelope follower."""

import numpy as np
import pytest
from signals import SR, white_noise

from dreambridge.dsp import normalize


def test_peak_normalize_and_silence(rng):
    y = normalize.peak_normalize(white_noise(rng) + 0.2, 0.5)
    assert abs(y.mean()) < 1e-6 and np.max(np.abs(y)) == pytest.approx(0.5, rel=1e-6)
    assert not np.any(normalize.peak_normalize(np.zeros(10)))


def test_follow_envelope_imposes_the_contour(rng):
    from dreambridge.dsp.normalize import follow_envelope, rms_envelope

    dry = white_noise(rng, 1.0) * np.repeat([0.05, 1.0] * 5, SR // 10)[:SR]
    wet = white_noise(rng, 1.0)
    out = follow_envelope(wet, dry, 1.0)
    env_out, env_dry = rms_envelope(out, 2048), rms_envelope(dry, 2048)
    assert np.corrcoef(env_out, env_dry)[0, 1] > 0.95  # the noise now pulses with the input
    assert np.array_equal(follow_envelope(wet, dry, 0.0), wet)
    assert np.allclose(rms_envelope(np.ones(100), 10)[10:-10], 1.0)
