"""The one excerpt scheduler: the grid of dream windows over a signal, and its overlap-add.

A signal is cut into excerpts of ``n_excerpt`` samples starting every ``hop = n_excerpt -
n_fade`` samples from sample 0 (``dsp.windows``); each excerpt is dreamed with the
parameters in force at its start, weighted by the one crossfade window
(``dsp.windows.excerpt_weight``) and overlap-added. Every caller drives this one grid:

- the offline render (``ExcerptScheduler.render``: excerpts grouped into batches),
- the block stream of ``Dreamer.process(..., reset=False)`` (``BlockStream``, in the
  caller's thread),
- the live effect and loop modes (``bridge.live.stream.DreamStream``, in a worker thread).

The small API a new caller (round-robin generation, a plugin server, a cluster batch)
needs: ``start(k)``, ``excerpt_count(n_total)``, ``params_for(k)``, ``dream(indices,
excerpts)``, ``add(k, wet)``, ``finish(upto)`` and ``window(k)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dreambridge.dsp.normalize import CEILING_DB, db_to_gain
from dreambridge.dsp.ops import NUMPY
from dreambridge.dsp.windows import excerpt_starts, excerpt_weight

__all__ = ["CEILING_DB", "NOISE_PEAK_DB", "SILENCE_PEAK", "RENDER_LOOKAHEAD", "ExcerptScheduler", "OverlapAdd",
           "BlockStream", "RenderStats", "sounding"]

NOISE_PEAK_DB = -1.0  # level of dreams that start from noise or silence
SILENCE_PEAK = 1e-5  # -100 dBFS: an input excerpt this quiet stays silent (a stem's rests stay rests)
RENDER_LOOKAHEAD = 2  # groups of excerpts in flight during a CPU render (one dreaming, the next queued)


def sounding(items: np.ndarray, n_valid=None) -> np.ndarray:
    """Which items hold sound: something moves (peak deviation from the mean >= ``SILENCE_PEAK``)
    within their valid samples. A DC offset alone is inaudible, so it stays silent as digital
    silence does; the zero padding past a file's end is not part of the signal."""
    n = items.shape[-1]
    valid = np.full(len(items), n) if n_valid is None else np.minimum(np.asarray(n_valid), n)
    inside = np.arange(n)[None, :] < valid[:, None]
    mean = np.where(inside, items, 0).sum(axis=-1, keepdims=True) / np.maximum(valid, 1)[:, None]
    return np.max(np.where(inside, np.abs(items - mean), 0), axis=-1) >= SILENCE_PEAK


@dataclass
class RenderStats:
    """What a render did: samples written, excerpts dreamed, wall seconds."""

    n_samples: int = 0
    n_excerpts: int = 0
    seconds: float = 0.0


