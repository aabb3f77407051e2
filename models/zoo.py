"""The shipped models: ``models/zoo/<name>/`` (card + safetensors), and the name
``default``, an alias kept in ``zoo/index.json``. Models the user imports (``dreambridge
models import crepe-full``) live in the user model folder: ``$DREAMBRIDGE_MODELS``, else
``$XDG_DATA_HOME/dreambridge/models`` (``~/.local/share/dreambridge/models``); a shipped
name wins over an imported one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dreambridge.presets.errors import ModelLoadError

from .checkpoint import load_checkpoint, read_card

__all__ = ["ZOO_DIR", "user_models_dir", "default_model_name", "list_models", "resolve_model_dir", "load_model"]

ZOO_DIR = Path(__file__).resolve().parent / "zoo"


def user_models_dir() -> Path:
    """Where imported models go (see the module docstring)."""
    if os.environ.get("DREAMBRIDGE_MODELS"):
        return Path(os.environ["DREAMBRIDGE_MODELS"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dreambridge" / "models"


def default_model_name() -> str:
    index = ZOO_DIR / "index.json"
    if not index.is_file():
        raise ModelLoadError(f"{index} is missing; the package is incomplete, reinstall dreambridge")
    return json.loads(index.read_text())["default"]


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if (p / "model.json").is_file()} if folder.is_dir() else set()


def list_models() -> list[str]:
    """Names of the shipped and imported models (directories holding a model card)."""
    return sorted(_names(ZOO_DIR) | _names(user_models_dir()))


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    """A shipped model's directory by name (``default`` included), or a directory path."""
    text = str(name_or_dir)
    if text == "default":
        text = default_model_name()
    for folder in (ZOO_DIR, user_models_dir()):
        if "/" not in text and (folder / text / "model.json").is_file():
            return folder / text
    if text == "crepe-full":
        raise ModelLoadError("crepe-full is not imported yet; run: pip install 'dreambridge[crepe]' && "
                             "dreambridge models import crepe-full")
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
