"""models/zoo.py: the shipped models, listing, resolving and importing."""

import numpy as np
import pytest
from conftest import run_cli
from signals import SR

from dreambridge.presets.errors import ModelLoadError


@pytest.mark.slow
def test_every_shipped_model_loads_and_dreams_at_every_layer():
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.models.zoo import ZOO_DIR, load_model
    from dreambridge.presets import DreamParams

    names = sorted(p.parent.name for p in ZOO_DIR.glob("*/model.json"))  # shipped, not the user's imports
    assert names, "no shipped model"
    for name in names:
        net, card = load_model(name)  # hash checked
        dreamer = Dreamer((net, card), device="cpu")
        outputs = []
        for layer in range(net.n_layers):
            dreamer.set_params(DreamParams(init="noise", layer=layer, iterations=3, learning_rate=0.1, excerpt_seconds=0.5,
                                           crossfade_seconds=0.0, lowpass_hz=min(12000.0, 0.4 * net.sample_rate)))
            y = dreamer.process(np.zeros((1, 22050), np.float32), SR)[0]
            assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0.1, (name, layer)
            outputs.append(y)
        for a, b in zip(outputs, outputs[1:]):
            assert not np.allclose(a, b, atol=1e-4), name  # each layer dreams something else


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
