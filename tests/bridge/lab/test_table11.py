"""bridge/lab/table11.py: the schedule of each Table 11 run and the features measured per step."""

import numpy as np
import pytest
from signals import SR, sine, white_noise

from dreambridge.bridge.engine import Dreamer
from dreambridge.bridge.lab.table11 import (LAYER_STEPS, TABLE11, cutoff_loudness, format_cutoff_loudness,
                                            step_features, table11_schedule)
from dreambridge.presets import ParameterError, load_preset


def test_each_run_steps_its_parameter_and_the_layers_as_the_control_does():
    step = 2.0
    run, control = table11_schedule("lowpass_hz", step), table11_schedule(None, step)
    # Table 11's five values at steps 1..5; before step 1 the preset's own
    assert [run.at(k * step + 0.1).lowpass_hz for k in range(1, 6)] == TABLE11["lowpass_hz"]
    preset = load_preset("bisig-exp2").params
    assert run.at(0.0).lowpass_hz == preset.lowpass_hz == control.at(11.9).lowpass_hz
    for fraction, layer, channel in LAYER_STEPS:  # the layer/map changes at the half steps, in both runs
        for schedule in (run, control):
            assert (schedule.at(fraction * step).layer, schedule.at(fraction * step).channel) == (layer, channel)
    start = control.at(0.0)
    assert (start.init, start.layer, start.channel, start.method) == ("noise", 0, 3, preset.method)


def test_step_features_analytic_oracles(rng):
    x = np.concatenate([sine(1000.0, 1.0, 0.5), white_noise(rng, 1.0)])
    tone = step_features(x, SR, 0.0, 1.0, lowpass_hz=0.0)
    noise = step_features(x, SR, 1.0, 2.0, lowpass_hz=4000.0)
    # a 0.5 sine: RMS 0.5 / sqrt(2) (2048-sample frames: ~1e-3 of partial periods), centroid at 1 kHz (Hann leakage)
    assert abs(tone["loudness"] - 0.5 / np.sqrt(2)) < 2e-3 and abs(tone["brightness_hz"] - 1000) < 15
    # in-band flatness: a tone ~0, white noise ~exp(-euler_gamma) = 0.56 per frame; a steady tone has no flux
    assert tone["noisiness"] < 1e-3 and noise["noisiness"] > 0.45
    assert tone["roughness"] < 1e-3 < noise["roughness"]


def test_cutoff_loudness_reads_each_step_raw_and_against_the_control(torch_one_thread):
    """The cutoff run and its layers-only control per seed, 1 s steps (the paper's 20 s scaled down):
    one ratio per step, the verdicts read from the numbers, each seed its own noise."""
    dreamer = Dreamer("default", device="cpu")
    report = cutoff_loudness(dreamer, seeds=(0, 1), step_seconds=1.0, tail_seconds=0.5)
    first, second = report["rows"]
    assert report["cutoffs_hz"] == TABLE11["lowpass_hz"] and report["tail_seconds"] == 0.5
    for row in report["rows"]:
        assert len(row["run"]) == len(row["control"]) == len(row["ratio"]) == 5
        assert np.allclose(row["ratio"], np.array(row["run"]) / np.array(row["control"]), rtol=1e-12, atol=0)
        assert row["raw_holds"] == (row["run"][0] < row["run"][-1])
        assert row["ratio_holds"] == (row["ratio"][0] < row["ratio"][-1])
        assert all(0 < v < 1 for v in row["run"] + row["control"])  # sound, under the ceiling
    assert (first["seed"], second["seed"]) == (0, 1) and first["run"] != second["run"]  # another seed, other noise
    text = format_cutoff_loudness(report)
    assert "| 1 | raw |" in text and text.count("run / control") == 3  # the title's and one row per seed
    with pytest.raises(ParameterError, match="tail_seconds=2 is outside 0..step_seconds"):
        cutoff_loudness(dreamer, seeds=(0,), step_seconds=1.0, tail_seconds=2.0)
