"""bridge/lab/report.py: ``dreambridge report``: artefacts, stems and variety."""

import json

from conftest import run_cli
from signals import SR, music_like, write


def test_shipped_engine_keeps_dc_and_comb_limits(model_default):
    """Issue 9's limits on a short run of the shipped default model: DC share under 1 %,
    comb share at the dreamed layer's stride grid at most 10 % (plain loop: far above)."""
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.lab.report import artefact_report

    report = artefact_report(Dreamer(model_default, device="cpu"), n_maps=2, iterations=60, seconds=1.0, layers=[1, 2])
    for row in report["layers"]:
        assert row["shipped"]["dc_share_max"] < 0.01, row
        assert row["shipped"]["comb_share_mean"] <= 0.10, row
        assert row["shipped"]["comb_share_mean"] < 3 * row["comb_chance"] + 0.02, row


def test_report_command_smoke(tiny_model_dir):
    proc = run_cli("report", "artefacts", "--model", tiny_model_dir, "--maps", "1", "--iterations", "3", "--seconds", "0.5",
                   "--layers", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["layers"][0]["layer"] == 0 and "plain" in report["layers"][0] and "shipped" in report["layers"][0]


def test_report_stems_has_the_control_row_and_the_knob_spread(tmp_path, rng, tiny_model_dir):
    """``report stems``: issue 15's numbers per preset, a plain low-pass control that scores as
    an EQ (residual ~0, a dull roof), and the knob spread (maps and layers against seeds)."""
    from signals import drum_loop

    stems = tmp_path / "stems"
    stems.mkdir()
    write(stems / "drums.wav", drum_loop(rng, 1.0), SR)
    write(stems / "tones.wav", music_like(rng, 1.0, n_channels=2), SR)
    proc = run_cli("report", "stems", "--stems", stems, "--model", tiny_model_dir, "--presets", "default", "--knobs", "1",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report["summary"]) == ["default", "lowpass-7k"]
    control = report["summary"]["lowpass-7k"]
    assert control["eq_gain_residual_db"] < 1.0 and control["hf_share_change_db"] < -6  # a filter scores as one
    assert not control["targets"]["more_than_eq"] and not control["targets"]["no_dull_roof"]
    knobs = report["summary"]["default"]["knobs"]
    assert len(knobs["maps"]) == 1 and knobs["maps"][0] > 0 and len(knobs["layers"]) == 1
    assert all(r["channels_kept"] for r in report["presets"]["default"])
    from dreambridge.bridge.lab.report import format_stem_report

    text = format_stem_report(report)
    assert "| lowpass-7k |" in text and "EQ+gain residual" in text


def test_report_variety_ranks_models_on_one_scale():
    result = run_cli("report", "variety", "--models", "model1-instruments", "model1-speech", "--maps", "2",
                     "--iterations", "10", "--seconds", "0.25", "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    models = report["models"]
    assert set(models) == {"model1-instruments", "model1-speech"}
    for m in models.values():
        assert m["n_maps"] == 4 * 2 and m["variety"] > 0 and m["centroid_spread_octaves"] >= 0
        assert {r["layer"] for r in m["maps"]} == {0, 1, 2, 3}
    assert report["most_varied"] == max(models, key=lambda n: models[n]["variety"])
