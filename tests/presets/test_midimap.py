"""presets/midimap.py: MIDI maps: curves, validation, and any document."""

import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import PROPERTY, SCALARS, VALUES, toml_document

from dreambridge.presets import ParameterError, load_preset
from dreambridge.presets.midimap import load_midi_map

CC_ENTRY = st.dictionaries(st.sampled_from(["cc", "channel", "param", "range", "curve", "values", "smoothing_ms", "x"]),
                           st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=6)
MAP_DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "cc": st.one_of(VALUES, st.lists(CC_ENTRY, max_size=3)),
    "program_change": st.one_of(VALUES, st.lists(st.dictionaries(st.sampled_from(["program", "preset"]), SCALARS,
                                                                 max_size=2), max_size=2)),
})


@PROPERTY
@given(doc=MAP_DOCS)
def test_any_midi_map_loads_or_gives_one_parameter_error(tmp_path, doc):
    from dreambridge.presets.errors import ParameterError
    from dreambridge.presets.midimap import load_midi_map

    path = tmp_path / "m.toml"
    path.write_text(toml_document(doc))
    try:
        midi_map = load_midi_map(path)
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for mapping in midi_map.cc:  # every value a controller can send is a valid parameter value
        for cc_value in (0, 64, 127):
            value = mapping.value(cc_value)
            assert not isinstance(value, float) or math.isfinite(value)


def test_midi_map_curves_and_validation(tmp_path):
    m = load_midi_map(os.path.join(os.path.dirname(load_preset("default").path), "midi", "8-knob.toml"))
    by_param = {c.param: c for c in m.cc}
    assert by_param["lowpass_hz"].value(0) == pytest.approx(500) and by_param["lowpass_hz"].value(127) == pytest.approx(16000)
    assert by_param["lowpass_hz"].value(63.5) == pytest.approx(np.sqrt(500 * 16000))  # log: geometric midpoint
    assert by_param["layer"].value(127) == 7 and isinstance(by_param["layer"].value(50), int)
    assert m.programs[1] == "bisig-exp2"
    bad = tmp_path / "m.toml"
    for body, message in [
        ('[[cc]]\ncc = 1\nparam = "cutoff"\nrange = [0, 1]\n', "unknown parameter 'cutoff'"),
        ('[[cc]]\ncc = 1\nparam = "mix"\nrange = [0, 2]\n', "mix=2 is outside"),
        ('[[cc]]\ncc = 1\nparam = "lowpass_hz"\nrange = [0, 8000]\ncurve = "log"\n', "positive range"),
        ('[[cc]]\ncc = 1\nchannel = 17\nparam = "mix"\nrange = [0, 1]\n', "channel=17"),
        ('[[cc]]\ncc = 1\nparam = "grad_norm"\n', "curve='choice' needs values"),
        ('[[program_change]]\nprogram = 3\npreset = "nope"\n', "unknown preset 'nope'"),
    ]:
        bad.write_text("schema = 1\n" + body)
        with pytest.raises(ParameterError, match=message):
            load_midi_map(bad)
