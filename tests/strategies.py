"""Hypothesis settings and strategies shared by the property-based tests, and the small TOML
writer they use: data files (presets, MIDI maps, manifests, model cards) either load or give one
clear error (``tests/presets/test_loader.py``, ``test_midimap.py``, ``test_params.py``,
``tests/bridge/io/test_batch.py``, ``tests/models/test_checkpoint.py``)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["PROPERTY", "SCALARS", "VALUES", "PARAM_NAMES", "JSON_VALUES", "toml_document"]

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(doc: dict) -> str:
    """A small TOML writer: top-level values inline, tables as [t], lists of tables as [[t]]."""
    head, tail = ["schema = 1"], []
    for key, value in doc.items():
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            tail.append(f"[{key}]")
            tail += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tail.append(f"[[{key}]]")
                tail += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()]
        else:
            head.append(f"{json.dumps(key)} = {_toml_value(value)}")
    return "\n".join(head + tail) + "\n"


# allow_subnormal=False: pedalboard and DawDreamer (JUCE) switch on flush-to-zero in-process, and hypothesis
# refuses to draw subnormal floats once it is on (the plugin tests run earlier in the same session).
SCALARS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), st.booleans(),
                    st.text(max_size=12), st.sampled_from(["max", "lin", "log", "choice", "Gain", "mix", "layer", "default"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)
PARAM_NAMES = st.sampled_from(["layer", "channel", "iterations", "learning_rate", "mix", "lowpass_hz", "grad_norm", "mode",
                               "seed", "excerpt_seconds", "crossfade_seconds", "bogus"])
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_subnormal=False), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                                max_size=3)), max_leaves=8)
