"""The onnxruntime backend on CUDA equals the CPU result within float tolerance."""

import numpy as np
import pytest
import torch
from signals import SR, music_like

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.presets import DreamParams

FAST = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05)


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
    cpu = Dreamer(tiny_model, FAST, device="cpu", backend="onnx").process(audio, SR)
    gpu = Dreamer(tiny_model, FAST, device="cuda", backend="onnx", batch_size=8).process(audio, SR)
    # cuDNN (TF32 convolutions) against MLAS fp32, 3 iterations renormalised to peak 1: ~1e-4, same sound
    assert np.allclose(cpu, gpu, atol=1e-3)
    assert 10 * np.log10(np.sum(cpu.astype(np.float64) ** 2) / np.sum((cpu - gpu).astype(np.float64) ** 2)) > 40


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_torch_cuda_batched_excerpts_match_cpu(tiny_model, rng):
    """Many excerpts in one CUDA batch (the batch and atlas paths) against the CPU one at a time."""
    audio = music_like(rng, 6.0, n_channels=2)
    cpu = Dreamer(tiny_model, FAST, device="cpu", batch_size=1).process(audio, SR)
    gpu = Dreamer(tiny_model, FAST, device="cuda", batch_size=64).process(audio, SR)
    # as above: TF32 convolutions against oneDNN fp32; the tolerance is far below audibility
    assert np.allclose(cpu, gpu, atol=1e-3)
