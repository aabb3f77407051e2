"""Presets are TOML data (``schema = 1``), never code.

A preset file::

    schema = 1
    name = "bisig-exp2"
    description = "..."
    [params]
    layer = 3
    lowpass_hz = 12000

Unknown keys are an error that lists the valid ones. ``params`` are applied over the
``DreamParams`` defaults. Factory presets live beside this module; a path to any
``.toml`` file works too.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ParameterError
from .params import DreamParams
from .shape import SCALAR, ListOf, Number, Table, Text, check

__all__ = ["PRESET_DIR", "Preset", "list_presets", "load_preset", "read_toml"]

PRESET_DIR = Path(__file__).resolve().parent
_FX_ENTRY = Table({"plugin": Text(), "vst3": Text()}, others=SCALAR, label="a table (plugin = \"Name\" and settings)")
PRESET_SHAPE = Table({
    "schema": SCALAR, "name": Text(), "description": Text(),
    "params": Table(others=SCALAR, label="a table of name = value ([params])"),
    "sequence": ListOf(Table({"time": Number(0, 1e6)}, required=("time",), others=SCALAR),
                       label="a list of [[sequence]] tables"),
    "fx": Table({"pre": ListOf(_FX_ENTRY, label="a list of [[fx.pre]] tables"),
                 "post": ListOf(_FX_ENTRY, label="a list of [[fx.post]] tables")}, label="a table ([fx])"),
})
PRESET_KEYS = tuple(PRESET_SHAPE.fields)


class Preset:
    """A loaded preset: ``name``, ``description``, ``params`` (DreamParams), ``path``,
    ``sequence``: ``[(seconds, {param: value})]`` changes over time (may be empty), and
    ``fx``: ``{"pre": [...], "post": [...]}`` effect chains (each entry a dict with
    ``plugin`` (a pedalboard built-in) or ``vst3`` (a plugin path) plus parameter values)."""

    def __init__(self, name: str, description: str, params: DreamParams, path: Path | None, raw: dict, sequence=(),
                 fx=None):
        self.name, self.description, self.params, self.path, self.raw = name, description, params, path, raw
        self.sequence = list(sequence)
        self.fx = fx or {"pre": [], "post": []}

    def __repr__(self) -> str:
        return f"Preset({self.name!r})"


def read_toml(path: Path, shape: Table, what: str) -> dict:
    """Read a hand-edited TOML file: ``schema = 1``, then the declared ``shape`` (see ``shape``)."""
    from .fileutil import check_input_file

    try:
        if path.exists():
            check_input_file(path, f"{what} file", ParameterError)
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f"{what} file {path} does not exist") from None
    except PermissionError:
        raise ParameterError(f"{what} file {path} is not readable (permission denied); fix its permissions") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{what} file {path} cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    if data.get("schema") != 1:
        raise ParameterError(f"{path}: needs 'schema = 1' at the top (found {data.get('schema')!r})")
    return check(data, shape, str(path))


def list_presets() -> list[str]:
    """Names of the factory presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name_or_path: str | Path) -> Preset:
    """Load a factory preset by name, or any preset file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        path = PRESET_DIR / f"{text}.toml"
        if not path.is_file():
            raise ParameterError(
                f"unknown preset {text!r}; factory presets: {', '.join(list_presets())} (or give a .toml path)"
            )
    data = read_toml(path, PRESET_SHAPE, "preset")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ParameterError(f"{path}: [params] must be a table of name = value")
    unknown = sorted(set(params) - set(DreamParams.names()))
    if unknown:
        raise ParameterError(f"{path}: unknown parameter {unknown[0]!r}; valid names: {', '.join(DreamParams.names())}")
    try:
        dream_params = DreamParams.from_dict(params)
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    sequence = []
    current = dream_params
    for i, step in enumerate(data.get("sequence", [])):
        if not isinstance(step, dict) or not isinstance(step.get("time"), (int, float)) or step["time"] < 0:
            raise ParameterError(f"{path}: [[sequence]] step {i + 1} needs time = SECONDS (>= 0)")
        changes = {k: v for k, v in step.items() if k != "time"}
        try:
            current = current.replace(**changes)
        except ParameterError as exc:
            raise ParameterError(f"{path}: [[sequence]] step {i + 1}: {exc}") from None
        sequence.append((float(step["time"]), changes))
    if any(b[0] < a[0] for a, b in zip(sequence, sequence[1:])):
        raise ParameterError(f"{path}: [[sequence]] times must not decrease")
    return Preset(
        str(data.get("name", path.stem)),
        str(data.get("description", "")),
        dream_params,
        path,
        data,
        sequence,
        _read_fx(path, data.get("fx", {})),
    )


def _read_fx(path: Path, fx) -> dict:
    """Validate the shape of ``[[fx.pre]]`` / ``[[fx.post]]`` (plugin names and parameter
    names are checked when the chain is built, where pedalboard can be asked)."""
    if not isinstance(fx, dict) or set(fx) - {"pre", "post"}:
        raise ParameterError(f"{path}: [fx] holds only [[fx.pre]] and [[fx.post]] lists")
    out = {}
    for side in ("pre", "post"):
        entries = fx.get(side, [])
        if not isinstance(entries, list):
            raise ParameterError(f"{path}: fx.{side} must be a list of tables ([[fx.{side}]])")
        for i, entry in enumerate(entries):
            kinds = [k for k in ("plugin", "vst3") if k in entry]
            if len(kinds) != 1 or not isinstance(entry[kinds[0]], str):
                raise ParameterError(
                    f'{path}: [[fx.{side}]] entry {i + 1} needs exactly one of plugin = "Name" or vst3 = '
                    '"/path/to/Plugin.vst3"'
                )
            for key, value in entry.items():
                if key not in ("plugin", "vst3") and not isinstance(value, (int, float, bool, str)):
                    raise ParameterError(
                        f"{path}: [[fx.{side}]] entry {i + 1}: parameter {key!r} must be a number, bool or text"
                    )
        out[side] = [dict(e) for e in entries]
    return out
