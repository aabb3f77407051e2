"""bridge/live/midi.py: MIDI learn ranges derived from the schema."""

from dreambridge.presets import DreamParams, schema


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