class OverlapAdd:
    """Crossfaded overlap-add of excerpts on the regular grid of ``dsp.windows``.

    ``add(k, wet)`` places excerpt ``k`` (start ``k * hop``); ``pop(upto)`` returns the
    finished samples from the last pop up to ``upto`` (all excerpts covering them must
    have been added), clipped to the ceiling, as numpy. The sums are arrays of ``ops``
    (default numpy; a ``TorchDSP``: they live on its device and take its tensors, and only
    the finished samples come back).
    """

    def __init__(self, n_channels: int, n_excerpt: int, n_fade: int, ops=NUMPY):
        self.n_excerpt, self.n_fade, self.hop = n_excerpt, n_fade, n_excerpt - n_fade
        self.ops = ops
        self.acc = ops.asarray(np.zeros((n_channels, 0), dtype=np.float64))
        self.wsum = ops.asarray(np.zeros(0, dtype=np.float64))
        self.start = 0

    def _extend(self, a, n: int):
        """``a`` with zeros appended along its last axis up to length ``n``."""
        return self.ops.pad_last(a, 0, n - a.shape[-1])

    def add(self, k: int, wet) -> None:
        if wet.shape[1] < self.n_excerpt:  # a signal shorter than one excerpt, dreamed at its own length
            wet = self._extend(wet, self.n_excerpt)
        lo = k * self.hop - self.start
        hi = lo + self.n_excerpt
        if hi > self.acc.shape[1]:
            self.acc, self.wsum = self._extend(self.acc, hi), self._extend(self.wsum, hi)
        w = self.ops.cached(("ola", self.n_excerpt, self.n_fade, k == 0),
                            lambda: self.ops.asarray(excerpt_weight(self.n_excerpt, self.n_fade, first=k == 0)))
        self.acc[:, lo:hi] += self.ops.as_float64(wet) * w  # in float64: x*w1 + x*w2 == x*(w1+w2) to the bit
        self.wsum[lo:hi] += w

    def pop(self, upto: int) -> np.ndarray:
        # Dividing by the summed weights (1 up to float32 rounding of the ramps) makes
        # unchanged excerpts reconstruct the input bit for bit.
        n = upto - self.start
        out = self.acc[:, :n] / self.ops.clamp_min(self.wsum[:n], 1e-12)
        if out.shape[1] < n:
            out = self._extend(out, n)
        self.acc, self.wsum = self.acc[:, n:], self.wsum[n:]
        self.start = upto
        return self.ops.to_numpy(self.ops.finish_samples(out, db_to_gain(CEILING_DB)))


def finish_samples(out: np.ndarray) -> np.ndarray:
    """Finite float32 samples under the -0.1 dBFS ceiling (NaN and inf become 0)."""
    return NUMPY.finish_samples(out, db_to_gain(CEILING_DB))


