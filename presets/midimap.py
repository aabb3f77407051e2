"""MIDI maps: TOML data (``schema = 1``) that binds MIDI CC numbers and program changes
to ``DreamParams`` fields and presets. Used by live control and by MIDI-file automation.

::

    schema = 1
    name = "8 knobs"

    [[cc]]
    cc = 74                 # controller number 0..127
    channel = 1             # optional MIDI channel 1..16 (omni when absent)
    param = "lowpass_hz"    # any DreamParams field
    range = [500.0, 16000.0]
    curve = "log"           # lin | log | int | choice
    smoothing_ms = 30.0     # continuous params glide to new values (no zipper noise)

    [[cc]]
    cc = 20
    param = "grad_norm"
    curve = "choice"
    values = ["max", "mean", "std"]

    [[program_change]]
    program = 0             # 0..127
    preset = "default"

Discrete parameters (int fields, ``choice``) step cleanly and are never smoothed.
Effect parameters are mappable too: ``param = "fx.post.0.threshold_db"`` (chain, index
in the chain, the plugin's parameter name), with a numeric ``range``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import schema
from .errors import ParameterError
from .loader import list_presets, load_preset, read_toml
from .params import DreamParams
from .shape import SCALAR, Integer, ListOf, Number, Table, Text

__all__ = ["CcMapping", "MidiMap", "load_midi_map", "CURVES"]

CURVES = ("lin", "log", "int", "choice")
# Shapes only (types, lengths, known keys); ranges and meanings are checked below with their own messages.
_CC_SHAPE = Table({"cc": Integer(), "channel": Integer(), "param": Text(), "range": ListOf(Number(), 2, 2),
                   "curve": Text(), "values": ListOf(SCALAR, 1), "smoothing_ms": Number()}, label="a [[cc]] table")
_PROGRAM_SHAPE = Table({"program": Integer(), "preset": Text()}, label="a [[program_change]] table")
MAP_SHAPE = Table({"schema": SCALAR, "name": Text(), "description": Text(),
                   "cc": ListOf(_CC_SHAPE, label="a list of [[cc]] tables"),
                   "program_change": ListOf(_PROGRAM_SHAPE, label="a list of [[program_change]] tables")})
_CC_KEYS = tuple(_CC_SHAPE.fields)


def _kind(param: str) -> str:
    return "fx" if schema.is_fx(param) else schema.field(param).kind


@dataclass(frozen=True)
class CcMapping:
    cc: int
    param: str
    low: float = 0.0
    high: float = 1.0
    curve: str = "lin"
    values: tuple = ()
    channel: int | None = None  # 1..16, None = any
    smoothing_ms: float = 0.0

    @property
    def is_fx(self) -> bool:
        return schema.is_fx(self.param)

    @property
    def discrete(self) -> bool:
        return self.curve in ("int", "choice") or _kind(self.param) not in ("float", "fx")

    def matches(self, channel_1based: int, cc: int) -> bool:
        return cc == self.cc and (self.channel is None or self.channel == channel_1based)

    def value(self, cc_value: float):
        """The parameter value for a controller value 0..127 (fractional values allowed)."""
        u = min(max(float(cc_value) / 127.0, 0.0), 1.0)
        if self.curve == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.curve == "log":
            v = self.low * (self.high / self.low) ** u
        else:
            v = self.low + (self.high - self.low) * u
        if self.curve == "int" or _kind(self.param) == "int":
            v = int(round(v))
            if self.param == "smoothing_kernel" and v % 2 == 0:
                v += 1 if v < self.high else -1
        return v


@dataclass(frozen=True)
class MidiMap:
    cc: tuple
    programs: dict
    path: str = ""
    name: str = ""

    def mappings_for(self, channel_1based: int, cc: int) -> list[CcMapping]:
        return [m for m in self.cc if m.matches(channel_1based, cc)]


def _entry_error(path, i, text):
    return ParameterError(f"{path}: [[cc]] entry {i + 1}: {text}")


def load_midi_map(path) -> MidiMap:
    """Read and validate a MIDI map; every error names the entry and the fix."""
    path = Path(path)
    data = read_toml(path, MAP_SHAPE, "MIDI map")
    mappings = []
    for i, entry in enumerate(data.get("cc", [])):
        if not isinstance(entry, dict):
            raise _entry_error(path, i, "must be a table")
        unknown = sorted(set(entry) - set(_CC_KEYS))
        if unknown:
            raise _entry_error(path, i, f"unknown key {unknown[0]!r}; valid keys: {', '.join(_CC_KEYS)}")
        for required in ("cc", "param"):
            if required not in entry:
                raise _entry_error(path, i, f"needs {required!r}")
        param = entry["param"]
        try:
            schema.field(str(param))
        except ParameterError as exc:
            raise _entry_error(path, i, str(exc)) from None
        cc = entry["cc"]
        if not isinstance(cc, int) or not 0 <= cc <= 127:
            raise _entry_error(path, i, f"cc={cc!r} must be a controller number 0..127")
        channel = entry.get("channel")
        if channel is not None and (not isinstance(channel, int) or not 1 <= channel <= 16):
            raise _entry_error(path, i, f"channel={channel!r} must be a MIDI channel 1..16 (or left out for any)")
        kind = _kind(param)
        curve = entry.get("curve", "choice" if kind == "str" else "int" if kind == "int" else "lin")
        if curve not in CURVES:
            raise _entry_error(path, i, f"curve={curve!r} is not one of {', '.join(CURVES)}")
        smoothing = entry.get("smoothing_ms", 0.0)
        if not isinstance(smoothing, (int, float)) or not 0 <= smoothing <= 10000:
            raise _entry_error(path, i, f"smoothing_ms={smoothing!r} must be 0..10000")
        values = tuple(entry.get("values", ()))
        low = high = 0.0
        if curve == "choice":
            if not values:
                raise _entry_error(path, i, "curve='choice' needs values = [...]")
            probes = list(values)
        else:
            if kind == "str":
                raise _entry_error(path, i, f"{param} takes text: use curve='choice' with values = [...]")
            rng = entry.get("range")
            if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)):
                raise _entry_error(path, i, "needs range = [low, high] (two numbers)")
            low, high = float(rng[0]), float(rng[1])
            if curve == "log" and (low <= 0 or high <= 0):
                raise _entry_error(path, i, f"curve='log' needs a positive range (got {low:g}..{high:g}); use 'lin'")
            probes = [low, high]
        mapping = CcMapping(cc, param, low, high, curve, values, channel, float(smoothing))
        if kind == "fx":
            if curve == "choice":
                raise _entry_error(path, i, "effect parameters take a numeric range (curve lin, log or int)")
            mappings.append(mapping)
            continue
        for probe in ([mapping.value(0), mapping.value(127)] if curve != "choice" else probes):
            try:
                DreamParams().replace(**{param: probe})
            except ParameterError as exc:
                raise _entry_error(path, i, str(exc)) from None
        mappings.append(mapping)
    programs = {}
    for i, entry in enumerate(data.get("program_change", [])):
        program, preset = entry.get("program"), entry.get("preset")
        if not isinstance(program, int) or not 0 <= program <= 127:
            raise ParameterError(f"{path}: [[program_change]] entry {i + 1}: program={program!r} must be 0..127")
        if not isinstance(preset, str):
            raise ParameterError(
                f'{path}: [[program_change]] entry {i + 1}: needs preset = "NAME" ({", ".join(list_presets())})'
            )
        load_preset(preset)  # raises a clear error for an unknown preset
        programs[program] = preset
    return MidiMap(tuple(mappings), programs, str(path), str(data.get("name", path.stem)))


