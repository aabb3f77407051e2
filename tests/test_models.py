"""models/: architectures, taps, BN folding, checkpoints, training, the data builder."""

import json
import shutil

import numpy as np
import pytest
import torch
from signals import SR, sine, white_noise, write

from dreambridge.models.checkpoint import load_checkpoint, save_checkpoint
from dreambridge.models.nets import conv_macs, fold_batchnorm
from dreambridge.models.factory import build_model
from dreambridge.presets.errors import DreamError, ModelLoadError


@pytest.mark.parametrize(
    "arch, frames, n_params",
    [
        ("model1", [900, 36, 4, 1], (380_000, 420_000)),  # paper: ~400k
        ("model2", [6300, 900, 180, 36, 12, 4, 2, 1], (280_000, 340_000)),  # paper: ~300k
        ("ardila6", [100, 50, 25, 13, 7, 4], (600_000, 800_000)),
    ],
)
def test_layer_shapes_and_parameter_counts(arch, frames, n_params):
    model = build_model(arch, 128).eval()
    taps, log_probs = model.forward_taps(torch.zeros(2, 1, SR))
    assert [t.shape[-1] for t in taps] == frames
    assert [t.shape[1] for t in taps] == model.layer_channels
    assert log_probs.shape == (2, 128)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2))
    assert n_params[0] <= model.n_parameters() <= n_params[1]


def test_table1_strides_cover_one_second():
    # Bisig Table 1: the product of Model2's strides is 44100, so layer 7 has 1 frame per second.
    assert np.prod([s.stride for s in build_model("model2", 2).specs]) == 44100
    assert np.prod([s.stride for s in build_model("model1", 2).specs]) == 44100


def test_upto_stops_early():
    model = build_model("model2", 3)
    taps, log_probs = model.forward_taps(torch.zeros(1, 1, 4410), upto=2)
    assert len(taps) == 3 and log_probs is None
    assert len(conv_macs(model, SR, upto=2)) == 3


def test_fold_batchnorm_is_the_same_function():
    torch.manual_seed(0)
    model = build_model("model2", 5)
    for block in model.blocks:  # non-trivial running statistics
        block.bn.running_mean.normal_()
        block.bn.running_var.uniform_(0.5, 2.0)
        block.bn.weight.data.uniform_(0.5, 1.5)
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(2, 1, 8000)
    a, b = model.forward_taps(x), folded.forward_taps(x)
    for ta, tb in zip(a[0], b[0]):
        # float32 rounding of the folded weights: ~1e-6 relative per layer
        assert torch.allclose(ta, tb, rtol=1e-4, atol=1e-5)
    assert not any(p.requires_grad for p in folded.parameters())


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


def test_midi_writer_is_valid_smf(tmp_path):
    import mido

    from dreambridge.models.datasets.instruments import write_midi_notes

    path = tmp_path / "n.mid"
    write_midi_notes(path, [(0.5, 0.8, 40, 60, 100), (2.5, 0.8, 41, 64, 64)])
    mid = mido.MidiFile(str(path))
    notes = [(m.type, getattr(m, "note", None)) for m in mid if m.type in ("note_on", "note_off")]
    assert notes == [("note_on", 60), ("note_off", 60), ("note_on", 64), ("note_off", 64)]
    programs = [m.program for m in mid if m.type == "program_change"]
    assert programs == [40, 41]
    assert mid.length == pytest.approx(3.3, abs=1e-3)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_build_instruments_subset(tmp_path):
    from dreambridge.models.datasets.instruments import SOUNDFONTS, build_instruments

    fonts = [short for short, _, path in SOUNDFONTS if __import__("os").path.exists(path)]
    if not fonts:
        pytest.skip("no GM soundfont installed")
    manifest = build_instruments(tmp_path, progress=lambda s: None, programs=[0, 73], pitches=[60, 71], soundfonts=fonts[-1:])
    assert manifest["n_files"] == 2 * 2 * 2  # 2 programs x 2 pitches x 2 velocities, none silent
    files = sorted(tmp_path.rglob("*.wav"))
    import soundfile as sf

    info = sf.info(str(files[0]))
    assert info.samplerate == 44100 and info.channels == 1 and info.frames == 44100
    split = json.loads((tmp_path / "split.json").read_text())
    assert all("_p71_" in f for f in split["test"]) and len(split["test"]) == 4
    assert "copyright" in (tmp_path / "ATTRIBUTION.md").read_text().lower() or "license" in (tmp_path / "ATTRIBUTION.md").read_text().lower()


@pytest.mark.slow
def test_every_shipped_model_loads_and_dreams_at_every_layer():
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.models.zoo import ZOO_DIR, load_model
    from dreambridge.presets import DreamParams

    names = sorted(p.parent.name for p in ZOO_DIR.glob("*/model.json"))  # shipped, not the user's imports
    assert names, "no shipped model"
    for name in names:
        net, card = load_model(name)  # hash checked
        dreamer = Dreamer((net, card), device="cpu")
        outputs = []
        for layer in range(net.n_layers):
            dreamer.set_params(DreamParams(init="noise", layer=layer, iterations=3, learning_rate=0.1, excerpt_seconds=0.5,
                                           crossfade_seconds=0.0, lowpass_hz=min(12000.0, 0.4 * net.sample_rate)))
            y = dreamer.process(np.zeros((1, 22050), np.float32), SR)[0]
            assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0.1, (name, layer)
            outputs.append(y)
        for a, b in zip(outputs, outputs[1:]):
            assert not np.allclose(a, b, atol=1e-4), name  # each layer dreams something else


@pytest.mark.skipif(not __import__("os").path.isdir("/usr/share/ktuberling/sounds"), reason="ktuberling-data not installed")
def test_build_speech(tmp_path):
    from dreambridge.models.datasets.speech import build_speech

    manifest = build_speech(tmp_path, progress=lambda s: None, packages=["ktuberling-data"])
    assert manifest["n_classes"] >= 10 and manifest["synthetic_voices"] == 0
    split = json.loads((tmp_path / "split.json").read_text())
    assert 0.1 < len(split["test"]) / manifest["n_files"] < 0.3  # ~20 % of the recordings held out
    import soundfile as sf

    info = sf.info(str(next((tmp_path / "en").glob("*.wav"))))
    assert info.samplerate == 44100 and info.channels == 1
    assert "ktuberling-data" in (tmp_path / "ATTRIBUTION.md").read_text()
