"""models/train.py: the training loop."""

import pytest
from signals import sine, white_noise, write

from dreambridge.models.checkpoint import load_checkpoint
from dreambridge.presets.errors import DreamError


def test_training_learns_two_classes_and_resumes(tmp_path, rng):
    from dreambridge.models.train import train

    data = tmp_path / "data"
    for name, make in (("low", lambda i: sine(110 + 5 * i, 1.0)), ("noise", lambda i: white_noise(rng, 1.0))):
        (data / name).mkdir(parents=True)
        for i in range(10):
            write(data / name / f"{i}.wav", make(i))
    out = tmp_path / "model"
    card = train(data, out, arch="model1", epochs=2, batch_size=8, progress=False, command="test")
    assert (out / "weights.safetensors").is_file() and (out / "train_state.pt").is_file()
    assert card["training"]["n_train_windows"] == 16 and card["training"]["n_test_windows"] == 4
    assert card["class_names"] == ["low", "noise"]
    card = train(data, out, arch="model1", epochs=6, batch_size=8, progress=False, resume=True)
    assert len(card["training"]["history"]) == 6
    # Tones against noise is easy: after 6 epochs a raw-waveform net separates them.
    assert card["test_accuracy"] >= 0.75
    load_checkpoint(out)


def test_training_rejects_a_folder_without_classes(tmp_path):
    from dreambridge.models.train import train

    (tmp_path / "only").mkdir()
    write(tmp_path / "only" / "a.wav", sine(100.0))
    with pytest.raises(DreamError, match="two class"):
        train(tmp_path, tmp_path / "out", epochs=1, progress=False)
