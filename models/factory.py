"""Build an untrained network from its architecture name: the raw-waveform nets of
``models.nets`` or the CREPE adapter of ``models.crepe``."""

from __future__ import annotations

from .crepe import CrepeNet
from .nets import RawAudioNet

__all__ = ["build_model"]


def build_model(arch: str, n_classes: int, sample_rate: int = 44100) -> RawAudioNet:
    """Construct an untrained network (seed torch first for reproducible weights).

    ``crepe-tiny`` / ``crepe-full`` give the CREPE adapter (``models.crepe``; its class
    count and rate are fixed: 360 pitch bins at 16 kHz)."""
    if arch.startswith("crepe-"):
        return CrepeNet(arch.split("-", 1)[1])
    return RawAudioNet(arch, n_classes, sample_rate)
