"""presets/loader.py: TOML presets: the factory presets, file errors, and any document."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PARAM_NAMES, PROPERTY, SCALARS, VALUES, toml_document

from dreambridge.presets import ParameterError, list_presets, load_preset

PRESET_DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "description": VALUES,
    "params": st.one_of(VALUES, st.dictionaries(PARAM_NAMES, SCALARS, max_size=4)),
    "sequence": st.one_of(VALUES, st.lists(st.dictionaries(st.sampled_from(["time", "layer", "mix"]), SCALARS, max_size=3),
                                           max_size=3)),
    "fx": st.one_of(VALUES, st.fixed_dictionaries({}, optional={
        "post": st.lists(st.dictionaries(st.sampled_from(["plugin", "gain_db", "wet_level", "vst3"]), SCALARS, max_size=3),
                         max_size=2)})),
})


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


@PROPERTY
@given(doc=PRESET_DOCS)
def test_any_preset_loads_or_gives_one_parameter_error(tmp_path, doc):
    from dreambridge.presets import load_preset
    from dreambridge.presets.errors import ParameterError

    path = tmp_path / "p.toml"
    path.write_text(toml_document(doc))
    try:
        preset = load_preset(path)
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name, value in preset.params.to_dict().items():
        assert not isinstance(value, float) or math.isfinite(value), name
    assert all(math.isfinite(t) and t >= 0 for t, _ in preset.sequence)
