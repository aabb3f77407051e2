"""Analytic oracles and controls for ``dsp.measures``' from-noise measures (issue 15, target 3):
pulsing at the excerpt hop and clicks at crossfades."""

import numpy as np

from dreambridge.dsp.measures import crossfade_click_db, hop_pulsing

from signals import SR, white_noise

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
