"""Torch modules written for ONNX export: the classifier with every layer tap as an
output, and one DeepDream step with a hand-written input gradient.

The dream step does not call autograd: the backward pass is spelled out (mean-square
and Ardila cost gradients, the SiLU derivative, ``ConvTranspose`` then pad-and-slice to
the input length for each strided conv, max-pool routing by indices for Ardila6), so
both the TorchScript-based and the dynamo exporter see ordinary ops and the length ``N``
stays dynamic.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dreambridge.models.nets import RawAudioNet, fold_batchnorm
from dreambridge.models.polyphase import (
    POLYPHASE_FORWARD_MIN_STRIDE,
    conv1d_input_grad,
    conv1d_polyphase,
    polyphase_forward_weight,
    polyphase_weight,
)

__all__ = ["ClassifierGraph", "DreamStepGraph", "STEP_INPUTS", "STEP_OUTPUTS"]

STEP_INPUTS = ["waveform", "layer_weights", "class_weights", "learning_rate", "sparsity", "continuity"]
STEP_OUTPUTS = ["updated", "gradient", "loss"]
TINY = 1e-30  # divisor floor; not 1e-8: a deep layer's mean |gradient| can be ~1e-8 itself


class ClassifierGraph(nn.Module):
    """``waveform [B, 1, N] -> (log_probs [B, K], layer0 [B, C0, T0], ...)``."""

    def __init__(self, model: RawAudioNet):
        super().__init__()
        self.model = fold_batchnorm(model)

    def forward(self, waveform):
        taps, log_probs = self.model.forward_taps(waveform)
        return (log_probs, *taps)


class DreamStepGraph(nn.Module):
    """One DeepDream step with its input gradient, for hosts that have only onnxruntime.

    Inputs: ``waveform [B, 1, N]``; ``layer_weights [sum_l C_l]`` (the per-channel weights
    of every layer, concatenated in layer order); ``class_weights [K]``; ``learning_rate``,
    ``sparsity``, ``continuity`` (scalars, shape ``[1]``).

    Outputs: ``updated = waveform + learning_rate * gradient / max|gradient|`` (per item),
    ``gradient [B, 1, N]`` of the objective (see ``bridge.selection.Selection``) and
    ``loss [B]``, the objective itself.

    ``max_layer`` builds a shallower graph that runs only layers ``0..max_layer`` (no class
    targeting; faster when only shallow layers are dreamed); ``ardila=False`` drops the
    sparsity/continuity terms (the exported graph then has fewer inputs); ``with_update=False``
    returns only ``gradient`` and ``loss`` (the engine takes its own step).

    For the torch backend, which runs this module eagerly: ``active`` names the layers whose
    weights may be non-zero (the others' mean-square terms are skipped; ``None``: all, as
    exported), and ``fused=True`` uses torch's fused SiLU kernels (``silu`` forward,
    ``silu_backward``) in place of the plain sigmoid ops an exported graph needs.
    """

    def __init__(self, model: RawAudioNet, max_layer: int | None = None, ardila: bool = True, with_update: bool = True,
                 active=None, fused: bool = False):
        super().__init__()
        self.with_update = bool(with_update)
        self.active = None if active is None else frozenset(int(layer) for layer in active)
        self.fused = bool(fused)
        self.model = fold_batchnorm(model)
        self.n_used = model.n_layers if max_layer is None else int(max_layer) + 1
        self.with_head = max_layer is None
        self.ardila = bool(ardila)
        self.channels = list(model.layer_channels)
        self.offsets = [sum(self.channels[:i]) for i in range(len(self.channels))]
        self._poly_fwd, self._poly_bwd = [], []
        for block in self.model.blocks:
            w, st = block.conv.weight.detach(), block.conv.stride[0]
            self._poly_fwd.append(polyphase_forward_weight(w, st) if st >= POLYPHASE_FORWARD_MIN_STRIDE else None)
            self._poly_bwd.append(polyphase_weight(w, st) if st > 1 else None)

    def forward(self, waveform, layer_weights, class_weights, learning_rate, sparsity, continuity):
        h = waveform
        inputs, pre, post, pool_idx = [], [], [], []
        for block in self.model.blocks[: self.n_used]:
            conv = block.conv
            inputs.append(h)
            z = _conv_forward(h, conv, self._poly_fwd[len(inputs) - 1])
            if self.fused:
                a, sig = F.silu(z), None
            else:
                sig = torch.sigmoid(z)
                a = z * sig
            pre.append((z, sig))
            if block.pool_kernel:
                a, idx = F.max_pool1d(
                    a, block.pool_kernel, block.pool_stride, block.pool_kernel // 2, return_indices=True
                )
                pool_idx.append(idx)
            else:
                pool_idx.append(None)
            post.append(a)
            h = a
        loss = None
        grads = []
        for l, a in enumerate(post):
            if self.active is not None and l not in self.active:
                grads.append(None)
                continue
            w = layer_weights[self.offsets[l] : self.offsets[l] + self.channels[l]].view(1, -1, 1)
            n_frames = a.shape[-1]
            term = (w * a * a).mean(dim=-1).sum(dim=-1)
            loss = term if loss is None else loss + term
            grads.append(2.0 * w * a / n_frames)
        if self.with_head:
            pooled = h.mean(dim=-1)
            logits = pooled @ self.model.head.weight.t() + self.model.head.bias
            log_probs = F.log_softmax(logits, dim=-1)
            loss = loss + (log_probs * class_weights).sum(dim=-1)
            # d/dlogits of sum_k cw_k log p_k = cw - softmax * sum(cw)
            d_logits = class_weights - torch.softmax(logits, dim=-1) * class_weights.sum()
            d_pooled = d_logits @ self.model.head.weight
            grads[-1] = grads[-1] + d_pooled.unsqueeze(-1).expand_as(post[-1]) / post[-1].shape[-1]
        if self.ardila:  # Ardila costs on layer 0
            a0 = post[0]
            n0 = a0.shape[1] * a0.shape[2]
            loss = loss - sparsity * a0.abs().mean(dim=(1, 2))
            grads[0] = grads[0] - sparsity * torch.sign(a0) / n0
            diff = a0[..., 1:] - a0[..., :-1]
            n_diff = a0.shape[1] * (a0.shape[2] - 1)
            loss = loss - continuity * (diff * diff).mean(dim=(1, 2))
            d_diff = 2.0 * diff / n_diff
            grads[0] = grads[0] - continuity * (F.pad(d_diff, (1, 0)) - F.pad(d_diff, (0, 1)))

        g = grads[-1]
        for l in range(len(post) - 1, -1, -1):
            block = self.model.blocks[l]
            z, sig = pre[l]
            if pool_idx[l] is not None:
                g = torch.zeros_like(z).scatter_add(-1, pool_idx[l], g)
            if sig is None:
                dz = torch.ops.aten.silu_backward(g, z)
            else:
                dz = g * sig * (1.0 + z * (1.0 - sig))  # SiLU'(z)
            dx = _conv_input_grad(dz, block.conv, self._poly_bwd[l], inputs[l])
            g = dx if l == 0 or grads[l - 1] is None else dx + grads[l - 1]
        gradient = g
        if not self.with_update:  # the engine's own step follows; skip the plain one
            return gradient, loss
        peak = gradient.abs().amax(dim=-1, keepdim=True).clamp_min(TINY)
        updated = waveform + learning_rate * gradient / peak
        return updated, gradient, loss


def _conv_forward(h, conv, poly_fwd):
    """The strided conv, in polyphase form for long strides (the torch backend's op)."""
    if poly_fwd is None:
        return F.conv1d(h, conv.weight, conv.bias, conv.stride, conv.padding)
    return conv1d_polyphase(h, poly_fwd, conv.bias, conv.stride[0], conv.padding[0], conv.kernel_size[0])


def _conv_input_grad(dz, conv, poly, h_in):
    """Input gradient of the conv, sliced to the input's (dynamic) length: the torch
    backend's polyphase op, or ``conv_transpose1d`` for stride 1."""
    s, p = conv.stride[0], conv.padding[0]
    if poly is not None:
        return conv1d_input_grad(dz, poly, s, p, h_in.shape[-1])
    full = F.pad(F.conv_transpose1d(dz, conv.weight, None, s), (0, p + s))
    return full[..., p : p + h_in.shape[-1]]
