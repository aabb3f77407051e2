"""bridge/lab/report.py: ``dreambridge report``: artefacts, stems and variety."""

import json

import pytest

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


def _have_stem_sources() -> bool:
    import os
    import shutil

    from dreambridge.models.datasets import stems

    return all(os.path.exists(p) for p in (stems.SONIC_PI, stems.KTUBERLING, stems.FLUID)) and \
        shutil.which("fluidsynth") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _have_stem_sources(), reason="needs the stem set's sources: sonic-pi-samples, ktuberling-data, "
                                                     "fluid-soundfont-gm and fluidsynth (apt-get install ...)")
def test_default_preset_knobs_matter_on_the_stems(tmp_path):
    """Issue 15, target 2, as ``report stems --knobs 3`` measures it: maps 5/16/26 of the default's
    layer differ >= 2.5x as much as two seeds of map 5, layers 0/2/4 >= 3x, on the bass, amen break
    and breakbeat stems. Control: the old default (independent +-1 jitter, lr 1) on the bass stem,
    where the seed moved the dream more (2.43 measured)."""
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.lab.report import knob_spread_report
    from dreambridge.models.datasets.stems import build_stems
    from dreambridge.presets import load_preset

    build_stems(tmp_path, progress=lambda s: None)
    paths = [tmp_path / f"{name}.wav" for name in ("bass_fingered", "drums_amen", "drums_breakbeat")]
    params = load_preset("default").params
    dreamer = Dreamer("default", params, device="cpu")
    knobs = knob_spread_report(dreamer, params, paths, seconds=4.0)
    print("maps", knobs["maps"], "layers", knobs["layers"])
    assert min(knobs["maps"]) >= 2.5 and min(knobs["layers"]) >= 3.0, knobs
    old = params.replace(jitter="fixed", max_offset_samples=1, learning_rate=1.0)
    control = knob_spread_report(dreamer, old, paths[:1], seconds=4.0)
    print("control maps", control["maps"])
    # measured 3.40 against 2.43: the half-unit margin is far above float rounding across thread counts
    # (the fast and reference steps' renders differ < 1e-3 after 15 iterations)
    assert control["maps"][0] < knobs["maps"][0] - 0.5, (control, knobs)


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
