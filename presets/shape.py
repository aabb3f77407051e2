"""The shape of TOML and JSON data, declared once per file kind and checked by one function.

Hand-edited and machine-written files (presets, MIDI maps, model cards, the batch
manifest) parse into dicts and lists; before any code reads a field, ``check`` walks the
data against a declared shape and raises one error that names the file, the place in it
(``cc[2].range``), what is expected, and what was found::

    CARD = Table({"weights_sha256": Text(pattern="[0-9a-f]{64}"), "class_names": ListOf(Text())},
                 required=("weights_sha256", "class_names"), others=ANY)
    check(json.loads(text), CARD, "model.json", ModelLoadError)

Shapes say only what a value must look like (type, range, length, known keys); what a
value means (a parameter's range, a plugin's name) is checked by its owner afterwards.
Pure standard library.
"""

from __future__ import annotations

import math
import re

from .errors import ParameterError

__all__ = ["Shape", "Number", "Integer", "Text", "Flag", "Null", "ListOf", "Table", "OneOf", "ANY", "SCALAR", "check"]


class ShapeMismatch(Exception):
    """Internal: where (a list of path parts) and what went wrong."""

    def __init__(self, path: list, text: str):
        super().__init__(text)
        self.path, self.text = path, text


class Shape:
    """A declared shape: ``validate(value, path)`` returns the value or raises ``ShapeMismatch``."""

    description = "a value"

    def validate(self, value, path: list):
        return value

    def fail(self, value, path: list, expected: str | None = None):
        raise ShapeMismatch(path, f"must be {expected or self.description} (found {_show(value)})")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Any(Shape):
    description = "any value"


class Number(Shape):
    """A finite number (ints accepted) in ``[low, high]``."""

    def __init__(self, low: float = -math.inf, high: float = math.inf):
        self.low, self.high = low, high
        bounds = [] if low == -math.inf else [f">= {low:g}"]
        bounds += [] if high == math.inf else [f"<= {high:g}"]
        self.description = "a finite number" + (" " + " and ".join(bounds) if bounds else "")

    def validate(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(value, path)
        if not self.low <= value <= self.high:
            self.fail(value, path)
        return value


class Integer(Number):
    """A whole number in ``[low, high]`` (floats are not accepted)."""

    def __init__(self, low: float = -math.inf, high: float = math.inf):
        super().__init__(low, high)
        self.description = self.description.replace("a finite number", "a whole number")

    def validate(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path)
        return super().validate(value, path)


class Text(Shape):
    """A string; optionally one of ``choices`` or matching ``pattern`` (whole string)."""

    def __init__(self, choices=None, pattern: str | None = None):
        self.choices = tuple(choices) if choices else None
        self.pattern = re.compile(pattern) if pattern else None
        self.description = ("one of " + ", ".join(repr(c) for c in self.choices)) if self.choices else \
            (f"text matching {pattern}" if pattern else "text")

    def validate(self, value, path):
        if not isinstance(value, str):
            self.fail(value, path)
        if self.choices and value not in self.choices:
            self.fail(value, path)
        if self.pattern and not self.pattern.fullmatch(value):
            self.fail(value, path)
        return value


class Flag(Shape):
    description = "true or false"

    def validate(self, value, path):
        if not isinstance(value, bool):
            self.fail(value, path)
        return value


class Null(Shape):
    description = "null"

    def validate(self, value, path):
        if value is not None:
            self.fail(value, path)
        return value


class OneOf(Shape):
    """Any of several shapes (the first that fits)."""

    def __init__(self, *shapes: Shape):
        self.shapes = shapes
        self.description = " or ".join(s.description for s in shapes)

    def validate(self, value, path):
        for shape in self.shapes:
            try:
                return shape.validate(value, path)
            except ShapeMismatch:
                continue
        self.fail(value, path)


class ListOf(Shape):
    """A list of items of one shape, ``min_len..max_len`` long."""

    def __init__(self, item: Shape, min_len: int = 0, max_len: int | None = None, label: str = "a list"):
        self.item, self.min_len, self.max_len = item, min_len, max_len
        size = "" if (min_len == 0 and max_len is None) else \
            f" of {min_len}" if min_len == max_len else f" of at least {min_len}" if max_len is None else \
            f" of {min_len}..{max_len}"
        self.description = f"{label}{size} ({item.description} each)"

    def validate(self, value, path):
        if not isinstance(value, list):
            self.fail(value, path)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            self.fail(value, path)
        for i, item in enumerate(value):
            self.item.validate(item, path + [i])
        return value


class Table(Shape):
    """A table (dict) with known keys; ``others`` is the shape of any other key's value
    (``None``: other keys are an error that lists the valid ones)."""

    def __init__(self, fields: dict | None = None, required=(), others: Shape | None = None, label: str = "a table"):
        self.fields, self.required, self.others = dict(fields or {}), tuple(required), others
        self.description = label

    def validate(self, value, path):
        if not isinstance(value, dict):
            self.fail(value, path)
        for key in self.required:
            if key not in value:
                raise ShapeMismatch(path, f"needs {key!r}")
        for key, item in value.items():
            shape = self.fields.get(key, self.others)
            if shape is None:
                valid = ", ".join(self.fields)
                raise ShapeMismatch(path, f"has an unknown key {key!r}; valid keys: {valid}")
            shape.validate(item, path + [key])
        return value


ANY = _Any()
SCALAR = OneOf(Number(), Text(), Flag())


def _where(path: list) -> str:
    """``["cc", 1, "range"]`` -> ``cc[2].range`` (entries counted from 1, as a person counts them)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            name = str(part) if str(part).isprintable() else repr(str(part))  # a key with a newline stays one line
            out += f".{name}" if out else name
    return out


def check(data, shape: Shape, source: str, error=ParameterError):
    """Validate ``data`` against ``shape``; raise ``error`` with one line naming ``source`` and
    the place in it; return ``data`` unchanged."""
    try:
        return shape.validate(data, [])
    except ShapeMismatch as exc:
        where = _where(exc.path)
        raise error(f"{source}: {where + ' ' if where else ''}{exc.text}; fix the file") from None
