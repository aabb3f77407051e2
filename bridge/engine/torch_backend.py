"""Gradient backends. A backend answers one question: for excerpts ``[B, 1, N]`` at the
model rate and a :class:`~dreambridge.bridge.selection.Selection`, what is each
excerpt's objective and its gradient with respect to the input?

Everything else (the per-iteration DSP, scheduling, I/O) is shared, so a new backend
is one class here.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from dreambridge.bridge.engine.selection import Selection
from dreambridge.dsp.ops import ArrayOps
from dreambridge.models.nets import RawAudioNet, fold_batchnorm
from dreambridge.models.polyphase import (
    POLYPHASE_FORWARD_MIN_STRIDE,
    conv1d_input_grad,
    conv1d_polyphase,
    polyphase_forward_weight,
    polyphase_weight,
)
from dreambridge.presets.errors import DeviceError

__all__ = ["resolve_device", "TorchBackend", "TorchDSP", "objective_from_taps", "forward_taps_fast"]


class _Conv1dInputGrad(torch.autograd.Function):
    """conv1d whose backward computes only the input gradient, in polyphase form."""

    @staticmethod
    def forward(ctx, x, weight, bias, poly, stride, padding, poly_fwd):
        ctx.save_for_backward(poly)
        ctx.stride, ctx.padding, ctx.n_in = stride, padding, x.shape[-1]
        if poly_fwd is not None:
            return conv1d_polyphase(x, poly_fwd, bias, stride, padding, weight.shape[-1])
        return torch.nn.functional.conv1d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad_out):
        (poly,) = ctx.saved_tensors
        return conv1d_input_grad(grad_out, poly, ctx.stride, ctx.padding, ctx.n_in), None, None, None, None, None, None


def _polyphase_weights(model: RawAudioNet) -> list[tuple]:
    """Per block ``(backward weight, forward weight or None)``, cached on the model."""
    cache = getattr(model, "_dreambridge_poly", None)
    if cache is None:
        cache = []
        for block in model.blocks:
            w, s = block.conv.weight.detach(), block.conv.stride[0]
            fwd = polyphase_forward_weight(w, s) if s >= POLYPHASE_FORWARD_MIN_STRIDE else None
            cache.append((polyphase_weight(w, s), fwd))
        model._dreambridge_poly = cache
    return cache


def forward_taps_fast(model: RawAudioNet, x: torch.Tensor, upto: int | None = None):
    """``model.forward_taps`` for a BatchNorm-folded, frozen model, with the fast input
    gradient (the polyphase weights are cached on the model). Other networks (the CREPE
    adapter) run their own ``forward_taps`` under plain autograd."""
    if not isinstance(model, RawAudioNet):
        return model.forward_taps(x, upto)
    taps = []
    polys = _polyphase_weights(model)
    for i, block in enumerate(model.blocks):
        conv = block.conv
        z = _Conv1dInputGrad.apply(x, conv.weight, conv.bias, polys[i][0], conv.stride[0], conv.padding[0], polys[i][1])
        x = torch.nn.functional.silu(z)
        if block.pool_kernel:
            x = torch.nn.functional.max_pool1d(x, block.pool_kernel, block.pool_stride, padding=block.pool_kernel // 2)
        taps.append(x)
        if upto is not None and i >= upto:
            return taps, None
    pooled = x.mean(dim=-1)
    logits = pooled @ model.head.weight.t() + model.head.bias
    return taps, torch.nn.functional.log_softmax(logits, dim=-1)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def objective_from_taps(taps, log_probs, layer_weights, class_weights, sparsity: float, continuity: float):
    """The per-excerpt objective ``[B]`` (see ``Selection``) from a forward pass.

    ``layer_weights`` is a list of ``[C_l]`` tensors or ``None`` for unused layers.
    """
    objective = None

    def add(term):
        nonlocal objective
        objective = term if objective is None else objective + term

    for tap, w in zip(taps, layer_weights):
        if w is not None:
            add(((tap * tap).mean(dim=-1) * w).sum(dim=-1))
    if class_weights is not None:
        add((log_probs * class_weights).sum(dim=-1))
    if sparsity:
        add(-sparsity * taps[0].abs().mean(dim=(1, 2)))
    if continuity:
        diff = taps[0][..., 1:] - taps[0][..., :-1]
        add(-continuity * (diff * diff).mean(dim=(1, 2)))
    return objective


class TorchBackend:
    """Eager PyTorch on a BatchNorm-folded copy of the model (CUDA or CPU).

    Only the layers up to the deepest selected one are run (the whole network when a
    class is targeted), and no parameter gradients are computed. For ``RawAudioNet``
    models the step is the explicit forward and input gradient of the ONNX dream-step
    graph (``export.graphs.DreamStepGraph``, polyphase convolutions, no autograd): the
    same code the onnxruntime backend exports. ``explicit=False`` (and the CREPE adapter)
    runs autograd through ``forward_taps_fast`` instead: the reference the explicit step
    is tested against.
    """

    name = "torch"

    def __init__(self, model: RawAudioNet, device: torch.device | str = "cpu", explicit: bool = True):
        self.device = torch.device(device)
        self.model = fold_batchnorm(model).to(self.device)
        self.explicit = bool(explicit) and isinstance(self.model, RawAudioNet)
        if isinstance(self.model, RawAudioNet):
            _polyphase_weights(self.model)
        self.sample_rate = model.sample_rate
        self._prepared = {}
        self._graphs = {}
        self._lock = threading.Lock()

    def _prepare(self, selection: Selection) -> dict:
        """What the step needs for ``selection``, made once and kept (excerpt workers ask at once)."""
        key = id(selection)
        prepared = self._prepared.get(key)
        if prepared is not None and prepared["selection"] is selection:
            return prepared
        with self._lock:
            upto = None if selection.uses_classes else selection.deepest_layer
            prepared = {"selection": selection, "upto": upto}  # the selection kept alive: id() stays unique
            if self.explicit:  # the graph's weights as its inputs
                prepared["step"] = self._graph_inputs(selection, upto)
            else:  # the autograd reference's per-layer weights
                prepared["layer_w"] = [
                    torch.from_numpy(w).to(self.device) if np.any(w) else None for w in selection.layer_weights
                ]
                prepared["class_w"] = (
                    torch.from_numpy(selection.class_weights).to(self.device) if selection.uses_classes else None
                )
            if len(self._prepared) > 64:
                self._prepared.clear()
            self._prepared[key] = prepared
        return prepared

    def _graph_inputs(self, selection: Selection, upto):
        """The step graph for this selection's depth ``upto`` (cached) and its constant inputs."""
        from dreambridge.export.graphs import DreamStepGraph

        ardila = bool(selection.sparsity or selection.continuity)
        active = {i for i, w in enumerate(selection.layer_weights) if np.any(w)}
        if ardila:
            active.add(0)  # the Ardila terms add to layer 0's gradient
        if upto is None:
            active.add(self.model.n_layers - 1)  # the head's gradient adds to the last layer's
        key = (upto, ardila, frozenset(active))
        if key not in self._graphs:
            self._graphs[key] = DreamStepGraph(self.model, max_layer=upto, ardila=ardila, with_update=False,
                                               active=active, fused=True)
        layer_w = torch.from_numpy(np.concatenate(selection.layer_weights).astype(np.float32)).to(self.device)
        class_w = torch.from_numpy(np.asarray(selection.class_weights, dtype=np.float32)).to(self.device)

        def scalar(v):
            return torch.tensor([float(v)], dtype=torch.float32, device=self.device)

        return self._graphs[key], (layer_w, class_w, scalar(0.0), scalar(selection.sparsity),
                                   scalar(selection.continuity))

    def objective_and_grad(self, x: torch.Tensor, selection: Selection):
        """``(objective [B], grad [B, 1, N])`` for excerpts ``x`` ``[B, 1, N]`` on the device."""
        prepared = self._prepare(selection)
        if self.explicit:
            graph, inputs = prepared["step"]
            with torch.no_grad():
                grad, objective = graph(x, *inputs)
            return objective, grad
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            taps, log_probs = forward_taps_fast(self.model, x, upto=prepared["upto"])
            objective = objective_from_taps(
                taps, log_probs, prepared["layer_w"], prepared["class_w"], selection.sparsity, selection.continuity
            )
            (grad,) = torch.autograd.grad(objective.sum(), x)
        return objective.detach(), grad


