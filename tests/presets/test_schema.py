"""presets/schema.py: every parameter declared once, and everything derived from it."""

import dataclasses
from pathlib import Path

import pytest

from dreambridge.presets import DreamParams, ParameterError, parse_assignment, schema

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_dreamparams_is_the_schema():
    fields = dataclasses.fields(DreamParams)
    assert [f.name for f in fields] == schema.names()
    defaults = DreamParams()
    for f in fields:
        spec = schema.field(f.name)
        assert f.type is spec.type and getattr(defaults, f.name) == spec.default, f.name


def test_readme_table_is_generated_from_the_schema():
    assert schema.markdown_table() in README


@pytest.mark.parametrize("name", [n for n, f in schema.FIELDS.items() if f.minimum is not None])
def test_every_range_is_enforced_with_a_message_naming_it(name):
    spec = schema.field(name)
    for bad in (spec.minimum - 1, spec.maximum + 1):
        with pytest.raises(ParameterError, match=f"{name}=.* is outside"):
            schema.coerce(name, bad)
        with pytest.raises(ParameterError, match=name):
            DreamParams().replace(**{name: bad})


@pytest.mark.parametrize("name", [n for n, f in schema.FIELDS.items() if f.choices])
def test_every_choice_field_lists_its_choices(name):
    spec = schema.field(name)
    for choice in spec.choices:
        assert schema.coerce(name, choice) == choice
    with pytest.raises(ParameterError, match="is not one of " + ", ".join(spec.choices)):
        DreamParams().replace(**{name: "nonsense"})


def test_set_parsing_follows_the_field_type():
    assert parse_assignment("lowpass_hz=8000") == ("lowpass_hz", 8000.0)
    assert parse_assignment("mode=filter") == ("mode", "filter")
    assert parse_assignment("fx.post.0.gain_db=-6") == ("fx.post.0.gain_db", -6.0)
    with pytest.raises(ParameterError, match="unknown parameter 'cutof'; valid names: layer"):
        parse_assignment("cutof=3")
    with pytest.raises(ParameterError, match="must be a number"):
        parse_assignment("fx.post.0.gain_db=loud")


def test_effect_parameters_are_first_class():
    spec = schema.field("fx.post.1.threshold_db")
    assert spec.kind == "float" and spec.automatable and not spec.discrete
    assert spec.osc_address == "/dreambridge/fx/post/1/threshold_db"
    assert schema.split_fx("fx.pre.0.gain_db") == ("pre", 0, "gain_db")
    assert schema.field("lowpass_hz").osc_address == "/dreambridge/lowpass_hz"
    with pytest.raises(ParameterError, match="fx.pre.N.NAME"):
        schema.split_fx("fx.middle.0.gain_db")
