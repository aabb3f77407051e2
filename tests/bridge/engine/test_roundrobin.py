"""bridge/engine/roundrobin.py: the round-robin method (Bisig & Wegner, Experiment 2).

Logic on the tiny untrained model; the paper's cutoff finding on the shipped default model
(``slow``).
"""

import numpy as np
import pytest
import torch
from signals import SR, music_like

from dreambridge.bridge.engine import Dreamer
from dreambridge.bridge.engine.roundrobin import RoundRobin, initial_buffer
from dreambridge.dsp.features import rms
from dreambridge.presets import DreamParams

RR = DreamParams(method="round_robin", iterations=2, learning_rate=0.3, layer=1, excerpt_seconds=0.25,
                 crossfade_seconds=0.05, buffer_seconds=0.6, excerpts_per_second=8.0, lowpass_hz=2000.0)


@pytest.fixture
def torch_one_thread():
    """One excerpt at a time is small convolutions: on the shared 2-core box a second thread made
    these 40x slower (80 s vs 1.4 s for 24 excerpts), so one thread, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class _CurrentPeak(RoundRobin):
    """The control: every excerpt dreamed at its current peak instead of the buffer's level."""

    def level(self, index):
        return np.max(np.abs(self.state[:, index]), axis=-1)


def _rounds(generator, n_excerpts: int) -> list[float]:
    """The buffer's RMS after each round (one round: as many excerpts as cover the buffer)."""
    per_round = int(np.ceil(generator.n_buffer / generator.hop))
    out = []
    for k in range(n_excerpts):
        generator.step()
        if (k + 1) % per_round == 0:
            out.append(float(np.sqrt(np.mean(generator.state**2))))
    return out


def test_the_buffer_holds_its_level_round_after_round(tiny_model, torch_one_thread):
    """The loop low-passes after normalising, so each dream comes out below the peak it was
    dreamed at; the round robin dreams every excerpt at the buffer's level (-1 dBFS from noise),
    so that loss is heard once, not compounded. The control, dreaming each excerpt at its
    current peak, fades the buffer out round after round."""
    params = RR.replace(init="noise", iterations=1)
    dreamer = Dreamer(tiny_model, params, device="cpu")
    buffer = initial_buffer(params, 1, int(params.buffer_seconds * SR))
    held = _rounds(RoundRobin(dreamer, SR, buffer.copy()), 24)
    fading = _rounds(_CurrentPeak(dreamer, SR, buffer.copy()), 24)
    # held: once the first rounds have filtered the noise the level stays within 2 dB (measured: 0.19..0.21)
    assert max(held[2:]) / min(held[2:]) < 10 ** (2 / 20), held
    # the control loses the filter's cut again every round (measured 0.074 -> 0.069 over rounds 2..8)
    # and stays far under the held level (measured 0.069 vs 0.200)
    assert fading[-1] < 0.97 * fading[1] and fading[-1] < 0.5 * held[-1], (fading, held)


def test_a_captured_bar_is_dreamed_at_its_own_level(tiny_model, rng, torch_one_thread):
    """``init="input"``: each excerpt is dreamed at the peak the captured bar had at its
    positions, so a quiet bar stays quiet and a loud one loud, round after round."""
    bar = music_like(rng, 0.6)
    params = RR.replace(init="input", lowpass_hz=12000.0)
    for gain in (0.1, 0.8):
        captured = (bar * gain / np.max(np.abs(bar))).astype(np.float32)
        generator = RoundRobin(Dreamer(tiny_model, params, device="cpu"), SR, captured)
        for _ in range(24):
            index = generator.indices(generator.k)
            generator.step()
            # a dream's peak is about its level at most: the band filter after the normalisation
            # removes, and only its ringing can overshoot a peak (measured 0.3 %, allowed 2 %); the
            # crossfade mixes the dream with what was there, also under that peak
            assert np.max(np.abs(generator.state)) <= gain * 1.02, gain
        assert np.max(np.abs(generator.state[:, index])) > 0.5 * gain  # still at its level, not faded
        assert float(np.mean(rms(generator.state[0]))) > 0.1 * gain


def _held_cutoff_run(cutoff_hz: float, seed: int, step_seconds: float) -> np.ndarray:
    """The cutoff run's schedule (from noise, the layer/map changes at the half steps) with the
    low-pass held at ``cutoff_hz`` from the first step: 6 steps, mono."""
    from dreambridge.bridge.lab.table11 import cutoff_run_schedule

    dreamer = Dreamer("default", device="cpu")
    dreamer.set_schedule(cutoff_run_schedule([cutoff_hz] * 5, step_seconds, seed))
    return dreamer.process(np.zeros((1, int(6 * step_seconds * SR)), np.float32), SR)[0]


@pytest.mark.slow
def test_a_low_cutoff_lowers_the_loudness_of_the_cutoff_run(torch_one_thread):
    """Issue 16: "loudness is lower at 2 kHz than at 16 kHz" (Bisig & Wegner, Table 11's cutoff
    run), on the default model, scaled down to 8 s steps. The cutoff is held at 2 or 16 kHz under
    the run's own layer changes, so time, layers and the slow drift are the same in both runs and
    only the cutoff differs. In every step of three seeds, the 2 kHz run is quieter than the
    16 kHz run from the same noise."""
    step = 8.0
    loud = {c: [] for c in (2000.0, 16000.0)}
    for seed in (0, 1, 2):
        for cutoff_hz in loud:
            y = _held_cutoff_run(cutoff_hz, seed, step)
            loud[cutoff_hz].append([float(np.mean(rms(y[int(i * step * SR) : int((i + 1) * step * SR)])))
                                    for i in range(1, 6)])
    low, high = np.array(loud[2000.0]), np.array(loud[16000.0])
    # measured (README, "Bisig's Experiment 2"): 2 kHz / 16 kHz 0.55..0.88 per step and seed; the
    # loop's old order (renormalise after the low-pass) gave up to 1.28 (seed 0 louder at 2 kHz from step 4)
    assert np.all(low < high), (low, high)
