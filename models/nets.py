"""Raw-waveform convolutional classifiers: Model1, Model2 (Bisig & Wegner, Table 1) and
Ardila6 (Ardila et al. 2016).

Every network is a stack of *blocks* (Conv1d -> BatchNorm1d -> SiLU, plus overlapping
max pooling for Ardila6) followed by a head (global mean over time -> linear ->
log-softmax). The output of block ``i`` is "layer ``i``": the tap that dreaming
maximises and that ONNX export names ``layer{i}``.

Input is ``[batch, 1, n_samples]`` float32 at the model's ``sample_rate`` (44100 Hz),
zero-mean and peak-normalised, as in training.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "LayerSpec",
    "TappedNet",
    "RawAudioNet",
    "ARCHITECTURES",
    "fold_batchnorm",
    "conv_macs",
]


@dataclass(frozen=True)
class LayerSpec:
    """One conv block: kernel, stride, padding (samples of its input), output channels,
    and an optional overlapping max pool (kernel, stride) after the activation."""

    kernel: int
    stride: int
    padding: int
    channels: int
    pool_kernel: int = 0
    pool_stride: int = 0


# Table 1 of Bisig & Wegner (kernel, stride, padding). Channel counts are ours, chosen
# for ~400k (Model1) and ~300k (Model2) parameters as in the paper's text.
_MODEL1 = [(85, 49, 42, 36), (43, 25, 21, 72), (17, 9, 8, 128), (7, 4, 3, 128)]
_MODEL2 = [
    (129, 7, 64, 32),
    (65, 7, 32, 32),
    (33, 5, 16, 48),
    (17, 5, 8, 64),
    (9, 3, 4, 64),
    (5, 3, 2, 96),
    (3, 2, 1, 96),
    (3, 2, 1, 128),
]
# Ardila et al.: 50 ms filters with a 10 ms stride and 192 filters in the first layer
# (2205 / 441 samples at 44.1 kHz), batch norm after every layer, overlapping max
# pooling (kernel 3, stride 2) after layers 1-5. Six conv layers in all.
_ARDILA6 = [(2205, 441, 1102, 192, 0, 0)] + [(3, 1, 1, 128, 3, 2)] * 5

ARCHITECTURES: dict[str, list[LayerSpec]] = {
    "model1": [LayerSpec(*row) for row in _MODEL1],
    "model2": [LayerSpec(*row) for row in _MODEL2],
    "ardila6": [LayerSpec(*row) for row in _ARDILA6],
}


class _Block(nn.Module):
    def __init__(self, in_channels: int, spec: LayerSpec):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, spec.channels, spec.kernel, spec.stride, spec.padding)
        self.bn = nn.BatchNorm1d(spec.channels)
        self.pool_kernel = spec.pool_kernel
        self.pool_stride = spec.pool_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.bn(self.conv(x)))
        if self.pool_kernel:
            x = F.max_pool1d(x, self.pool_kernel, self.pool_stride, padding=self.pool_kernel // 2)
        return x


class TappedNet(nn.Module):
    """What the dream engine needs of a network: ``specs`` (one ``LayerSpec`` per tap),
    ``arch``, ``n_classes``, ``sample_rate`` and ``forward_taps(x, upto)``."""

    arch: str
    n_classes: int
    sample_rate: int
    specs: list[LayerSpec]

    @property
    def n_layers(self) -> int:
        return len(self.specs)

    @property
    def layer_channels(self) -> list[int]:
        return [spec.channels for spec in self.specs]

    @property
    def layer_names(self) -> list[str]:
        return [f"layer{i}" for i in range(self.n_layers)]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def architecture(self) -> dict:
        """The JSON-able description stored in the model card."""
        return {
            "arch": self.arch,
            "n_classes": self.n_classes,
            "sample_rate": self.sample_rate,
            "layers": [
                {
                    "name": f"layer{i}",
                    "kernel": s.kernel,
                    "stride": s.stride,
                    "padding": s.padding,
                    "channels": s.channels,
                    "pool_kernel": s.pool_kernel,
                    "pool_stride": s.pool_stride,
                }
                for i, s in enumerate(self.specs)
            ],
        }


class RawAudioNet(TappedNet):
    """A raw-waveform classifier with addressable layer taps.

    Parameters
    ----------
    arch : str
        ``"model1"``, ``"model2"`` or ``"ardila6"``.
    n_classes : int
        Number of output classes.
    sample_rate : int
        The rate the network was trained at (Hz).
    """

    def __init__(self, arch: str, n_classes: int, sample_rate: int = 44100):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
        self.arch = arch
        self.n_classes = int(n_classes)
        self.sample_rate = int(sample_rate)
        self.specs = ARCHITECTURES[arch]
        blocks = []
        in_channels = 1
        for spec in self.specs:
            blocks.append(_Block(in_channels, spec))
            in_channels = spec.channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(in_channels, self.n_classes)

    def forward_taps(self, x: torch.Tensor, upto: int | None = None):
        """Run the network and return ``(taps, log_probs)``.

        ``taps[i]`` is layer ``i``'s activation ``[batch, channels_i, frames_i]``.
        With ``upto`` set, stops after that layer and returns ``log_probs=None`` (the
        deeper layers are never computed).
        """
        taps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            taps.append(x)
            if upto is not None and i >= upto:
                return taps, None
        pooled = x.mean(dim=-1)
        # Written as a matmul (not F.linear) so the ONNX graphs stay plain MatMul + Add.
        logits = pooled @ self.head.weight.t() + self.head.bias
        return taps, F.log_softmax(logits, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[batch, n_classes]`` of ``x`` ``[batch, 1, n_samples]``."""
        return self.forward_taps(x)[1]


def fold_batchnorm(model: RawAudioNet) -> RawAudioNet:
    """Return an eval-mode copy with every BatchNorm folded into its conv.

    The copy computes the same function as ``model.eval()`` (to float rounding) with one
    op fewer per layer; its parameters do not require grad, so a backward pass computes
    only the input gradient. Other networks (the CREPE adapter, whose BatchNorm follows
    the ReLU and cannot fold) come back as a frozen eval-mode copy.
    """
    folded = copy.deepcopy(model).eval()
    if not isinstance(model, RawAudioNet):
        for p in folded.parameters():
            p.requires_grad_(False)
        return folded
    for block in folded.blocks:
        conv, bn = block.conv, block.bn
        if isinstance(bn, nn.Identity):  # already folded: folding is idempotent
            continue
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        with torch.no_grad():
            conv.weight.mul_(scale[:, None, None])
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
        block.bn = nn.Identity()
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


def conv_macs(model: RawAudioNet, n_samples: int, upto: int | None = None) -> list[int]:
    """Multiply-accumulates of each conv layer's forward pass on ``n_samples`` input."""
    macs = []
    length = n_samples
    in_channels = 1
    last = model.n_layers - 1 if upto is None else upto
    for spec in model.specs[: last + 1]:
        frames = math.floor((length + 2 * spec.padding - spec.kernel) / spec.stride) + 1
        macs.append(frames * spec.kernel * in_channels * spec.channels)
        length = frames
        if spec.pool_kernel:
            length = math.floor((length + 2 * (spec.pool_kernel // 2) - spec.pool_kernel) / spec.pool_stride) + 1
        in_channels = spec.channels
    return macs
