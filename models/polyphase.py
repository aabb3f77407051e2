"""Polyphase strided conv1d: the weight rearrangements and the two ops, written once for
the torch backend and the ONNX graph builder.

A conv with stride ``s`` over ``x`` equals a stride-1 conv over the ``s`` phases of ``x``
(``polyphase_forward_weight``), and its input gradient equals a stride-1 conv of the
output gradient followed by an interleave of ``s`` phases (``polyphase_weight``). On a
CPU both beat the strided kernels of oneDNN and onnxruntime for these long-stride,
long-kernel layers.

The ops use only shape arithmetic that traces (fixed extra padding, then a slice), so
the exported graphs keep the signal length dynamic; the torch backend runs the same code.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["POLYPHASE_FORWARD_MIN_STRIDE", "GEMM_MAX_PHASE_CHANNELS", "polyphase_forward_weight", "polyphase_weight",
           "conv1d_polyphase", "conv1d_input_grad"]


POLYPHASE_FORWARD_MIN_STRIDE = 7
"""Strides from which the forward conv also runs in polyphase form. Measured on 2 cores
(Model2, 1 s): layer 0 (stride 7, kernel 129) 0.97 -> 0.32 ms, layer 1 (stride 7) 1.18 ->
0.62 ms, layer 2 (stride 5, kernel 33) 0.18 -> 0.21 ms (slower: stays direct)."""


GEMM_MAX_PHASE_CHANNELS = 15
"""Input gradients with at most this many phase channels (``stride * in_channels``: Model2's
layer 0, stride 7 over one input channel, has 7) run eagerly as one GEMM and a shifted sum
(:func:`_input_grad_gemm`): oneDNN's conv vectorises over output channels and ran this one at
43 % of the matmul rate. Measured on one thread (Model2, 1 s): 1.26 -> 0.81 ms."""


def polyphase_forward_weight(weight: torch.Tensor, stride: int) -> torch.Tensor:
    """``[c_out, stride * c_in, ceil(k / stride)]``: a strided conv as a stride-1 conv over
    the ``stride`` phases of its input (channel ``r * c_in + c`` holds phase ``r``)."""
    c_out, c_in, k = weight.shape
    s = int(stride)
    taps = -(-k // s)
    w = torch.nn.functional.pad(weight, (0, taps * s - k))
    return w.view(c_out, c_in, taps, s).permute(0, 3, 1, 2).reshape(c_out, s * c_in, taps).contiguous()


def polyphase_weight(weight: torch.Tensor, stride: int) -> torch.Tensor:
    """Rearrange a conv1d weight ``[c_out, c_in, k]`` for :func:`conv1d_input_grad`:
    ``[stride * c_in, c_out, ceil(k / stride)]``, taps reversed. Computed once per model."""
    c_out, c_in, k = weight.shape
    s = int(stride)
    taps = -(-k // s)
    w = torch.nn.functional.pad(weight, (0, taps * s - k))
    return w.view(c_out, c_in, taps, s).permute(3, 1, 0, 2).reshape(s * c_in, c_out, taps).flip(-1).contiguous()


def conv1d_polyphase(
    x: torch.Tensor, poly_fwd: torch.Tensor, bias, stride: int, padding: int, kernel: int
) -> torch.Tensor:
    """``conv1d(x, weight, bias, stride, padding)`` as a stride-1 conv of ``x``'s phases, given
    ``poly_fwd = polyphase_forward_weight(weight, stride)`` and the kernel length."""
    s = int(stride)
    b, c_in = x.shape[0], x.shape[1]
    frames = (x.shape[-1] + 2 * padding - kernel) // s + 1
    taps = poly_fwd.shape[-1]
    need = (frames + taps - 1) * s
    x = F.pad(x, (padding, s * taps + kernel))[..., :need]  # zeros past the end: enough for every phase
    x = x.reshape(b, c_in, -1, s).permute(0, 3, 1, 2).reshape(b, s * c_in, -1)
    return F.conv1d(x, poly_fwd, bias)


def conv1d_input_grad(grad_out: torch.Tensor, poly: torch.Tensor, stride: int, padding: int, n_in) -> torch.Tensor:
    """Gradient of ``conv1d(x, weight, stride, padding)`` with respect to ``x`` (``n_in`` samples),
    given ``poly = polyphase_weight(weight, stride)``.

    Each of the ``stride`` input phases receives a stride-1 convolution of ``grad_out`` with
    every ``stride``-th kernel tap, so the whole gradient is one stride-1 ``conv1d`` with
    ``stride * in_channels`` outputs followed by an interleave. On a CPU this is ~10x faster
    than ``conv_transpose1d`` for the long strided kernels of these models (layer 0 of
    Model2: 0.4 ms against 4.4 ms on 2 cores).
    """
    s = int(stride)
    taps = poly.shape[-1]
    eager = not torch.jit.is_tracing()  # the exporter traces: its graph keeps the conv (no strided views)
    if eager and poly.shape[0] <= GEMM_MAX_PHASE_CHANNELS:
        y = _input_grad_gemm(grad_out, poly)
    else:
        y = F.conv1d(grad_out, poly, padding=taps - 1)
    b, c_in = y.shape[0], poly.shape[0] // s
    full = y.reshape(b, s, c_in, -1).permute(0, 2, 3, 1).reshape(b, c_in, -1)
    if eager and full.shape[-1] >= padding + n_in:
        return full[..., padding : padding + n_in]  # eager, long enough: a view, no padded copy
    # The interleave ends at least stride samples short of padding + n_in at worst: pad, then slice
    # (shape arithmetic the exported graph keeps dynamic).
    return F.pad(full, (0, padding + s))[..., padding : padding + n_in]


def _input_grad_gemm(grad_out: torch.Tensor, poly: torch.Tensor) -> torch.Tensor:
    """``conv1d(grad_out, poly, padding=taps - 1)`` for few output channels: every (output
    channel, tap) product row at once as one GEMM ``[out * taps, c] @ [c, n + 2 (taps - 1)]``,
    then the taps summed along diagonals (a strided view: row ``(r, j)`` read ``j`` samples on)."""
    c_out, c_in, taps = poly.shape
    padded = F.pad(grad_out, (taps - 1, taps - 1))
    n = padded.shape[-1]
    products = poly.permute(0, 2, 1).reshape(c_out * taps, c_in) @ padded  # [b, c_out * taps, n]
    frames = n - taps + 1
    b = products.shape[0]
    diagonals = products.as_strided((b, c_out, taps, frames), (c_out * taps * n, taps * n, n + 1, 1))
    return diagonals.sum(dim=2)
