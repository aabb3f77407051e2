"""export/shipped.py: the dream-step graphs shipped beside a model's weights: up to date with
the weights, equal to the in-memory graphs to the bit, every damaged file refused in one line."""

import json
import shutil

import numpy as np
import onnx
import pytest
from signals import SR, music_like

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.export.integrity import DIGEST_KEY, verify_graph, weights_digest
from dreambridge.export.onnx_export import step_graph_bytes
from dreambridge.export.shipped import GRAPHS_DIR, INDEX_NAME, WEIGHTS_FILE, ShippedGraphs, build_shipped_graphs
from dreambridge.models.zoo import load_model, resolve_model_dir
from dreambridge.presets import DreamParams
from dreambridge.presets.errors import ModelLoadError

FAST = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05, max_offset_samples=3)


def test_the_default_model_ships_graphs_built_from_its_weights():
    """Every shipped graph holds exactly the weights a fresh export of the shipped weights gives
    (its recorded digest is the fresh graph's), and passes the graph integrity check."""
    folder = resolve_model_dir("default")
    graphs = ShippedGraphs.find(folder)
    assert graphs is not None, "the default model ships no graphs/: python -m dreambridge.export.shipped default"
    net, card = load_model(folder)
    assert graphs.meta["weights_sha256"] == card["weights_sha256"]
    keys = {f"{d}{a}" for d in [*range(net.n_layers - 1), "full"] for a in ("", "-ardila")}
    assert set(graphs.index["graphs"]) == keys
    for depth, ardila in ((1, False), (2, True), (None, False)):  # the default's, the ardila preset's, the head
        path = graphs.path(depth, ardila)
        shipped = onnx.load(path)  # reads weights.bin (external data)
        verify_graph(shipped, path)
        fresh = onnx.load_from_string(step_graph_bytes(net, card, depth, ardila, with_update=False))
        recorded = {p.key: p.value for p in shipped.metadata_props}[DIGEST_KEY]
        assert recorded == weights_digest(fresh) == weights_digest(shipped), path


def test_the_default_model_on_its_shipped_graphs_dreams_like_torch(rng):
    audio = music_like(rng, 0.8, n_channels=2)
    shipped = Dreamer("default", FAST, device="cpu", backend="onnx")
    assert shipped.model is None  # the shipped graphs, not an in-memory export
    a = shipped.process(audio, SR)
    b = Dreamer("default", FAST, device="cpu", backend="torch").process(audio, SR)
    # Same seed, same offsets; only float32 summation order differs (~1e-6 per step, three
    # steps, renormalised each time): 1e-4 absolute is far below one 16-bit LSB (3e-5 * 3).
    assert np.abs(a - b).max() < 1e-4


@pytest.fixture(scope="module")
def built_once(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shipped") / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    return folder, build_shipped_graphs(str(folder))


@pytest.fixture
def built(built_once, tmp_path):
    """A fresh copy of the tiny model directory with its graphs built (once per module)."""
    folder = tmp_path / "tiny"
    shutil.copytree(built_once[0], folder)
    return folder, built_once[1]


def test_built_graphs_dream_like_the_in_memory_ones_to_the_bit(built, tiny_model, rng):
    folder, index = built
    # one copy of each layer's tensors for the 16 graphs: weights.bin is smaller than the two deepest graphs
    net, card = tiny_model
    full = len(step_graph_bytes(net, card, None, False, with_update=False))
    assert (folder / GRAPHS_DIR / WEIGHTS_FILE).stat().st_size < 1.1 * full
    audio = music_like(rng, 1.3, n_channels=2)
    for changes in ({}, {"layer": 3, "sparsity": 0.2, "continuity": 0.1}, {"target_class": 1}):
        params = FAST.replace(**changes)
        shipped = Dreamer(str(folder), params, device="cpu", backend="onnx")
        assert shipped.model is None  # no torch model behind it
        in_memory = Dreamer(tiny_model, params, device="cpu", backend="onnx")
        assert np.array_equal(shipped.process(audio, SR), in_memory.process(audio, SR)), changes


def test_damaged_missing_or_stale_graphs_are_one_clear_error(built_once, tmp_path, rng):
    audio = music_like(rng, 0.6)

    def fresh():
        folder = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(built_once[0], folder)
        return folder, folder / GRAPHS_DIR

    folder, graphs = fresh()
    blob = bytearray((graphs / WEIGHTS_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0x40
    (graphs / WEIGHTS_FILE).write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match=r"weights\.bin: sha256 .* does not match") as err:
        Dreamer(str(folder), FAST, backend="onnx")
    assert "\n" not in str(err.value) and "export.shipped" in str(err.value)

    folder, graphs = fresh()
    (graphs / built_once[1]["graphs"]["1"]).unlink()
    dreamer = Dreamer(str(folder), FAST.replace(layer=1), backend="onnx")  # the weights are fine
    with pytest.raises(ModelLoadError, match="step-1.onnx: shipped graph file is missing"):
        dreamer.process(audio, SR)

    folder, graphs = fresh()
    stale = json.loads((graphs / INDEX_NAME).read_text())
    stale["model"]["weights_sha256"] = "0" * 64
    (graphs / INDEX_NAME).write_text(json.dumps(stale))
    with pytest.raises(ModelLoadError, match="built from other weights"):
        Dreamer(str(folder), FAST, backend="onnx")

    (graphs / INDEX_NAME).write_text("{not json")
    with pytest.raises(ModelLoadError, match="index is missing or corrupt"):
        Dreamer(str(folder), FAST, backend="onnx")


def test_a_model_without_graphs_still_dreams_with_onnx_through_torch(tiny_model_dir, rng):
    assert ShippedGraphs.find(tiny_model_dir) is None
    dreamer = Dreamer(str(tiny_model_dir), FAST, backend="onnx")
    assert dreamer.model is not None  # exported in memory, as before
    assert np.isfinite(dreamer.process(music_like(rng, 0.6), SR)).all()


def test_the_build_command_refuses_what_it_cannot_build_in_one_line(capsys):
    from dreambridge.export.shipped import main

    assert main(["crepe-tiny"]) == 2  # CREPE dreams with the torch backend only
    assert main(["no-such-model"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "torch backend" in lines[0] and "unknown model 'no-such-model'" in lines[1]
