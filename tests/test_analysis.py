"""analyze: features and artefact measures on files, and the --compare numbers."""

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
    noise = json.loads(run_cli("analyze", "--compare", a, c, "--json").stdout)
    assert noise["envelope_correlation"] < 0.5 and noise["inband_flatness_out"] > 0.4
    proc = run_cli("analyze", "--compare", a)
    assert proc.returncode == 2 and "exactly two files" in proc.stderr
