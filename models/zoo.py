"""The shipped models: ``models/zoo/<name>/`` (card + safetensors), and the name
``default``, an alias kept in ``zoo/index.json``."""

from __future__ import annotations

import json
from pathlib import Path

from dreambridge.presets.errors import ModelLoadError

from .checkpoint import load_checkpoint, read_card

__all__ = ["ZOO_DIR", "default_model_name", "list_models", "resolve_model_dir", "load_model"]

ZOO_DIR = Path(__file__).resolve().parent / "zoo"


def default_model_name() -> str:
    index = ZOO_DIR / "index.json"
    if not index.is_file():
        raise ModelLoadError(f"{index} is missing; the package is incomplete, reinstall dreambridge")
    return json.loads(index.read_text())["default"]


def list_models() -> list[str]:
    """Names of the shipped models (directories holding a model card)."""
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / "model.json").is_file()) if ZOO_DIR.is_dir() else []


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    """A shipped model's directory by name (``default`` included), or a directory path."""
    text = str(name_or_dir)
    if text == "default":
        text = default_model_name()
    if (ZOO_DIR / text / "model.json").is_file():
        return ZOO_DIR / text
    path = Path(text)
    if path.is_dir():
        return path
    raise ModelLoadError(f"unknown model {text!r}; shipped models: {', '.join(list_models()) or 'none'} (or give a model directory)")


def load_model(name_or_dir: str | Path = "default", map_location="cpu"):
    """``(model, card)`` for a shipped model name or a model directory (hash checked)."""
    return load_checkpoint(resolve_model_dir(name_or_dir), map_location=map_location)


def describe(name: str) -> dict:
    """The card of a shipped model, without loading weights."""
    return read_card(resolve_model_dir(name))