class ExcerptScheduler:
    """The excerpt grid of one signal through one ``Dreamer``.

    Parameters
    ----------
    dreamer : Dreamer
        Gives the layout (``dreamer.layout``) and dreams excerpts (``dreamer.dream_excerpts``).
    sample_rate : int
        Rate of the signal (Hz; excerpts are resampled to the model's rate and back).
    n_channels : int
        Channels of the signal.
    params_at : callable, optional
        ``seconds -> DreamParams``, read at each excerpt's start (default: ``dreamer.params_at``).

    Attributes
    ----------
    n_excerpt, n_fade, hop : int
        Excerpt length, crossfade length and hop, in samples at ``sample_rate``
        (from the parameters at time 0).
    latency_samples : int
        Latency of a block stream over this grid: ``n_excerpt + hop`` (an excerpt is dreamed
        once its last sample has arrived, and gets one hop to finish).
    """

    def __init__(self, dreamer, sample_rate: int, n_channels: int, *, params_at=None):
        self.dreamer = dreamer
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.params_at = params_at or dreamer.params_at
        self.n_excerpt, self.n_fade, _ = dreamer.layout(self.sample_rate)
        self.hop = self.n_excerpt - self.n_fade
        self.latency_samples = self.n_excerpt + self.hop
        self._ola = OverlapAdd(self.n_channels, self.n_excerpt, self.n_fade)

    def start(self, k: int) -> int:
        """First sample of excerpt ``k``."""
        return k * self.hop

    def excerpt_count(self, n_total: int) -> int:
        """Excerpts a signal of ``n_total`` samples needs (``dsp.windows.excerpt_starts``)."""
        return len(excerpt_starts(n_total, self.n_excerpt, self.n_fade))

    def excerpt_length(self, n_total: int) -> int:
        """Samples each excerpt of a signal of ``n_total`` samples is dreamed at: ``n_excerpt``, or
        for a signal shorter than one excerpt (a one-shot) its own length rounded up as the model
        needs (``Dreamer.one_shot_length``), so a 0.5 s drum hit is not dreamed as 1 s, half padding."""
        if n_total >= self.n_excerpt:
            return self.n_excerpt
        return min(self.n_excerpt, self.dreamer.one_shot_length(n_total, self.sample_rate))

    def params_for(self, k: int):
        """The parameters of excerpt ``k``: those in force at its start."""
        return self.params_at(self.start(k) / self.sample_rate)

    def window(self, k: int) -> np.ndarray:
        """The crossfade weight of excerpt ``k`` (``(n_excerpt,)`` float32; no fade-in for the first)."""
        return excerpt_weight(self.n_excerpt, self.n_fade, first=k == 0)

    def dream(self, indices: list[int], excerpts: list[np.ndarray], params=None, n_valid=None,
              levels=None, on_device: bool = False) -> list:
        """Dream excerpts ``(n_channels, n_excerpt)``; ``indices`` seed their random streams.

        ``params`` defaults to ``params_for(indices[0])`` (callers group excerpts whose
        parameters are equal); ``n_valid[i]``: samples of the signal from excerpt ``i``'s start;
        ``levels[i]``: ``(n_channels,)`` peaks to dream excerpt ``i`` at (default: its own);
        ``on_device``: the results stay arrays of the dreamer's ``dsp`` (``Dreamer.dream_excerpts``)."""
        params = self.params_for(indices[0]) if params is None else params
        return self.dreamer.dream_excerpts(excerpts, indices, params, self.sample_rate, n_valid, levels,
                                           on_device=on_device)

    def add(self, k: int, wet: np.ndarray) -> None:
        """Overlap-add the dreamed excerpt ``k`` (a shorter one-shot excerpt is zero-padded)."""
        self._ola.add(k, wet)

    def finish(self, upto: int) -> np.ndarray:
        """The finished output from the last call up to sample ``upto`` (every excerpt that
        covers it must have been added)."""
        return self._ola.pop(upto)

    def render(self, read, write, n_total: int, group_size: int = 1, progress=None) -> RenderStats:
        """Dream a signal of ``n_total`` samples excerpt by excerpt, in constant memory.

        ``read(start, stop)`` returns ``(n_channels, stop - start)`` float32 (zero past the
        end); ``write(block)`` receives consecutive ``(n_channels, n)`` output blocks;
        ``progress(n_done)`` is called as samples are finished. Up to ``group_size``
        consecutive excerpts with equal parameters are dreamed as one batch; on a CPU the next
        batch is already dreaming while one is overlap-added and written (``read`` and ``write``
        stay in the calling thread, in order). Where the dreamer keeps its results on the device
        (``post_on_device``: torch on a GPU) the overlap-add does too, and each group sends its
        excerpts up once and takes its finished samples back once.
        """
        t0 = time.perf_counter()
        on_device = bool(getattr(self.dreamer, "post_on_device", False))
        if on_device:
            self._ola = OverlapAdd(self.n_channels, self.n_excerpt, self.n_fade, ops=self.dreamer.dsp)
        n_excerpts = self.excerpt_count(n_total)
        n_read = self.excerpt_length(n_total)
        groups, k = [], 0
        while k < n_excerpts:  # consecutive excerpts with equal parameters, up to group_size
            params = self.params_for(k)
            group = [k]
            while len(group) < group_size and group[-1] + 1 < n_excerpts and self.params_for(group[-1] + 1) == params:
                group.append(group[-1] + 1)
            groups.append((group, params))
            k = group[-1] + 1

        def read_group(group):  # in this thread, in order: readers keep state (BlockReader)
            excerpts = [read(self.start(j), self.start(j) + n_read) for j in group]
            n_valid = [n_total - self.start(j) for j in group]  # past n_excerpt: the signal goes on
            return excerpts, n_valid

        def finish_group(group, wets):
            for j, wet in zip(group, wets):
                self.add(j, wet)
            nxt = group[-1] + 1
            done = min(self.start(nxt) if nxt < n_excerpts else n_total, n_total)
            write(self.finish(done))
            if progress is not None:
                progress(done)

        if on_device or getattr(self.dreamer, "device_type", "cpu") == "cuda" or len(groups) < 2:
            for group, params in groups:
                finish_group(group, self.dream(group, *_with_params(read_group(group), params), on_device=on_device))
        else:
            # On a CPU the next group is handed to the excerpt workers while this one finishes (overlap-add,
            # write): the workers never wait for the caller between groups. RENDER_LOOKAHEAD groups in flight
            # at most (constant memory); each excerpt's bits do not depend on the order.
            from concurrent.futures import ThreadPoolExecutor

            ahead = ThreadPoolExecutor(RENDER_LOOKAHEAD, thread_name_prefix="dreambridge-render")

            def launch(group, params):
                return ahead.submit(self.dream, group, *_with_params(read_group(group), params))

            try:
                pending = [launch(*g) for g in groups[:RENDER_LOOKAHEAD]]
                for i, (group, _) in enumerate(groups):
                    wets = pending.pop(0).result()
                    if i + RENDER_LOOKAHEAD < len(groups):
                        pending.append(launch(*groups[i + RENDER_LOOKAHEAD]))
                    finish_group(group, wets)
            finally:  # on an error the group already dreaming finishes; none is started after it
                ahead.shutdown(wait=True, cancel_futures=True)
        return RenderStats(n_total, n_excerpts, time.perf_counter() - t0)


