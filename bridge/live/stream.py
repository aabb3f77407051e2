"""Streaming: the same ``Dreamer`` fed block by block, with a fixed latency.

Gradient ascent never runs in the audio callback. ``process(block)`` only copies the
block into the input store, takes finished output samples, and (live) plays the delayed
dry signal where the worker has fallen behind, counting those samples as dropouts. A
worker thread dreams excerpts as soon as their input is complete, on the same regular
grid as offline rendering (``dsp.windows``), with the same per-excerpt seeds and the same
crossfades, so a stream and an offline render of the same audio and parameters are the
same signal, delayed by ``latency_samples``.

Latency: an excerpt can start only when its last input sample has arrived, and the
worker gets one hop to dream it, so ``latency_samples = n_excerpt + hop``
(1.9 s at 1 s excerpts with 0.1 s crossfades; 0.95 s at 0.5 s excerpts).

Modes: ``effect`` (the input, dreamed, after the latency) and ``loop`` (the round-robin
method of ``engine.roundrobin``, the way the Bisig and Herrmann systems were played: with
``init="input"`` capture ``loop_seconds`` of input, passing it through, then keep dreaming
that loop in place, excerpt by excerpt, at the pace ``excerpts_per_second``; with noise or
silence start at once). Parameters with ``method="round_robin"`` stream the same way in
either mode. The worker dreams at most ``ROUND_ROBIN_AHEAD`` excerpts ahead of playback,
and excerpt ``k`` is heard from output sample ``n_k`` of the pace, so a stream with
``realtime=False`` is the offline render (after the capture, ``latency_samples`` long);
live, an excerpt that is not ready at ``n_k`` is applied when it is (counted as a dropout).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from dreambridge.bridge.engine.roundrobin import RoundRobin, initial_buffer, play_buffer
from dreambridge.bridge.engine.scheduler import ExcerptScheduler
from dreambridge.presets.errors import ParameterError

__all__ = ["DreamStream", "StreamStats", "ROUND_ROBIN_AHEAD"]

ROUND_ROBIN_AHEAD = 2  # excerpts the round-robin worker may dream before playback reaches them


class StreamStats:
    """Counters the control thread reads (written by the callback and the worker)."""

    def __init__(self):
        self.dropout_samples = 0
        self.dropout_events = 0
        self.excerpts_dreamed = 0
        self.excerpts_skipped = 0
        self.busy_seconds = 0.0
        self.callback_errors = 0
        self.started = time.monotonic()

    def load(self) -> float:
        """Share of wall time the worker spent dreaming."""
        return self.busy_seconds / max(time.monotonic() - self.started, 1e-9)


class DreamStream:
    """Block-by-block dreaming through a ``Dreamer``.

    Parameters
    ----------
    dreamer : Dreamer
    sample_rate, n_channels : int
        The host's rate and channel count (any rate: excerpts are resampled per excerpt).
    realtime : bool
        ``True`` (live): ``process`` never waits; late samples are played dry and
        counted. ``False`` (offline streaming): ``process`` waits for the worker, so the
        output is exactly the offline render, delayed by ``latency_samples``.
    mode : {"effect", "loop"}
        ``loop`` is the round-robin method, whatever ``method`` says.
    loop_seconds : float, optional
        Length of the round-robin buffer in ``loop`` mode (>= excerpt_seconds; default:
        ``buffer_seconds`` of the parameters).
    params_at : callable, optional
        ``seconds -> DreamParams`` read by the worker at each excerpt's start (live MIDI
        control); default: the dreamer's own parameters/schedule.
    pre_fx, post_fx : callable, optional
        ``(block, sample_rate) -> block`` effect chains (pedalboard, state kept across blocks).
    """

    def __init__(self, dreamer, sample_rate: int, n_channels: int, *, realtime: bool = True, mode: str = "effect",
                 loop_seconds: float | None = None, params_at=None, pre_fx=None, post_fx=None):
        if mode not in ("effect", "loop"):
            raise ParameterError(f"mode={mode!r} is not one of effect, loop")
        self.dreamer = dreamer
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.realtime, self.mode = realtime, mode
        self.scheduler = ExcerptScheduler(dreamer, self.sample_rate, self.n_channels, params_at=params_at)
        self.params_at = self.scheduler.params_at
        self.pre_fx, self.post_fx = pre_fx, post_fx
        self.n_excerpt, self.n_fade, self.hop = self.scheduler.n_excerpt, self.scheduler.n_fade, self.scheduler.hop
        self.latency_samples = self.scheduler.latency_samples
        self.stats = StreamStats()
        self._cond = threading.Condition()
        self._stop = False
        self._error = None
        # input store: samples [in_start, in_start + in_buf.shape[1])
        self._in = np.zeros((n_channels, 0), dtype=np.float32)
        self._in_start = 0
        self._n_in = 0
        # finished output: samples [out_start, out_start + out_buf.shape[1])
        self._out = np.zeros((n_channels, 0), dtype=np.float32)
        self._out_start = 0
        self._n_played = 0  # output samples handed to the host (positions, latency included)
        self._next = 0  # next excerpt index
        base = self.params_at(0.0)
        self.round_robin = mode == "loop" or base.method == "round_robin"
        if self.round_robin:
            seconds = base.buffer_seconds if loop_seconds is None or mode != "loop" else loop_seconds
            self.loop_samples = int(round(seconds * self.sample_rate))
            if self.loop_samples < self.n_excerpt:
                raise ParameterError(f"loop_seconds={seconds:g} is shorter than one excerpt "
                                     f"({self.n_excerpt / self.sample_rate:g} s)")
            self._capture = self.loop_samples if base.init == "input" else 0
            self.latency_samples = self._capture
            self._buffer = None if self._capture else initial_buffer(base, n_channels, self.loop_samples)
            self._play_state = None if self._buffer is None else self._buffer.copy()
            self._pending = []  # (k, n_k, n_next, positions, values) dreamed, not yet heard
            self._applied = -1  # last excerpt heard
            self._due = 0  # output sample (after the capture) from which excerpt _applied + 1 is heard
            self._position = 0  # next output sample after the capture
        # The caller's torch thread count, for the worker: OpenMP's count is per thread, so a new thread would
        # use every core even after torch.set_num_threads(1) (measured: stereo tight excerpts 8x slower on a busy
        # 2-core box, 98 % of them late). None when torch is not loaded (the onnx backend).
        torch = sys.modules.get("torch")
        self._torch_threads = torch.get_num_threads() if torch is not None else None
        self._worker = threading.Thread(target=self._run, name="dreambridge-worker", daemon=True)
        self._worker.start()

    # -- the callback side ---------------------------------------------------------------
    def process(self, block: np.ndarray) -> np.ndarray:
        """Take ``(n_channels, n)`` input, return ``(n_channels, n)`` output (never raises
        when ``realtime``: on an internal error it returns silence and counts it)."""
        try:
            return self._process(block)
        except Exception as exc:
            if not self.realtime:
                raise
            self.stats.callback_errors += 1
            self._error = self._error or exc
            return np.zeros_like(block, dtype=np.float32)

    def _process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32)
        n = block.shape[1]
        if self.pre_fx is not None:
            block = self.pre_fx(block, self.sample_rate)
        if self.round_robin:
            return self._process_round_robin(block)
        first = self._n_in - self.latency_samples  # output positions [first, first + n)
        with self._cond:
            self._in = np.concatenate([self._in, block], axis=1)
            self._n_in += n
            self._cond.notify_all()
            if not self.realtime:
                while self._ready() < first + n and not self._stop and self._error is None:
                    self._cond.wait(0.5)
                if self._error is not None:
                    raise self._error
            out = self._take(first, n)
        if self.post_fx is not None:
            out = self.post_fx(out, self.sample_rate)
        return out

    @property
    def lag_excerpts(self) -> int:
        """Excerpts whose input is complete but not yet dreamed (0 in loop mode)."""
        if self.mode != "effect":
            return 0
        return max(0, (self._n_in - self.n_excerpt) // self.hop - self._next + 1)

    def _ready(self) -> int:
        return self._out_start + self._out.shape[1]

    def _take(self, first: int, n: int) -> np.ndarray:
        """Output for positions [first, first + n) (lock held)."""
        out = np.zeros((self.n_channels, n), dtype=np.float32)
        lo = max(first, 0)
        hi = first + n
        ready = min(self._ready(), hi)
        if ready > lo:
            out[:, lo - first : ready - first] = self._out[:, lo - self._out_start : ready - self._out_start]
        if hi > max(ready, lo):  # the worker is behind: play the delayed dry signal
            late = max(ready, lo)
            self.stats.dropout_samples += hi - late
            self.stats.dropout_events += 1
            out[:, late - first :] = self._in[:, late - self._in_start : hi - self._in_start]
        self._n_played = hi
        # forget what nobody needs any more
        drop_out = min(hi, self._ready()) - self._out_start
        if drop_out > 0:
            self._out = self._out[:, drop_out:]
            self._out_start += drop_out
        keep_from = min(self._next * self.hop, max(hi, 0))
        drop_in = keep_from - self._in_start
        if drop_in > 0:
            self._in = self._in[:, drop_in:]
            self._in_start += drop_in
        return out

    # -- the worker side -------------------------------------------------------------------
    def _run(self) -> None:
        if self._torch_threads is not None:
            sys.modules["torch"].set_num_threads(self._torch_threads)
        try:
            if self.round_robin:
                self._run_round_robin()
            else:
                self._run_effect()
        except Exception as exc:  # reported by process() (offline) or the control thread (live)
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _run_effect(self) -> None:
        while True:
            with self._cond:
                k = self._next
                start = self.scheduler.start(k)
                while self._n_in < start + self.n_excerpt and not self._stop:
                    self._cond.wait(0.5)
                if self._stop:
                    return
                excerpt = self._in[:, start - self._in_start : start + self.n_excerpt - self._in_start].copy()
                # Live and late: if every sample this excerpt touches has been played, skip it.
                skip = self.realtime and self._n_played >= start + self.n_excerpt
            if skip:
                wet = excerpt
                self.stats.excerpts_skipped += 1
            else:
                t0 = time.perf_counter()
                wet = self.scheduler.dream([k], [excerpt])[0]
                self.stats.busy_seconds += time.perf_counter() - t0
                self.stats.excerpts_dreamed += 1
            with self._cond:
                self.scheduler.add(k, wet)
                finished = self.scheduler.finish(self.scheduler.start(k + 1))
                self._out = np.concatenate([self._out, finished], axis=1)
                self._next = k + 1
                self._cond.notify_all()

    # -- round robin (loop mode) --------------------------------------------------------------
    def _process_round_robin(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        out = np.empty_like(block)
        i = 0
        with self._cond:
            while i < n:
                if self._buffer is None:  # capturing: pass the input through, record it
                    take = min(n - i, self._capture - self._in.shape[1])
                    self._in = np.concatenate([self._in, block[:, i : i + take]], axis=1)
                    out[:, i : i + take] = block[:, i : i + take]
                    i += take
                    if self._in.shape[1] == self._capture:
                        self._buffer, self._play_state = self._in.copy(), self._in.copy()
                        self._cond.notify_all()
                    continue
                while self._pending and self._pending[0][1] <= self._position:  # excerpts due: heard from now
                    k, _, self._due, index, values = self._pending.pop(0)
                    self._play_state[:, index] = values
                    self._applied = k
                    self._cond.notify_all()
                if self._due <= self._position:  # the next excerpt is due and not dreamed yet
                    if not self.realtime:
                        if self._error is not None:
                            raise self._error
                        if self._stop:
                            raise ParameterError("the stream was closed")
                        self._cond.wait(0.5)
                        continue
                    take = n - i  # live and late: keep playing the buffer as it is
                    self.stats.dropout_samples += take
                    self.stats.dropout_events += 1
                else:
                    take = min(n - i, self._due - self._position)
                first = self._position
                out[:, i : i + take] = play_buffer(self._play_state, first, first + take)
                self._position += take
                i += take
        if self.post_fx is not None:
            out = self.post_fx(out, self.sample_rate)
        return out

    def _run_round_robin(self) -> None:
        with self._cond:
            while self._buffer is None and not self._stop:
                self._cond.wait(0.5)
            if self._stop:
                return
            buffer = self._buffer.copy()
        generator = RoundRobin(self.dreamer, self.sample_rate, buffer, self.params_at)
        while True:
            with self._cond:
                while generator.k > self._applied + ROUND_ROBIN_AHEAD and not self._stop:
                    self._cond.wait(0.5)
                if self._stop:
                    return
            t0 = time.perf_counter()
            k, n_k, index = generator.step()
            self.stats.busy_seconds += time.perf_counter() - t0
            self.stats.excerpts_dreamed += 1
            with self._cond:
                self._pending.append((k, n_k, generator.next_sample, index, generator.state[:, index].copy()))
                self._cond.notify_all()

    # -- control ------------------------------------------------------------------------------
    def check_realtime(self, headroom: float = 0.8):
        """Time one excerpt on this machine (median of three): ``(seconds per excerpt, budget seconds, ok)``.

        The budget is a hop (effect) or ``1 / excerpts_per_second`` (round robin: the pace);
        ``ok`` is ``False`` when dreaming an excerpt takes more than ``headroom`` of it: the
        stream would fall behind and play dry (effect) or late (round robin)."""
        excerpt = np.zeros((self.n_channels, self.n_excerpt), dtype=np.float32)
        excerpt[:, :: max(1, self.n_excerpt // 64)] = 0.5  # not silence, or nothing is dreamed
        params = self.params_at(0.0)
        self.scheduler.dream([0], [excerpt], params)  # warm-up
        budget = 1.0 / params.excerpts_per_second if self.round_robin else self.hop / self.sample_rate
        timings = []
        for _ in range(3):  # the median of three: one timing on a busy machine over-estimated the worker 2x
            t0 = time.perf_counter()
            self.scheduler.dream([0], [excerpt], params)
            timings.append(time.perf_counter() - t0)
            if timings[-1] > 2 * headroom * budget:  # clearly too slow: no need to wait for two more
                break
        seconds = sorted(timings)[len(timings) // 2]
        return seconds, budget, seconds <= headroom * budget

    def error(self):
        return self._error

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._worker.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
