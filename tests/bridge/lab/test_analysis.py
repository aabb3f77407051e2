"""bridge/lab/analysis.py: ``analyze``: features and artefact measures on files, the --compare
numbers, and the default preset's targets measured with them."""

import json

import numpy as np
from conftest import run_cli
from signals import SR, music_like, sine, white_noise, write


def test_analyze_json_oracles(tmp_path, rng, tiny_model_dir):
    tone = write(tmp_path / "tone.wav", sine(1000.0, 1.0, 0.5)[None, :], SR, "FLOAT")
    proc = run_cli("analyze", tone, "--json", "--model", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    # Analytic oracles: a 0.5-amplitude sine has RMS 0.354 and its centroid at 1 kHz.
    assert abs(r["rms_mean"] - 0.5 / np.sqrt(2)) < 2e-3 and abs(r["centroid_hz_mean"] - 1000) < 15
    assert r["flatness_mean"] < 1e-3 and r["dc_share"] < 1e-6
    assert len(r["comb_share"]) == 8 and abs(r["comb_chance"][2] - 6 / 180) < 1e-9


def test_analyze_compare(tmp_path, rng):
    dry = music_like(rng, 2.0)
    a = write(tmp_path / "a.wav", dry, SR, "FLOAT")
    b = write(tmp_path / "b.wav", dry * 0.1, SR, "FLOAT")
    c = write(tmp_path / "c.wav", white_noise(rng, 2.0)[None, :], SR, "FLOAT")
    same = json.loads(run_cli("analyze", "--compare", a, b, "--json").stdout)
    assert same["envelope_correlation"] > 0.999 and abs(same["log_spectral_distance_db"] - 20) < 0.5
    assert same["eq_gain_residual_db"] < 1e-3 and abs(same["hf_share_change_db"]) < 1e-6  # a gain is an EQ
    assert len(same["grid_lines_db"]) == 8 and same["channels"] == [1, 1]
    noise = json.loads(run_cli("analyze", "--compare", a, c, "--json").stdout)
    assert noise["envelope_correlation"] < 0.5 and noise["inband_flatness_out"] > 0.4
    assert noise["eq_gain_residual_db"] > 5.0  # new content no EQ explains (two white noises: 7.9 dB)
    text = run_cli("analyze", "--compare", a, c, "--layer", "1").stdout
    assert "EQ+gain residual" in text and "900 Hz" in text and "180 Hz" not in text
    proc = run_cli("analyze", "--compare", a, c, "--layer", "8")
    assert proc.returncode == 2 and "--layer 8 is outside -1..7" in proc.stderr
    proc = run_cli("analyze", "--compare", a)
    assert proc.returncode == 2 and "exactly two files" in proc.stderr


def test_default_preset_keeps_stems_within_targets(model_default, rng):
    """Issue 10's targets for the shipped default on two short stems: a drum loop and a
    tonal part. Rhythm kept (envelope correlation >= 0.8), audible change (log-spectral
    distance >= 6 dB), not hiss (in-band flatness of sounding frames <= 0.1)."""
    from signals import drum_loop

    from dreambridge.bridge.lab.analysis import compare_signals
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.presets import load_preset

    dreamer = Dreamer(model_default, load_preset("default").params, device="cpu")
    for stem in (drum_loop(rng, 3.0), music_like(rng, 3.0)):
        numbers = compare_signals(stem[0], dreamer.process(stem, SR)[0], SR)
        assert numbers["envelope_correlation"] >= 0.8, numbers
        assert numbers["log_spectral_distance_db"] >= 6.0, numbers
        assert numbers["inband_flatness_out"] <= 0.1, numbers
