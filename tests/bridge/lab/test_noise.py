"""``report noise`` (issue 15, target 3): its numbers on a tiny model, its CLI, and that the atlas's
settings differ from the paper's only by the step."""

import numpy as np
import pytest
from conftest import run_cli

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.lab.atlas import ATLAS_ITERATIONS, PAPER_ITERATIONS, atlas_params, paper_params
from dreambridge.bridge.lab.noise import format_noise_report, noise_report
from dreambridge.presets import DreamParams


def test_noise_report_measures_both_settings(tiny_model_dir):
    dreamer = Dreamer(str(tiny_model_dir), DreamParams(), device="cpu")
    report = noise_report(dreamer, n_maps=3, iterations=2, seconds=0.1, layers=(1,), maps=(0,), excerpt_seconds=0.2,
                          paper_iterations=3)
    assert set(report["settings"]) == {"atlas", "paper"}
    for row in report["settings"].values():
        pitch, joins = row["pitch"], row["joins"]
        assert len(pitch["maps"]) == 3 and 0 <= pitch["flatness_median"] <= pitch["flatness_max"] <= 1
        assert pitch["centroid_octaves"] >= 0 and pitch["seconds_per_map"] > 0
        assert len(joins["maps"]) == 1 and np.isfinite(joins["pulsing_max"]) and np.isfinite(joins["click_db_max"])
        assert set(row["met"]) == {"pitched", "centroid_spread", "no_pulsing", "no_clicks"}
    assert report["settings"]["atlas"]["envelope_lock"] == 1.0 and report["settings"]["paper"]["envelope_lock"] == 0.0
    assert report["time_ratio"] > 0
    text = format_noise_report(report)
    assert "| atlas |" in text and "| paper |" in text and "targets met" in text


def test_atlas_settings_are_the_papers_with_another_step():
    atlas, paper = atlas_params(140, 2.0, 0).to_dict(), paper_params(140, 2.0, 0).to_dict()
    changed = {k for k in atlas if atlas[k] != paper[k]}
    assert changed == {"learning_rate", "envelope_lock"}  # same noise, length, jitter, smoothing, filter
    assert paper["learning_rate"] == 0.01 and ATLAS_ITERATIONS < PAPER_ITERATIONS == 200


def test_report_noise_cli_refuses_a_missing_layer(tiny_model_dir):
    proc = run_cli("report", "noise", "--model", tiny_model_dir, "--layers", "99")
    assert proc.returncode != 0 and "--layers 99" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_layer0_atlas_maps_converge_to_tones_at_the_atlas_settings(model_default):
    """Target 3 on the shipped model: four layer-0 maps (the lowest and highest centroids of the 32 among them)
    from the same noise, 2 s, at the atlas's iterations: steady tones 3+ octaves apart; the paper's step (200
    iterations, the same time) leaves noise."""
    from dreambridge.bridge.lab.analysis import INBAND_HZ, dream_map
    from dreambridge.dsp.artefacts import centroid_spread_octaves
    from dreambridge.dsp.features import feature_summary

    dreamer = Dreamer(model_default, DreamParams(), device="cpu")
    maps = (0, 5, 18, 24)  # 5 and 18: the highest (4.6 kHz) and lowest (457 Hz) centroids of the 32
    for settings, iterations, pitched in ((atlas_params, ATLAS_ITERATIONS, True), (paper_params, 200, False)):
        base = settings(iterations, 2.0, 0)
        found = [feature_summary(dream_map(dreamer, base.replace(layer=0, channel=m)), 44100, band_hz=INBAND_HZ)
                 for m in maps]
        flatness = [f["flatness_inband_mean"] for f in found]
        if pitched:
            assert max(flatness) <= 0.05, flatness  # the target; measured 0.0000-0.007 on these maps
            # the target is 3 octaves; measured 3.32 (457 Hz to 4569 Hz)
            assert centroid_spread_octaves([f["centroid_hz_mean"] for f in found]) >= 3.0
        else:
            assert min(flatness) > 0.2, flatness  # the control: still noise (median 0.345, max 0.465 over the 32)
