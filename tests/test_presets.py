"""presets/: DreamParams validation, TOML presets, factory presets."""

import pytest

from dreambridge.presets import DreamParams, ParameterError, list_presets, load_preset, parse_assignment, parse_selection


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


def test_factory_presets_load():
    names = list_presets()
    for required in ("default", "bisig-exp1", "bisig-exp2", "ardila"):
        assert required in names
    exp1 = load_preset("bisig-exp1").params
    assert (exp1.init, exp1.iterations, exp1.max_offset_samples, exp1.learning_rate, exp1.lowpass_hz) == ("noise", 2000, 1, 0.01, 12000)
    assert (exp1.smoothing_coef, exp1.smoothing_kernel) == (0.5, 9)
    exp2 = load_preset("bisig-exp2").params
    assert (exp2.iterations, exp2.learning_rate) == (10, 0.04)
    ardila = load_preset("ardila").params
    assert ardila.grad_norm == "max" and ardila.sparsity > 0 and ardila.continuity > 0


def test_preset_file_errors(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("schema = 1\n[params]\nlayerz = 2\n")
    with pytest.raises(ParameterError, match="unknown parameter 'layerz'; valid names"):
        load_preset(bad)
    bad.write_text("schema = 1\ncolour = 'red'\n")
    with pytest.raises(ParameterError, match="unknown key 'colour'"):
        load_preset(bad)
    bad.write_text("[params]\nlayer = 2\n")
    with pytest.raises(ParameterError, match="schema = 1"):
        load_preset(bad)
    bad.write_text("schema = 1\n[params\n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_preset(bad)
    with pytest.raises(ParameterError, match="unknown preset 'nope'"):
        load_preset("nope")
    good = tmp_path / "g.toml"
    good.write_text("schema = 1\nname = 'mine'\n[params]\nlayer = 1\nlowpass_hz = 8000\n")
    assert load_preset(good).params.lowpass_hz == 8000
