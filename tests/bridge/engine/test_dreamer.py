"""``Dreamer.one_shot_length``: a signal shorter than one excerpt is dreamed at its own length."""

import pytest
from signals import SR

from dreambridge.bridge.engine.dreamer import ONE_SHOT_STEPS, Dreamer
from dreambridge.bridge.engine.loop import MAX_GRID_JITTER


@pytest.mark.parametrize("sample_rate", [SR, 48000, 16000])
def test_one_shot_length_covers_the_signal_and_a_guard_in_fft_friendly_steps(model_default, sample_rate):
    dreamer = Dreamer(model_default, device="cpu")
    n_excerpt, _, n_model = dreamer.layout(sample_rate)
    guard = min(dreamer.selection.stride_period, MAX_GRID_JITTER)
    quantum = n_model // ONE_SHOT_STEPS
    previous = 0
    for n_total in range(1, n_excerpt + 1, 997):
        n = dreamer.one_shot_length(n_total, sample_rate)
        assert previous <= n <= n_excerpt and n >= n_total  # monotone, never past an excerpt
        n_at_model = round(n * dreamer.sample_rate / sample_rate)
        if n < n_excerpt:
            assert n_at_model >= n_total * dreamer.sample_rate / sample_rate + guard - 1  # -1: rounding
            assert n_at_model % quantum in (0, 1, quantum - 1)  # whole twentieths, up to a rate's rounding
        previous = n
    assert dreamer.one_shot_length(n_excerpt // 2, sample_rate) < 0.6 * n_excerpt  # 0.5 s: 0.55 s, not 1 s
    if sample_rate == SR:
        assert dreamer.one_shot_length(22050, SR) == 11 * 2205  # 0.5 s + 245 (layer 2's stride) -> 11/20
