"""``dreambridge style``: timbre style transfer (Foote et al. 2016; Gatys et al.).

``method="net"``: optimise a waveform so that a deep layer's activations match the
content's (content loss) while the Gram matrices of shallower layers' activations (time
collapsed, ``A A^T / frames``) match the style's (style loss). ``method="stft"``: Foote
et al.'s baseline with no network: optimise a log-magnitude spectrogram against the
content's spectrogram and the Gram matrix of the style's spectrogram, then invert it with
the content's phase. ``stft`` starts from noise; ``net`` starts from the content itself
(``init="content"``, the default: starting from noise, 200 steps leave Foote et al.'s
failure, bright broadband noise with the content barely there) or from noise
(``init="noise"``). Each loss is divided by its own value at the first step, so both start
at 1 and ``style_weight`` balances two comparable numbers; a content loss that starts at
0 (from the content) is divided by the content activations' mean square instead.
``match_content`` gives an output the content's loudness contour (23 ms) and level.
"""

from __future__ import annotations

import numpy as np

__all__ = ["style_transfer", "match_content"]


def _gram(a):
    return a @ a.transpose(-1, -2) / a.shape[-1]


def _optimise(variable, losses, iterations: int, learning_rate: float, style_weight: float, callback=None,
              content_scale=None) -> list:
    """Adam on ``variable``; ``losses()`` gives ``(content, style)``, each divided by its
    first value (the content loss by ``content_scale`` when given) so both start at 1.
    Returns the per-iteration history."""
    import torch

    optimiser = torch.optim.Adam([variable], lr=learning_rate)
    history = []
    for i in range(iterations):
        content_loss, style_loss = losses()
        if i == 0:
            c0 = content_loss.detach() if content_scale is None else content_scale
            c0, s0 = c0.clamp_min(1e-12), style_loss.detach().clamp_min(1e-12)
        content_loss, style_loss = content_loss / c0, style_loss / s0
        total = content_loss + style_weight * style_loss
        if not bool(torch.isfinite(total)):
            from dreambridge.presets.errors import ParameterError

            raise ParameterError(f"style transfer diverged at iteration {i + 1} (the loss is NaN or Inf); "
                                 "lower --learning-rate or --style-weight")
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        history.append({"content": float(content_loss.detach()), "style": float(style_loss.detach())})
        if callback:
            callback(i, history[-1])
    return history


def style_transfer(content: np.ndarray, style: np.ndarray, model=None, method: str = "net", content_layer: int = 5,
                   style_layers=(0, 1, 2, 3), style_weight: float = 1.0, iterations: int = 200,
                   learning_rate: float = 0.01, seed: int = 0, n_fft: int = 2048, hop_length: int = 512, callback=None,
                   init: str = "content"):
    """Return ``(output, history)`` at the model rate (44.1 kHz for stft).

    ``content`` is ``(n_channels, n)`` (or mono ``(n,)``): every channel is styled as its own
    item of one batch, so stereo stays stereo. ``style`` is mono ``(n,)`` (its timbre).
    ``history`` lists ``{"content": c, "style": s}`` per iteration. A loss that turns NaN or
    Inf raises ``ParameterError``.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    c = torch.from_numpy(np.atleast_2d(np.asarray(content, np.float32)))
    s = torch.from_numpy(np.asarray(style, np.float32))
    c = c / c.abs().amax(dim=-1, keepdim=True).clamp_min(1e-9)
    s = s / s.abs().max().clamp_min(1e-9)
    if method == "net":
        from dreambridge.models.nets import fold_batchnorm

        net = fold_batchnorm(model)
        deepest = max([content_layer, *style_layers])
        with torch.no_grad():
            taps_c, _ = net.forward_taps(c[:, None], upto=deepest)
            taps_s, _ = net.forward_taps(s[None, None], upto=deepest)
            target_content = taps_c[content_layer]
            target_grams = {l: _gram(taps_s[l][0]) for l in style_layers}
        if init not in ("content", "noise"):
            from dreambridge.presets.errors import ParameterError

            raise ParameterError(f"--init {init!r} is not one of content, noise")
        start = c.clone() if init == "content" else 0.1 * torch.randn(c.shape, generator=gen)
        x = start.requires_grad_(True)

        def losses():
            taps, _ = net.forward_taps(x[:, None], upto=deepest)
            content_loss = ((taps[content_layer] - target_content) ** 2).mean()
            style_loss = sum(((_gram(taps[l]) - g) ** 2).mean() / (g**2).mean().clamp_min(1e-12)
                             for l, g in target_grams.items())
            return content_loss, style_loss / max(len(target_grams), 1)

        scale = (target_content**2).mean() if init == "content" else None
        history = _optimise(x, losses, iterations, learning_rate, style_weight, callback, scale)
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
        out = torch.istft(magnitude * phase, n_fft, hop_length, window=window, center=True, length=c.shape[-1]).numpy()
    else:
        from dreambridge.presets.errors import ParameterError

        raise ParameterError(f"--method {method!r} is not one of net, stft")
    out = out - out.mean(axis=-1, keepdims=True)
    if not np.all(np.isfinite(out)):
        from dreambridge.presets.errors import ParameterError

        raise ParameterError("style transfer diverged (the output holds NaN or Inf); "
                             "lower --learning-rate or --style-weight")
    return (0.9 * out / max(float(np.max(np.abs(out))), 1e-9)).astype(np.float32), history


def match_content(out: np.ndarray, content: np.ndarray, sample_rate: int) -> np.ndarray:
    """``out`` (mono or ``(channels, n)``) with ``content``'s 23 ms loudness contour and level,
    per channel of ``content``, under the -0.1 dBFS ceiling."""
    from dreambridge.dsp.normalize import db_to_gain, follow_envelope

    out = np.atleast_2d(np.asarray(out, np.float32))
    content = np.atleast_2d(np.asarray(content, np.float32))
    if out.shape[0] != content.shape[0]:
        out = np.repeat(out[:1], content.shape[0], axis=0)
    shaped = follow_envelope(out, content, 1.0, window=max(1, int(round(1024 / 44100 * sample_rate))), max_gain_db=48.0)
    ceiling = db_to_gain(-0.1)
    return np.clip(shaped, -ceiling, ceiling).astype(np.float32)
