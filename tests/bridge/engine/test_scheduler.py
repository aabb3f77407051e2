"""bridge/engine/scheduler.py: the excerpt grid driven block by block (``process(..., reset=False)``)."""

import numpy as np
from signals import SR, music_like

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.presets import DreamParams

FAST = DreamParams(iterations=2, learning_rate=0.3, excerpt_seconds=0.25, crossfade_seconds=0.03)


def test_process_reset_false_reports_latency(tiny_model, rng):
    audio = music_like(rng, 0.6)
    dreamer = Dreamer(tiny_model, FAST, device="cpu")
    out = dreamer.process(audio[:, :1000], SR, reset=False)
    assert dreamer.latency_samples == int(0.25 * SR) + int(0.22 * SR)
    assert not np.any(out)  # the first output samples are the latency's silence
    dreamer.reset()
    assert dreamer.latency_samples == 0
