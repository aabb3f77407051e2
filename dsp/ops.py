"""The per-iteration operations of the dream loop, defined once over an array namespace.

``ArrayOps`` writes each operation (gradient normalisation, peak, per-excerpt circular
shift, the DreamSound hard-cut mask) once, in terms of a few primitives (``abs``,
``amax``, ``mean``, ``std``, ``clamp_min``, ``roll``, ``roll_each``, ``as_dtype``).
``NumpyOps`` supplies them with numpy (the reference, and the onnxruntime backend's DSP);
the torch backend's ``TorchDSP`` supplies them with torch, on the device. Both run the
same definition, so the two backends apply the same operations in the same order.

Arrays are ``[B, 1, n]`` (excerpts) or ``[B, 1, bins, frames]`` (spectrograms).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TINY", "ArrayOps", "NumpyOps", "NUMPY"]

TINY = 1e-30  # floor of every divisor: far below any gradient magnitude we meet (~1e-8)


class ArrayOps:
    """The shared definitions; a subclass supplies the primitives for its array type."""

    TINY = TINY
    MAX_CACHED = 64  # constant tables kept per ops object (a few excerpt lengths x presets)

    def cached(self, key, make):
        """``make()`` computed once per ``key`` on this ops object and kept: the constant
        per-iteration tables (band, smoothing responses, lock window) already on the device,
        so excerpt after excerpt reuses them bit for bit."""
        cache = self.__dict__.setdefault("_tables", {})
        if key in cache:
            return cache[key]
        value = make()  # two threads may both make it: equal tables, the second kept
        if len(cache) >= self.MAX_CACHED:
            cache.clear()
        cache[key] = value
        return value

    # -- the operations ------------------------------------------------------------------
    def normalize(self, g, mode: str):
        """Gradient normalisation along time: ``max`` (peak 1), ``mean`` (mean |g| 1) or
        ``std`` (zero mean, unit standard deviation, ``ddof=1``)."""
        if mode == "max":
            return g / self.clamp_min(self.amax(self.abs(g)), self.TINY)
        if mode == "mean":
            return g / self.clamp_min(self.mean(self.abs(g)), self.TINY)
        centred = g - self.mean(g)
        return centred / self.clamp_min(self.std(centred), self.TINY)

    def peak(self, x):
        """Peak magnitude along time (``[..., 1]``), floored at ``TINY``."""
        return self.clamp_min(self.amax(self.abs(x)), self.TINY)

    def shift(self, x, shifts: np.ndarray):
        """Circular shift of each excerpt by its own offset (``np.roll`` semantics)."""
        if not np.any(shifts):
            return x
        if np.all(shifts == shifts[0]):
            return self.roll(x, int(shifts[0]))
        return self.roll_each(x, shifts)

    def magnitude_mask(self, magnitude, threshold: float):
        """1 where ``magnitude / max(magnitude) - threshold > 0``, else 0 (the max over the
        last two axes, frequency and time, per item)."""
        peak = self.clamp_min(self.amax(magnitude, axis=(-2, -1)), self.TINY)
        return self.as_dtype((magnitude / peak - threshold) > 0, magnitude)

    def hard_cut_mask(self, spec, threshold: float):
        """The DreamSound hard-cut mask of a complex spectrogram."""
        return self.magnitude_mask(self.abs(spec), threshold)

    # -- primitives (a subclass defines them) -------------------------------------------
    def abs(self, x):
        raise NotImplementedError

    def amax(self, x, axis=-1):
        """Maximum over ``axis``, keeping it (size 1)."""
        raise NotImplementedError

    def mean(self, x):
        """Mean over the last axis, keeping it."""
        raise NotImplementedError

    def std(self, x):
        """Standard deviation (``ddof=1``) over the last axis, keeping it."""
        raise NotImplementedError

    def clamp_min(self, x, low: float):
        raise NotImplementedError

    def roll(self, x, shift: int):
        """``np.roll`` along the last axis."""
        raise NotImplementedError

    def roll_each(self, x, shifts: np.ndarray):
        """Item ``b`` of ``x`` rolled by ``shifts[b]`` along the last axis."""
        raise NotImplementedError

    def as_dtype(self, mask, like):
        """A boolean ``mask`` as ``like``'s dtype."""
        raise NotImplementedError


class NumpyOps(ArrayOps):
    """The primitives in numpy."""

    def abs(self, x):
        return np.abs(x)

    def amax(self, x, axis=-1):
        return np.max(x, axis=axis, keepdims=True)

    def mean(self, x):
        return np.mean(x, axis=-1, keepdims=True)

    def std(self, x):
        return np.std(x, axis=-1, ddof=1, keepdims=True)

    def clamp_min(self, x, low: float):
        return np.maximum(x, low)

    def roll(self, x, shift: int):
        return np.roll(x, shift, axis=-1)

    def roll_each(self, x, shifts: np.ndarray):
        return np.stack([np.roll(item, int(s), axis=-1) for item, s in zip(x, shifts)])

    def as_dtype(self, mask, like):
        return mask.astype(like.dtype)


NUMPY = NumpyOps()
