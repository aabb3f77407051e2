"""``dreambridge style``: timbre style transfer (Foote et al. 2016; Gatys et al.).

``method="net"``: optimise a waveform so that a deep layer's activations match the
content's (content loss) while the Gram matrices of shallower layers' activations (time
collapsed, ``A A^T / frames``) match the style's (style loss). ``method="stft"``: Foote
et al.'s baseline with no network: optimise a log-magnitude spectrogram against the
content's spectrogram and the Gram matrix of the style's spectrogram, then invert it with
the content's phase. Both start from noise (so both losses fall from the start) and both
keep the content's length. Each loss is divided by its own value at the first step, so
both start at 1 and ``style_weight`` balances two comparable numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["style_transfer"]


def _gram(a):
    return a @ a.transpose(-1, -2) / a.shape[-1]


def _optimise(variable, losses, iterations: int, learning_rate: float, style_weight: float, callback=None) -> list:
    """Adam on ``variable``; ``losses()`` gives ``(content, style)``, each divided by its
    first value so both start at 1. Returns the per-iteration history."""
    import torch

    optimiser = torch.optim.Adam([variable], lr=learning_rate)
    history = []
    for i in range(iterations):
        content_loss, style_loss = losses()
        if i == 0:
            c0, s0 = content_loss.detach().clamp_min(1e-12), style_loss.detach().clamp_min(1e-12)
        content_loss, style_loss = content_loss / c0, style_loss / s0
        optimiser.zero_grad()
        (content_loss + style_weight * style_loss).backward()
        optimiser.step()
        history.append({"content": float(content_loss.detach()), "style": float(style_loss.detach())})
        if callback:
            callback(i, history[-1])
    return history


def style_transfer(content: np.ndarray, style: np.ndarray, model=None, method: str = "net", content_layer: int = 5,
                   style_layers=(0, 1, 2, 3), style_weight: float = 1.0, iterations: int = 200,
                   learning_rate: float = 0.01, seed: int = 0, n_fft: int = 2048, hop_length: int = 512, callback=None):
    """Return ``(output, history)`` for mono signals at the model rate (44.1 kHz for stft).

    ``history`` lists ``{"content": c, "style": s}`` per iteration.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    c = torch.from_numpy(np.asarray(content, np.float32))
    s = torch.from_numpy(np.asarray(style, np.float32))
    c = c / c.abs().max().clamp_min(1e-9)
    s = s / s.abs().max().clamp_min(1e-9)
    if method == "net":
        from dreambridge.models.nets import fold_batchnorm

        net = fold_batchnorm(model)
        deepest = max([content_layer, *style_layers])
        with torch.no_grad():
            taps_c, _ = net.forward_taps(c[None, None], upto=deepest)
            taps_s, _ = net.forward_taps(s[None, None], upto=deepest)
            target_content = taps_c[content_layer]
            target_grams = {l: _gram(taps_s[l][0]) for l in style_layers}
        x = (0.1 * torch.randn(c.shape, generator=gen)).requires_grad_(True)

        def losses():
            taps, _ = net.forward_taps(x[None, None], upto=deepest)
            content_loss = ((taps[content_layer] - target_content) ** 2).mean()
            style_loss = sum(
                ((_gram(taps[l][0]) - g) ** 2).mean() / (g**2).mean().clamp_min(1e-12) for l, g in target_grams.items()
            )
            return content_loss, style_loss / max(len(target_grams), 1)

        history = _optimise(x, losses, iterations, learning_rate, style_weight, callback)
        out = x.detach().numpy()
    elif method == "stft":
        window = torch.hann_window(n_fft)

        def spec(v):
            return torch.stft(v, n_fft, hop_length, window=window, center=True, pad_mode="reflect", return_complex=True)

        sc, ss = spec(c), spec(s)
        log_c, log_s = torch.log1p(sc.abs()), torch.log1p(ss.abs())
        gram_s = _gram(log_s)
        m = (log_c.mean() * torch.rand(log_c.shape, generator=gen)).requires_grad_(True)
        history = _optimise(m, lambda: (((m - log_c) ** 2).mean(), ((_gram(m) - gram_s) ** 2).mean()), iterations,
                            learning_rate * 10, style_weight, callback)
        magnitude = torch.expm1(m.detach().clamp_min(0))
        phase = torch.exp(1j * torch.angle(sc))
        out = torch.istft(magnitude * phase, n_fft, hop_length, window=window, center=True, length=len(c)).numpy()
    else:
        from dreambridge.presets.errors import ParameterError

        raise ParameterError(f"--method {method!r} is not one of net, stft")
    out = out - out.mean()
    return (0.9 * out / max(float(np.max(np.abs(out))), 1e-9)).astype(np.float32), history