class TorchDSP(ArrayOps):
    """The array ops of ``loop.dream_loop`` on torch tensors, on the device: the shared
    definitions of ``dsp.ops.ArrayOps`` over torch primitives, plus FFT, STFT and the
    smoothing product (the conventions of their numpy references in ``dreambridge.dsp``)."""

    def __init__(self, device, fft: str = "auto"):
        self.device = torch.device(device)
        # On a CPU, scipy's pocketfft (NumpyDSP's FFT) takes half the time of torch's MKL
        # transform at these odd lengths (44100 = 2^2 3^2 5^2 7^2): measured 0.3 against 0.63 ms.
        self._pocketfft = None
        if fft == "scipy" or (fft == "auto" and self.device.type == "cpu"):
            import scipy.fft  # ~0.2 s to import: only where it is used

            self._pocketfft = scipy.fft

    def asarray(self, a: np.ndarray) -> torch.Tensor:
        if self.device.type == "cuda":  # through pinned memory, queued: no host sync inside the dream loop
            return torch.from_numpy(np.ascontiguousarray(a)).pin_memory().to(self.device, non_blocking=True)
        return torch.as_tensor(np.ascontiguousarray(a), device=self.device)

    def to_numpy(self, a: torch.Tensor) -> np.ndarray:
        return a.detach().cpu().numpy()

    # -- the primitives of ArrayOps ----------------------------------------------------------
    def abs(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()

    def amax(self, x: torch.Tensor, axis=-1) -> torch.Tensor:
        return x.amax(dim=axis, keepdim=True)

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1, keepdim=True)

    def std(self, x: torch.Tensor) -> torch.Tensor:
        return x.std(dim=-1, keepdim=True)  # ddof 1, as numpy's std(ddof=1)

    def clamp_min(self, x: torch.Tensor, low: float) -> torch.Tensor:
        return x.clamp_min(low)

    def roll(self, x: torch.Tensor, shift: int) -> torch.Tensor:
        return torch.roll(x, shift, dims=-1)

    def roll_each(self, x: torch.Tensor, shifts: np.ndarray) -> torch.Tensor:
        n = x.shape[-1]
        index = (torch.arange(n, device=self.device)[None, :] - self.asarray(shifts)[:, None]) % n
        return torch.gather(x, -1, index[:, None, :].expand_as(x))

    def as_dtype(self, mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return mask.to(like.dtype)

    def as_float64(self, x: torch.Tensor) -> torch.Tensor:
        return x.double()

    def as_float32(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()

    def pad_last(self, x: torch.Tensor, left: int, right: int) -> torch.Tensor:
        return torch.nn.functional.pad(x, (left, right))

    def cumsum(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=-1)

    def sqrt(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)

    def amax_all(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax()

    def maximum(self, x: torch.Tensor, y) -> torch.Tensor:
        return torch.maximum(x, y if torch.is_tensor(y) else torch.tensor(y, dtype=x.dtype, device=x.device))

    def clamp_max(self, x: torch.Tensor, high: float) -> torch.Tensor:
        return x.clamp_max(high)

    def nan_to_zero(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def clip(self, x: torch.Tensor, bound: float) -> torch.Tensor:
        return x.clamp(-bound, bound)

    def take_last(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return x[..., index]

    def sum_last(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=-1)

    # -- FFT, STFT, smoothing -----------------------------------------------------------------
    def rfft(self, x: torch.Tensor) -> torch.Tensor:
        if self._pocketfft is not None:
            return torch.from_numpy(self._pocketfft.rfft(x.numpy(), axis=-1, workers=torch.get_num_threads()))
        return torch.fft.rfft(x, dim=-1)

    def irfft(self, spectrum: torch.Tensor, n: int) -> torch.Tensor:
        if self._pocketfft is not None:
            spectrum = spectrum.numpy()
            return torch.from_numpy(self._pocketfft.irfft(spectrum, n=n, axis=-1, workers=torch.get_num_threads()))
        return torch.fft.irfft(spectrum, n=n, dim=-1)

    def matvec(self, v: np.ndarray, table: torch.Tensor) -> torch.Tensor:
        return self.asarray(v) @ table

    def _window(self, win_length: int, n_fft: int) -> torch.Tensor:
        from dreambridge.dsp.stft import hann

        return self.asarray(hann(win_length, n_fft).astype(np.float32))

    def stft(self, x: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
        """``[B, 1, bins, frames]``, the conventions of ``dreambridge.dsp.stft.stft``."""
        b = x.shape[0]
        spec = torch.stft(x.reshape(b, -1), n_fft, hop_length, n_fft, window=self._window(win_length, n_fft),
                          center=True, pad_mode="reflect", return_complex=True)
        return spec[:, None]

    def istft(self, spec: torch.Tensor, n_fft: int, hop_length: int, win_length: int, length: int) -> torch.Tensor:
        b = spec.shape[0]
        out = torch.istft(spec.reshape(b, *spec.shape[-2:]), n_fft, hop_length, n_fft,
                          window=self._window(win_length, n_fft), center=True, length=length)
        return out[:, None]
