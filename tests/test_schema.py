"""presets/schema.py: every parameter declared once, and everything derived from it."""

import dataclasses
from pathlib import Path

import pytest

from dreambridge.presets import DreamParams, ParameterError, parse_assignment, schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


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


def test_midi_learn_ranges_come_from_the_schema_and_are_valid():
    from dreambridge.bridge.live.midi import CHOICES, DEFAULT_RANGES

    learnable = {n for n, f in schema.FIELDS.items() if f.automatable and f.curve}
    assert set(DEFAULT_RANGES) | set(CHOICES) == learnable
    assert not {"excerpt_seconds", "crossfade_seconds", "selection"} & learnable  # they set the grid once / are text
    for name, (rng, curve) in DEFAULT_RANGES.items():
        for value in rng:  # both ends of every default knob are valid parameter values
            DreamParams().replace(**{name: value if curve != "int" else int(value)})
    for name, values in CHOICES.items():
        assert tuple(values) == schema.field(name).choices


def test_sweep_choices_come_from_the_schema():
    from dreambridge.bridge.cli import get_parser
    from dreambridge.bridge.lab.atlas import SWEEPABLE

    sub = next(a for a in get_parser()._actions if a.dest == "command").choices["sweep"]
    param = next(a for a in sub._actions if a.dest == "param")
    assert list(param.choices) == schema.sweepable() == list(SWEEPABLE)
    assert all(schema.field(n).kind in ("int", "float") for n in SWEEPABLE)
    with pytest.raises(ParameterError, match="whole number"):
        schema.coerce("iterations", 2.5)  # a sweep never truncates 2.5 iterations to 2 silently
