"""export/ and the onnx backend: graphs, metadata, validation, backend parity, torch-free host."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from conftest import run_cli
from signals import SR, music_like, write

from dreambridge.bridge.engine.torch_backend import TorchBackend
from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.engine.onnx_backend import OnnxBackend
from dreambridge.bridge.engine.selection import resolve_selection
from dreambridge.export.onnx_export import TOLERANCE, export_classifier, export_dream_step, step_graph_bytes
from dreambridge.models.factory import build_model
from dreambridge.presets import DreamParams, ParameterError

FAST = DreamParams(iterations=4, excerpt_seconds=0.5, crossfade_seconds=0.05, max_offset_samples=3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model):
    model, card = tiny_model
    out = tmp_path_factory.mktemp("onnx")
    cls = export_classifier(model, card, out / "cls.onnx")
    step = export_dream_step(model, card, out / "step.onnx")
    return out, cls, step


def test_classifier_graph_outputs_and_metadata(exported, tiny_model):
    out, report, _ = exported
    model, card = tiny_model
    proto = onnx.load(str(out / "cls.onnx"))
    assert [o.name for o in proto.graph.output] == ["log_probs"] + [f"layer{i}" for i in range(8)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["sample_rate"] == "44100" and json.loads(meta["layer_channels"]) == model.layer_channels
    assert json.loads(meta["layer_stride"]) == [7, 7, 5, 5, 3, 3, 2, 2]
    assert json.loads(meta["class_names"]) == card["class_names"] and meta["weights_sha256"] == card["weights_sha256"]
    assert meta["dreambridge_version"]
    saved = json.loads((out / "cls.validation.json").read_text())
    assert saved["max_relative_error"] <= TOLERANCE and len(saved["checks"]) == 2
    assert {c["n_samples"] for c in saved["checks"]} == {44100, 30011}


def test_dream_step_validated_against_autograd(exported):
    out, _, report = exported
    assert report["max_relative_error"] <= TOLERANCE
    assert {(c["batch"], c["n_samples"]) for c in report["checks"]} == {(1, 44100), (2, 30011), (3, 22050)}
    assert any(c["class_target"] for c in report["checks"]) and any(c["ardila"] for c in report["checks"])


@pytest.mark.parametrize("arch", ["model1", "ardila6"])
def test_other_architectures_export_a_valid_step(tmp_path, arch):
    torch.manual_seed(0)
    model = build_model(arch, 3).eval()
    report = export_dream_step(model, {"name": arch, "class_names": ["a", "b", "c"]}, tmp_path / "s.onnx",
                               shapes=((1, 44100), (2, 30011)))
    assert report["max_relative_error"] <= TOLERANCE


def test_shallow_graphs_match_the_torch_backend(tiny_model, rng):
    model, card = tiny_model
    x = rng.standard_normal((2, 1, 30000)).astype(np.float32)
    torch_backend = TorchBackend(model, "cpu")
    for params in (DreamParams(layer=0, channel=3), DreamParams(layer=2, sparsity=0.2, continuity=0.1), DreamParams(target_class=2)):
        sel = resolve_selection(params, model.layer_channels, model.n_classes)
        onnx_backend = OnnxBackend(lambda d, a: step_graph_bytes(model, card, d, a), n_layers=model.n_layers)
        loss, grad = onnx_backend.objective_and_grad(x, sel)
        ref_loss, ref_grad = torch_backend.objective_and_grad(torch.from_numpy(x), sel)
        # both float32, different conv kernels (MLAS vs oneDNN): ~1e-6 relative
        assert np.abs(grad - ref_grad.numpy()).max() <= 1e-5 * np.abs(ref_grad.numpy()).max()
        assert np.allclose(loss, ref_loss.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("changes", [{}, {"grid_notch_hz": 12.0, "envelope_lock": 1.0, "octaves": 2}])
def test_torch_and_onnx_backends_dream_the_same(exported, tiny_model, rng, changes):
    out, _, _ = exported
    audio = music_like(rng, 1.3, n_channels=2)
    params = FAST.replace(**changes)
    a = Dreamer(tiny_model, params, device="cpu", backend="torch").process(audio, SR)
    b = Dreamer(tiny_model, params, device="cpu", backend="onnx").process(audio, SR)
    c = Dreamer(str(out / "step.onnx"), params, backend="onnx").process(audio, SR)
    # Same seed, same offsets; only float32 summation order differs (~1e-6 per step, four
    # steps, renormalised each time): 1e-4 absolute is far below one 16-bit LSB (3e-5 * 3).
    assert np.abs(a - b).max() < 1e-4 and np.abs(a - c).max() < 1e-4


def test_onnx_file_limits_are_checked(exported):
    out, _, _ = exported
    with pytest.raises(ParameterError, match="layer=9"):
        Dreamer(str(out / "step.onnx"), DreamParams(layer=9), backend="onnx")


def test_host_example_never_imports_torch(exported, tmp_path, rng):
    out, _, _ = exported
    src = write(tmp_path / "in.wav", music_like(rng, 1.5, n_channels=2), SR, "PCM_16")
    dst = tmp_path / "out.wav"
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['host', {str(out / 'step.onnx')!r}, {src!r}, {str(dst)!r}, '--iterations', '3']\n"
        "try:\n    runpy.run_module('dreambridge.export.host_example', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not bad, bad\nprint('torch-free')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "torch-free" in proc.stdout, proc.stderr
    import soundfile as sf

    data, rate = sf.read(str(dst), always_2d=True)
    assert rate == SR and data.shape == (int(1.5 * SR), 2) and np.all(np.isfinite(data)) and np.abs(data).max() > 0.05


def test_onnx_backend_from_a_file_never_imports_torch(exported, tmp_path, rng):
    out, _, _ = exported
    code = (
        "import sys, numpy as np\n"
        "from dreambridge.bridge.engine import Dreamer\n"
        "from dreambridge.presets import DreamParams\n"
        f"d = Dreamer({str(out / 'step.onnx')!r}, DreamParams(iterations=2), backend='onnx')\n"
        "y = d.process(np.random.default_rng(0).standard_normal((1, 30000)).astype(np.float32) * 0.3, 44100)\n"
        "assert np.isfinite(y).all()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_export_cli(tmp_path, tiny_model_dir):
    out = tmp_path / "m.onnx"
    proc = run_cli("export", tiny_model_dir, "-o", out, "--dream-step")
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and (tmp_path / "m.validation.json").is_file()
    proc = run_cli("export", tiny_model_dir, "-o", out)
    assert proc.returncode != 0 and "already exists" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("dream", "--init", "noise", "--duration", "0.6", "-o", tmp_path / "n.wav", "--backend", "onnx",
                   "--model", out, "--quiet", "--set", "iterations=2")
    assert proc.returncode == 0, proc.stderr


def test_host_example_matches_the_engine(exported, rng):
    """The standalone host (another program's view of the graph) dreams what the engine dreams."""
    import onnxruntime as ort

    from dreambridge.export.host_example import dream_excerpt

    out, _, _ = exported
    session = ort.InferenceSession(str(out / "step.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    channels, n_classes = json.loads(meta["layer_channels"]), len(json.loads(meta["class_names"]))
    layer, n = 2, SR // 2
    weights = np.zeros(sum(channels), np.float32)
    weights[sum(channels[:layer]) : sum(channels[: layer + 1])] = 1.0 / channels[layer]
    x = (music_like(rng, 0.5)[0] * 0.5).astype(np.float32)
    # The host's loop: offsets -1..1 (one draw per iteration), gradient / max|gradient|, no
    # smoothing, 12 kHz order-8 low-pass and 20 Hz order-2 DC blocker, renormalise, the input's level.
    params = DreamParams(layer=layer, channel=-1, iterations=4, learning_rate=0.04, max_offset_samples=1, jitter="fixed",
                         smoothing_kernel=1, grad_norm="max", lowpass_hz=12000.0, highpass_hz=20.0, excerpt_seconds=0.5,
                         crossfade_seconds=0.0, seed=3)
    engine = Dreamer(str(out / "step.onnx"), params, backend="onnx").process(x[None, :], SR)[0]
    host = dream_excerpt(session, x, weights, n_classes, 4, 0.04, np.random.default_rng([3, 0]), SR)
    control = dream_excerpt(session, x, weights, n_classes, 4, 0.04, np.random.default_rng([4, 0]), SR)
    assert np.abs(engine).max() > 0.1 and np.abs(engine - x).max() > 1e-3  # something was dreamed
    # Same steps in another float order (the engine adds and filters in the frequency domain):
    # float32 rounding over 4 iterations stays near 1e-6 of full scale.
    assert np.abs(engine - host).max() < 1e-4
    assert np.abs(engine - control).max() > 100 * np.abs(engine - host).max()  # another seed: other offsets