def _with_params(read_out, params) -> tuple:
    """``(excerpts, params, n_valid)``: ``dream``'s positional arguments after the indices."""
    excerpts, n_valid = read_out
    return excerpts, params, n_valid


class BlockStream:
    """Block-by-block dreaming in the caller's thread (``Dreamer.process(..., reset=False)``).

    Each ``process(block)`` dreams every excerpt whose input is complete, then returns as
    many samples as it was given, delayed by ``latency_samples``: the output is the
    offline render of the audio received so far (flushing zeros included), shifted, whatever
    the block sizes.

    Parameters
    ----------
    dreamer : Dreamer
    sample_rate, n_channels : int
        The signal's rate (Hz) and channel count.
    params_at : callable, optional
        ``seconds -> DreamParams`` read at each excerpt's start.
    """

    def __init__(self, dreamer, sample_rate: int, n_channels: int, *, params_at=None):
        self.scheduler = ExcerptScheduler(dreamer, sample_rate, n_channels, params_at=params_at)
        self.sample_rate, self.n_channels = self.scheduler.sample_rate, self.scheduler.n_channels
        self.latency_samples = self.scheduler.latency_samples
        self._in = np.zeros((self.n_channels, 0), dtype=np.float32)
        self._in_start = 0  # input store: samples [_in_start, _in_start + _in.shape[1])
        self._out = np.zeros((self.n_channels, 0), dtype=np.float32)
        self._out_start = 0  # finished output: samples [_out_start, _out_start + _out.shape[1])
        self._next = 0  # the next excerpt to dream

    @property
    def n_received(self) -> int:
        """Input samples received so far."""
        return self._in_start + self._in.shape[1]

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take ``(n_channels, n)`` input, return ``(n_channels, n)`` output, ``latency_samples`` late."""
        block = np.asarray(block, dtype=np.float32)
        s = self.scheduler
        first = self.n_received - self.latency_samples  # output positions [first, first + n)
        self._in = np.concatenate([self._in, block], axis=1)
        while s.start(self._next) + s.n_excerpt <= self.n_received:
            k = self._next
            lo = s.start(k) - self._in_start
            s.add(k, s.dream([k], [self._in[:, lo : lo + s.n_excerpt]])[0])
            self._out = np.concatenate([self._out, s.finish(s.start(k + 1))], axis=1)
            self._next = k + 1
        n = block.shape[1]
        out = np.zeros((self.n_channels, n), dtype=np.float32)
        lo, hi = max(first, 0), first + n
        if hi > lo:  # always finished: the last excerpt dreamed ends at or after hi
            out[:, lo - first :] = self._out[:, lo - self._out_start : hi - self._out_start]
        drop = max(hi, self._out_start) - self._out_start
        self._out, self._out_start = self._out[:, drop:], self._out_start + drop
        drop = s.start(self._next) - self._in_start
        self._in, self._in_start = self._in[:, drop:], self._in_start + drop
        return out

    def close(self) -> None:
        """Nothing runs in the background; present so a stream can always be closed."""
