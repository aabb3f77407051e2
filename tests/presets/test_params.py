"""presets/params.py: ``DreamParams`` validation, selections and ``--set`` assignments."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PARAM_NAMES, PROPERTY

from dreambridge.presets import DreamParams, ParameterError, parse_assignment, parse_selection


def test_defaults_are_valid_and_replace_revalidates():
    p = DreamParams()
    assert p.replace(layer=3).layer == 3
    with pytest.raises(ParameterError, match="lowpass_hz=200000 is outside"):
        p.replace(lowpass_hz=200000)
    with pytest.raises(ParameterError, match="unknown parameter 'cutoff'"):
        p.replace(cutoff=3)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"iterations": -1}, "iterations=-1 is outside"),
        ({"smoothing_kernel": 8}, "must be odd"),
        ({"grad_norm": "l2"}, "grad_norm='l2' is not one of"),
        ({"init": "pink"}, "init='pink'"),
        ({"mix": 1.5}, "mix=1.5"),
        ({"crossfade_seconds": 0.9}, "half of excerpt_seconds"),
        ({"layer": 2.5}, "whole number"),
        ({"learning_rate": float("nan")}, "finite"),
        ({"selection": "2-3"}, "LAYER:CHANNEL"),
        ({"highpass_hz": 500, "lowpass_hz": 400}, "below lowpass_hz"),
    ],
)
def test_bad_values_name_the_value_and_the_fix(changes, message):
    with pytest.raises(ParameterError, match=message):
        DreamParams().replace(**changes)


def test_selection_parsing():
    assert parse_selection("0:3*0.5, 2:all") == [(0, 3, 0.5), (2, -1, 1.0)]
    assert DreamParams(layer=1, channel=4).targets() == [(1, 4, 1.0)]
    assert DreamParams(selection="3:1").targets() == [(3, 1, 1.0)]


def test_set_assignment_types():
    assert parse_assignment("layer=3") == ("layer", 3.0)
    assert DreamParams().replace(**dict([parse_assignment("layer=3")])).layer == 3
    assert parse_assignment("grad_norm=std") == ("grad_norm", "std")
    with pytest.raises(ParameterError, match="KEY=VALUE"):
        parse_assignment("layer3")
    with pytest.raises(ParameterError, match="must be a number"):
        parse_assignment("layer=three")


@PROPERTY
@given(key=PARAM_NAMES, raw=st.one_of(st.text(max_size=10), st.floats(allow_subnormal=False).map(repr), st.integers().map(str)))
def test_any_set_assignment_is_valid_or_one_parameter_error(key, raw):
    from dreambridge.presets import DreamParams, parse_assignment
    from dreambridge.presets.errors import ParameterError

    try:
        params = DreamParams().replace(**dict([parse_assignment(f"{key}={raw}")]))
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(not isinstance(v, float) or math.isfinite(v) for v in params.to_dict().values())
