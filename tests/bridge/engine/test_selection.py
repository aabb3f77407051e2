"""bridge/engine/selection.py: what to maximise, checked against the model."""

import pytest

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.presets import DreamParams, ParameterError


def test_model_dependent_params_are_checked(tiny_model):
    with pytest.raises(ParameterError, match="layer=9 is outside 0..7"):
        Dreamer(tiny_model, DreamParams(layer=9), device="cpu")
    with pytest.raises(ParameterError, match="channel=40 is outside"):
        Dreamer(tiny_model, DreamParams(layer=0, channel=40), device="cpu")
    with pytest.raises(ParameterError, match="target_class=4"):
        Dreamer(tiny_model, DreamParams(target_class=4), device="cpu")
