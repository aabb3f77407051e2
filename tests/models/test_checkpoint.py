"""models/checkpoint.py: checkpoints without pickle, the hash check and the model card."""

import json
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import JSON_VALUES, PROPERTY

from dreambridge.models.checkpoint import load_checkpoint, save_checkpoint
from dreambridge.presets.errors import ModelLoadError

CARD_EDITS = st.dictionaries(st.sampled_from(["architecture", "weights_sha256", "class_names", "weights", "n_parameters",
                                              "test_accuracy", "name"]), JSON_VALUES, max_size=3)


def test_checkpoint_round_trip_and_hash_check(tmp_path, tiny_model):
    model, card = tiny_model
    out = tmp_path / "m"
    save_checkpoint(model, out, {"class_names": card["class_names"], "test_accuracy": 0.5})
    loaded, card2 = load_checkpoint(out)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert card2["n_parameters"] == model.n_parameters() and card2["test_accuracy"] == 0.5
    # Corrupt one byte of the weights: the hash check refuses to load.
    weights = out / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_checkpoint(out)


def test_checkpoint_architecture_mismatch(tmp_path, tiny_model_dir):
    out = tmp_path / "m"
    shutil.copytree(tiny_model_dir, out)
    card = json.loads((out / "model.json").read_text())
    card["architecture"]["arch"] = "model1"
    (out / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError):
        load_checkpoint(out)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


@PROPERTY
@given(edit=CARD_EDITS)
def test_any_model_card_reads_or_gives_one_model_error(tmp_path, tiny_model_dir, edit):
    from dreambridge.models.checkpoint import read_card
    from dreambridge.presets.errors import ModelLoadError

    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    card = json.loads((tiny_model_dir / "model.json").read_text())
    card.update(edit)
    (folder / "model.json").write_text(json.dumps(card))
    try:
        read = read_card(folder)
    except ModelLoadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert read["architecture"]["n_classes"] >= 1 and len(read["class_names"]) >= 1
