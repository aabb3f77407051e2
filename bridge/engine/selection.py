"""What to maximise, resolved against a model: weights per channel of every layer and
weights per class. This is the narrow question a backend answers (see ``backends``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreambridge.presets.errors import ParameterError
from dreambridge.presets.params import DreamParams

__all__ = ["Selection", "resolve_selection"]


@dataclass(frozen=True)
class Selection:
    """``layer_weights[l]``: float32 ``[channels_l]`` (zeros for an unused layer);
    ``class_weights``: float32 ``[n_classes]``; ``sparsity``/``continuity``: Ardila costs.

    The objective maximised per excerpt is::

        sum_l sum_c w[l][c] * mean_t(a_l[c, t] ** 2) / sum|w|
        + sum_k cw[k] * log p_k
        - sparsity * mean|a_0| - continuity * mean_t,c (a_0[c, t+1] - a_0[c, t]) ** 2
    """

    layer_weights: tuple
    class_weights: np.ndarray
    sparsity: float = 0.0
    continuity: float = 0.0
    stride_period: int = 1  # samples between frames of the deepest layer used (its stride grid)
    grid_periods: tuple = ()  # stride period of every layer up to the deepest used (their stride grids)

    @property
    def deepest_layer(self) -> int:
        used = [i for i, w in enumerate(self.layer_weights) if np.any(w != 0)]
        return max(used + [0])

    @property
    def uses_classes(self) -> bool:
        return bool(np.any(self.class_weights))

    def flat_layer_weights(self) -> np.ndarray:
        """All layers' channel weights in one vector (the ONNX dream-step input)."""
        return np.concatenate(self.layer_weights).astype(np.float32)


def resolve_selection(params: DreamParams, layer_channels: list[int], n_classes: int,
                      layer_strides: list[int] | None = None) -> Selection:
    """Validate ``params``' targets against a model and build the weight vectors.

    ``layer_strides`` (each layer's stride, pooling included) gives the stride period of
    the deepest layer used, which ``jitter = "grid"`` spans with its random offsets."""
    n_layers = len(layer_channels)
    weights = [np.zeros(c, dtype=np.float32) for c in layer_channels]
    classes = np.zeros(n_classes, dtype=np.float32)
    if params.target_class >= 0:
        if params.target_class >= n_classes:
            raise ParameterError(
                f"target_class={params.target_class} is outside 0..{n_classes - 1} (this model has {n_classes} classes)"
            )
        classes[params.target_class] = 1.0
    else:
        for layer, channel, weight in params.targets():
            if layer >= n_layers:
                raise ParameterError(f"layer={layer} is outside 0..{n_layers - 1} (this model has {n_layers} layers)")
            if channel >= layer_channels[layer]:
                raise ParameterError(
                    f"channel={channel} is outside -1..{layer_channels[layer] - 1} (layer {layer} has "
                    f"{layer_channels[layer]} feature maps; -1 = all)"
                )
            if channel < 0:
                weights[layer][:] += weight
            else:
                weights[layer][channel] += weight
        total = sum(float(np.abs(w).sum()) for w in weights)
        if total <= 0:
            raise ParameterError(
                "the selection has zero total weight; give at least one layer:channel a positive weight"
            )
        if params.decorrelate > 0:
            # The unchosen maps of each dreamed layer share a negative weight: their energy is
            # pushed down while the chosen maps' is pushed up.
            for w in weights:
                chosen = w > 0
                if chosen.any() and not chosen.all():
                    w[~chosen] = -params.decorrelate * float(w[chosen].sum()) / int((~chosen).sum())
        weights = [w / total for w in weights]
    deepest = len(layer_channels) - 1 if params.target_class >= 0 else max(
        [i for i, w in enumerate(weights) if np.any(w)] + [0])
    periods = tuple(int(v) for v in np.cumprod((layer_strides or [1] * len(layer_channels))[: deepest + 1]))
    return Selection(tuple(weights), classes, float(params.sparsity), float(params.continuity), periods[-1], periods)
