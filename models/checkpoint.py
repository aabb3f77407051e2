"""Checkpoints without pickle: ``weights.safetensors`` + ``model.json`` (the model card).

The card holds the architecture, sample rate, class names, parameter count, training
data and the exact command, test accuracy, and the sha256 of the weights file. Loading
checks the hash first, then that the weights fit the architecture.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dreambridge.presets.errors import ModelLoadError, first_line
from dreambridge.presets.fileutil import atomic_path, atomic_write_bytes, sha256_file
from dreambridge.presets.shape import ANY, Integer, ListOf, Null, Number, OneOf, Table, Text, check

__all__ = ["WEIGHTS_NAME", "CARD_NAME", "save_checkpoint", "load_checkpoint", "read_card"]

WEIGHTS_NAME = "weights.safetensors"
CARD_NAME = "model.json"
CARD_SHAPE = Table({
    "architecture": Table({"arch": Text(), "n_classes": Integer(1, 1_000_000), "sample_rate": Integer(1000, 768_000),
                           "layers": ListOf(Table(others=ANY))}, required=("arch", "n_classes"), others=ANY),
    "class_names": ListOf(Text(), 1),
    "weights": Text(pattern=r"[^/\\]+"),  # a file inside the model directory, never a path out of it
    "weights_sha256": Text(pattern="[0-9a-f]{64}"),
    "n_parameters": Integer(0),
    "test_accuracy": OneOf(Number(0, 1), Null()),
    "name": Text(),
}, others=ANY, label="a model card (a JSON object)")


def save_checkpoint(model: RawAudioNet, directory: str | os.PathLike, card: dict) -> dict:
    """Write weights and card into ``directory``; return the full card written.

    ``card`` supplies the free fields (``class_names``, ``training``, ``test_accuracy``,
    ...); architecture, parameter count and hash are filled in here.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp_weights:
        save_file(state, str(tmp_weights))
    full = dict(card)
    full.update(
        {
            "schema": 1,
            "architecture": model.architecture(),
            "n_parameters": model.n_parameters(),
            "weights": WEIGHTS_NAME,
            "weights_sha256": sha256_file(directory / WEIGHTS_NAME),
        }
    )
    full.setdefault("class_names", [str(i) for i in range(model.n_classes)])
    atomic_write_bytes(directory / CARD_NAME, (json.dumps(full, indent=2) + "\n").encode())
    return full


def read_card(directory: str | os.PathLike) -> dict:
    """Read and minimally validate a model card."""
    path = Path(directory) / CARD_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"{directory}: no {CARD_NAME} found; a model directory holds {CARD_NAME} and {WEIGHTS_NAME}"
        )
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable JSON model card ({exc}); rebuild or re-copy the model") from None
    for key in ("architecture", "weights_sha256", "class_names"):
        if not isinstance(card, dict) or key not in card:
            raise ModelLoadError(f"{path}: the card lacks {key!r}; it was not written by dreambridge")
    return check(card, CARD_SHAPE, str(path), ModelLoadError)


def load_checkpoint(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[RawAudioNet, dict]:
    """Load ``(model, card)`` from a model directory, checking hash and architecture.

    Raises
    ------
    ModelLoadError
        If the directory, card or weights are missing, the weights' sha256 differs from
        the card's, or the weights do not fit the architecture.
    """
    import torch
    from safetensors.torch import load_file

    from .factory import build_model

    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(
            f"model directory {directory} does not exist; run 'dreambridge models list' to see installed models"
        )
    card = read_card(directory)
    weights = directory / card.get("weights", WEIGHTS_NAME)
    if not weights.is_file():
        raise ModelLoadError(f"{weights} is missing; re-copy the model directory")
    actual = sha256_file(weights)
    if actual != card["weights_sha256"]:
        raise ModelLoadError(
            f"{weights}: sha256 {actual[:12]}... does not match the card's {card['weights_sha256'][:12]}...; "
            "the weights were changed or corrupted, re-copy or retrain the model"
        )
    arch = card["architecture"]
    try:
        model = build_model(arch["arch"], arch["n_classes"], arch.get("sample_rate", 44100))
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{directory}: unknown architecture in the card ({exc})") from None
    if model.architecture()["layers"] != arch.get("layers", model.architecture()["layers"]):
        raise ModelLoadError(f"{directory}: the card's layer table does not match architecture {arch['arch']!r}")
    try:
        state = load_file(str(weights))
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors raises several types; all mean "bad weights"
        raise ModelLoadError(
            f"{weights}: weights do not fit architecture {arch['arch']!r} ({first_line(exc)})"
        ) from None
    bad = [name for name, tensor in state.items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise ModelLoadError(f"{weights}: tensor {bad[0]!r} holds NaN or Inf ({len(bad)} tensor(s) in all); "
                             "the model is broken, retrain it or re-copy a good one")
    if len(card["class_names"]) != model.n_classes:
        raise ModelLoadError(
            f"{directory}: the card lists {len(card['class_names'])} class names for {model.n_classes} outputs"
        )
    return model.to(map_location).eval(), card
