"""bridge/engine/onnx_backend.py: the onnxruntime backend against the torch backend, its limits,
that it never imports torch, and on CUDA that it equals the CPU result within float tolerance."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from signals import SR, music_like

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.engine.onnx_backend import OnnxBackend
from dreambridge.bridge.engine.selection import resolve_selection
from dreambridge.bridge.engine.torch_backend import TorchBackend
from dreambridge.export.onnx_export import step_graph_bytes
from dreambridge.presets import DreamParams, ParameterError

FAST = DreamParams(iterations=4, excerpt_seconds=0.5, crossfade_seconds=0.05, max_offset_samples=3)


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


FAST_CUDA = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05)


def _ort_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.gpu
@pytest.mark.skipif(not (torch.cuda.is_available() and _ort_cuda()), reason="needs a CUDA GPU and onnxruntime-gpu")
def test_onnx_cuda_matches_cpu(tiny_model, rng):
    audio = music_like(rng, 1.2, n_channels=2)
    cpu = Dreamer(tiny_model, FAST_CUDA, device="cpu", backend="onnx").process(audio, SR)
    gpu = Dreamer(tiny_model, FAST_CUDA, device="cuda", backend="onnx", batch_size=8).process(audio, SR)
    # cuDNN (TF32 convolutions) against MLAS fp32, 3 iterations renormalised to peak 1: ~1e-4, same sound
    assert np.allclose(cpu, gpu, atol=1e-3)
    assert 10 * np.log10(np.sum(cpu.astype(np.float64) ** 2) / np.sum((cpu - gpu).astype(np.float64) ** 2)) > 40


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_torch_cuda_batched_excerpts_match_cpu(tiny_model, rng):
    """Many excerpts in one CUDA batch (the batch and atlas paths) against the CPU one at a time."""
    audio = music_like(rng, 6.0, n_channels=2)
    cpu = Dreamer(tiny_model, FAST_CUDA, device="cpu", batch_size=1).process(audio, SR)
    gpu = Dreamer(tiny_model, FAST_CUDA, device="cuda", batch_size=64).process(audio, SR)
    # as above: TF32 convolutions against oneDNN fp32; the tolerance is far below audibility
    assert np.allclose(cpu, gpu, atol=1e-3)
