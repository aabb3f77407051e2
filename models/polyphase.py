"""Polyphase rearrangements of strided conv1d weights (shared by the torch backend and
the ONNX graphs).

A conv with stride ``s`` over ``x`` equals a stride-1 conv over the ``s`` phases of ``x``
(``polyphase_forward_weight``), and its input gradient equals a stride-1 conv of the
output gradient followed by an interleave of ``s`` phases (``polyphase_weight``). On a
CPU both beat the strided kernels of oneDNN and onnxruntime for these long-stride,
long-kernel layers.
"""

from __future__ import annotations

import torch

__all__ = ["POLYPHASE_FORWARD_MIN_STRIDE", "polyphase_forward_weight", "polyphase_weight"]


POLYPHASE_FORWARD_MIN_STRIDE = 7
"""Strides from which the forward conv also runs in polyphase form. Measured on 2 cores
(Model2, 1 s): layer 0 (stride 7, kernel 129) 0.97 -> 0.32 ms, layer 1 (stride 7) 1.18 ->
0.62 ms, layer 2 (stride 5, kernel 33) 0.18 -> 0.21 ms (slower: stays direct)."""


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


