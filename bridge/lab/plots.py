"""Spectrogram pictures (``--plot``): input, output, gradient and mask side by side,
axes labelled in Hz and seconds."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_dream", "plot_panels"]


def plot_panels(path, panels: list[tuple[str, np.ndarray | None, int, str]]) -> None:
    """``panels``: ``(title, signal or [bins, frames] mask, sample_rate, kind)`` with kind
    ``"audio"`` or ``"mask"``; ``None`` signals are drawn as an empty, titled panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), dpi=90, squeeze=False)
    for ax, (title, data, rate, kind) in zip(axes[0], panels):
        ax.set_title(title, fontsize=10)
        if data is None:
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        elif kind == "mask":
            bins, frames = data.shape
            ax.imshow(data, origin="lower", aspect="auto", cmap="gray", extent=(0, frames * 512 / rate, 0, rate / 2))
        else:
            ax.specgram(np.asarray(data, dtype=np.float64), NFFT=2048, Fs=rate, noverlap=1536, cmap="magma", vmin=-120)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_dream(path, dry, wet, rate: int, debug: dict, model_rate: int) -> None:
    mask = debug.get("mask")
    panels = [
        ("input", None if dry is None else dry.mean(axis=0), rate, "audio"),
        ("output", wet.mean(axis=0), rate, "audio"),
        ("gradient (last excerpt, last step)", debug.get("gradient"), model_rate, "audio"),
        (
            "mask (last excerpt, last step)",
            None if mask is None else np.asarray(mask).reshape(mask.shape[-2], mask.shape[-1]),
            model_rate,
            "mask",
        ),
    ]
    plot_panels(path, panels)
