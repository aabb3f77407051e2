"""``DreamParams``: every parameter of a dream, validated in one place.

The fields, their types, defaults, ranges and docs are declared once, in
``presets.schema.FIELDS``; this module builds the frozen dataclass from them and adds the
rules that tie fields together (odd kernels, hop <= win/2, crossfade <= excerpt/2, ...).
Presets, ``--set key=value``, MIDI maps and automation all produce a ``DreamParams``;
``params.replace(**changes)`` re-validates. Model-dependent limits (layer index, channel
count, Nyquist, class count) are checked again when a model is attached (``Dreamer``),
with the same kind of message.
"""

from __future__ import annotations

import dataclasses
import re

from . import schema
from .errors import ParameterError

__all__ = ["DreamParams", "PARAM_DOCS", "parse_selection", "parse_assignment"]

# name -> (unit, range text, what you hear): the README table and `presets show`, from the schema.
PARAM_DOCS: dict[str, tuple[str, str, str]] = {f.name: (f.unit, f.range_text, f.doc) for f in schema.FIELDS.values()}


def _post_init(self) -> None:
    for name, f in schema.FIELDS.items():
        object.__setattr__(self, name, f.coerce(getattr(self, name)))
    _validate(self)


def _validate(p) -> None:
    """Every field against its own range or choices, then the rules that tie fields together."""
    for name, f in schema.FIELDS.items():
        f.check(getattr(p, name))
    if p.smoothing_kernel % 2 == 0:
        raise ParameterError(f"smoothing_kernel={p.smoothing_kernel} must be odd (e.g. {p.smoothing_kernel + 1})")
    if 0 < p.lowpass_hz < 20:
        raise ParameterError(f"lowpass_hz={p.lowpass_hz:g} is below 20 Hz and would silence the dream; "
                             "use 0 (off) or 20..Nyquist")
    if p.lowpass_hz and p.highpass_hz and p.highpass_hz >= p.lowpass_hz:
        raise ParameterError(f"highpass_hz={p.highpass_hz:g} must be below lowpass_hz={p.lowpass_hz:g}")
    for name, hi in (("win_length", p.n_fft), ("hop_length", p.win_length // 2)):
        if not 16 <= getattr(p, name) <= hi:
            raise ParameterError(
                f"{name}={getattr(p, name):g} is outside 16..{hi:g} (samples); choose a value in that range"
            )
    if not p.crossfade_seconds <= p.excerpt_seconds / 2:
        raise ParameterError(
            f"crossfade_seconds={p.crossfade_seconds:g} is outside 0..{p.excerpt_seconds / 2:g} (half of "
            "excerpt_seconds)"
        )
    if p.method == "round_robin" and p.buffer_seconds < p.excerpt_seconds:
        raise ParameterError(f"buffer_seconds={p.buffer_seconds:g} is shorter than one excerpt "
                             f"(excerpt_seconds={p.excerpt_seconds:g}); raise it or lower excerpt_seconds")
    parse_selection(p.selection)


def _replace(self, **changes) -> "DreamParams":
    """A copy with ``changes`` applied and validated (unknown names are an error)."""
    unknown = sorted(set(changes) - set(schema.FIELDS))
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r}; valid names: {', '.join(schema.FIELDS)}")
    return dataclasses.replace(self, **changes)


def _names(cls) -> list[str]:
    return schema.names()


def _from_dict(cls, values: dict) -> "DreamParams":
    return cls().replace(**values)


def _to_dict(self) -> dict:
    return dataclasses.asdict(self)


def _targets(self) -> list[tuple[int, int, float]]:
    """``[(layer, channel, weight)]`` to maximise (channel -1 = all channels)."""
    if self.selection.strip():
        return parse_selection(self.selection)
    return [(self.layer, self.channel, 1.0)]


DreamParams = dataclasses.make_dataclass(
    "DreamParams",
    [(f.name, f.type, dataclasses.field(default=f.default)) for f in schema.FIELDS.values()],
    namespace={
        "__doc__": "All dream parameters: one frozen dataclass whose fields are ``presets.schema.FIELDS`` "
                   "(see there, or the README, for units and ranges).",
        "__post_init__": _post_init, "replace": _replace, "names": classmethod(_names),
        "from_dict": classmethod(_from_dict), "to_dict": _to_dict, "targets": _targets,
    },
    frozen=True,
)
DreamParams.__module__ = __name__  # for pickling (process pools) and reprs; make_dataclass(module=) needs 3.12


_SEL = re.compile(r"^\s*(\d+)\s*:\s*(all|\d+)\s*(?:\*\s*([0-9.eE+-]+))?\s*$")


def parse_selection(spec: str) -> list[tuple[int, int, float]]:
    """Parse ``"L:C*W, L:all"`` into ``[(layer, channel, weight)]`` (channel -1 = all)."""
    out = []
    if not spec or not spec.strip():
        return out
    for part in spec.split(","):
        m = _SEL.match(part)
        if not m:
            raise ParameterError(
                f'selection part {part.strip()!r} is not LAYER:CHANNEL[*WEIGHT] (e.g. "2:5*0.5" or "3:all")'
            )
        layer = int(m.group(1))
        channel = -1 if m.group(2) == "all" else int(m.group(2))
        try:
            weight = float(m.group(3)) if m.group(3) else 1.0
        except ValueError:
            raise ParameterError(f"selection weight {m.group(3)!r} is not a number") from None
        if not 0 <= weight <= 1000:
            raise ParameterError(f"selection weight {weight:g} is outside 0..1000")
        out.append((layer, channel, weight))
    return out


def parse_assignment(text: str) -> tuple[str, object]:
    """Parse ``key=value`` from the command line; the value's type follows the field
    (``fx.pre.N.NAME`` effect parameters take numbers)."""
    if "=" not in text:
        raise ParameterError(f"--set {text!r} is not KEY=VALUE (e.g. --set lowpass_hz=8000)")
    key, raw = (s.strip() for s in text.split("=", 1))
    return key, schema.parse_text(key, raw)
