"""presets/shape.py: one check that names the file, the place in it (counted from 1) and what it found."""

import pytest

from dreambridge.presets.errors import ModelLoadError, ParameterError
from dreambridge.presets.shape import ANY, Integer, ListOf, Number, OneOf, Table, Text, check

MAP = Table({"cc": ListOf(Table({"cc": Integer(0, 127), "range": ListOf(Number(), 2, 2)}, required=("cc",)))})


def test_valid_data_comes_back_unchanged():
    data = {"cc": [{"cc": 1, "range": [0, 1.5]}, {"cc": 127}]}
    assert check(data, MAP, "m.toml") is data


@pytest.mark.parametrize("data, message", [
    ({"cc": [{"cc": 1}, {"cc": 2, "range": [0, "x"]}]},
     "m.toml: cc[2].range[2] must be a finite number (found 'x'); fix the file"),
    ({"cc": [{"cc": 128}]}, "m.toml: cc[1].cc must be a whole number >= 0 and <= 127 (found 128)"),
    ({"cc": [{"cc": 1.0}]}, "cc[1].cc must be a whole number >= 0 and <= 127 (found 1.0)"),
    ({"cc": [{"cc": True}]}, "cc[1].cc must be a whole number >= 0 and <= 127 (found True)"),
    ({"cc": [{"cc": 1, "range": [0, float("nan")]}]}, "cc[1].range[2] must be a finite number (found nan)"),
    ({"cc": [{"cc": 1, "range": [0]}]}, "cc[1].range must be a list of 2 (a finite number each) (found [0])"),
    ({"cc": [{}]}, "m.toml: cc[1] needs 'cc'; fix the file"),
    ({"cc": [{"cc": 1, "rnage": [0, 1]}]}, "cc[1] has an unknown key 'rnage'; valid keys: cc, range"),
    ([], "m.toml: must be a table (found [])"),
])
def test_a_mismatch_is_one_line_naming_the_place(data, message):
    with pytest.raises(ParameterError) as info:
        check(data, MAP, "m.toml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_owner_chooses_the_error_and_one_of_tries_each_shape():
    card = Table({"sha": Text(pattern="[0-9a-f]{4}"), "kind": OneOf(Text(choices=["a", "b"]), Integer())}, others=ANY)
    data = {"sha": "00ff", "kind": 3, "anything": [{"else": None}]}
    assert check(data, card, "model.json", ModelLoadError) is data
    with pytest.raises(ModelLoadError, match=r"^model.json: sha must be text matching \[0-9a-f\]\{4\} \(found 'xyz'\)"):
        check({"sha": "xyz"}, card, "model.json", ModelLoadError)
    with pytest.raises(ModelLoadError, match="kind must be one of 'a', 'b' or a whole number \\(found 'c'\\)"):
        check({"kind": "c"}, card, "model.json", ModelLoadError)


def test_a_key_with_a_newline_is_named_on_one_line():
    """Found by hypothesis on a batch manifest: a key is named in the error as Python writes it."""
    from dreambridge.presets.errors import ParameterError
    from dreambridge.presets.shape import Number, Table, check

    with pytest.raises(ParameterError) as info:
        check({"a\nb": "x"}, Table(others=Number()), "m.json")
    assert "\n" not in str(info.value) and "'a\\nb'" in str(info.value), str(info.value)
