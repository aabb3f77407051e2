"""The per-iteration operations of the dream loop, defined once over an array namespace.

``ArrayOps`` writes each operation (gradient normalisation, peak, per-excerpt circular
shift, the DreamSound hard-cut mask) once, in terms of a few primitives (``abs``,
``amax``, ``mean``, ``std``, ``clamp_min``, ``roll``, ``roll_each``, ``as_dtype``; the envelope
follower's ``cumsum``, ``sqrt``, ``pad_last`` and a few more).
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

    # -- after the loop: the engine's envelope follower ------------------------------------
    def rms_envelope(self, x, window: int):
        """Centred moving RMS over ``window`` samples along the last axis (same length), by
        running sums in float64."""
        x = self.as_float64(x)
        half = window // 2
        csum = self.cumsum(self.pad_last(x * x, half + 1, window - half - 1))
        return self.sqrt(self.clamp_min(csum[..., window:] - csum[..., :-window], 0.0) / window)

    def follow_envelope(self, wet, dry, amount: float, window: int = 1024, max_gain_db: float = 24.0,
                        floor: float = 1e-12):
        """Give ``wet`` the loudness contour of ``dry``: gain ``(env_dry / env_wet) ** amount``
        per sample (moving RMS over ``window`` samples, gain capped at ``max_gain_db``; the wet
        envelope floored at 1e-4 of its maximum over the whole array, at least ``floor``).
        Returns float32."""
        if amount <= 0:
            return wet
        env_wet = self.rms_envelope(wet, window)
        env_dry = self.rms_envelope(dry, window)
        lowest = 1e-4 * self.clamp_min(self.amax_all(env_wet), floor)
        gain = self.clamp_max(env_dry / self.maximum(env_wet, lowest), 10.0 ** (max_gain_db / 20.0))
        return self.as_float32(self.as_float64(wet) * gain**amount)

    def resample(self, x, plan):
        """``x`` resampled along its last axis by ``plan`` (``dsp.resample.polyphase_plan``'s
        ``(index, weights)``, as arrays of this namespace)."""
        index, weights = plan
        return self.sum_last(self.take_last(x, index) * weights)

    def finish_samples(self, x, ceiling: float):
        """Finite float32 samples within +-``ceiling`` (NaN and inf become 0)."""
        return self.as_float32(self.clip(self.nan_to_zero(x), ceiling))

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

    def as_float64(self, x):
        raise NotImplementedError

    def as_float32(self, x):
        raise NotImplementedError

    def pad_last(self, x, left: int, right: int):
        """Zeros before and after along the last axis."""
        raise NotImplementedError

    def cumsum(self, x):
        """Running sum along the last axis."""
        raise NotImplementedError

    def sqrt(self, x):
        raise NotImplementedError

    def amax_all(self, x):
        """Maximum over the whole array (0-d, on the array's device)."""
        raise NotImplementedError

    def maximum(self, x, y):
        """Elementwise maximum of ``x`` and a broadcastable ``y``."""
        raise NotImplementedError

    def clamp_max(self, x, high: float):
        raise NotImplementedError

    def nan_to_zero(self, x):
        """NaN, inf and -inf replaced by 0."""
        raise NotImplementedError

    def take_last(self, x, index):
        """``x[..., index]``: samples gathered along the last axis by an integer array."""
        raise NotImplementedError

    def sum_last(self, x):
        """Sum over the last axis (dropped)."""
        raise NotImplementedError

    def clip(self, x, bound: float):
        """Values limited to ``[-bound, bound]``."""
        raise NotImplementedError


class NumpyOps(ArrayOps):
    """The primitives in numpy."""

    def asarray(self, a) -> np.ndarray:
        return np.ascontiguousarray(a)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

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

    def as_float64(self, x):
        return np.asarray(x, dtype=np.float64)

    def as_float32(self, x):
        return np.asarray(x).astype(np.float32)

    def pad_last(self, x, left: int, right: int):
        return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)])

    def cumsum(self, x):
        return np.cumsum(x, axis=-1)

    def sqrt(self, x):
        return np.sqrt(x)

    def amax_all(self, x):
        return np.max(x)

    def maximum(self, x, y):
        return np.maximum(x, y)

    def clamp_max(self, x, high: float):
        return np.minimum(x, high)

    def nan_to_zero(self, x):
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def take_last(self, x, index):
        return x[..., index]

    def sum_last(self, x):
        return np.sum(x, axis=-1)

    def clip(self, x, bound: float):
        return np.clip(x, -bound, bound)


NUMPY = NumpyOps()
