"""Round-robin dreaming (Bisig & Wegner, Experiment 2): one buffer, dreamed in place.

"Several DD iterations on a short excerpt of a full waveform. The excerpt was repeatedly
shifted in a round-robin manner to eventually subject the entire waveform to feature
inversion." A buffer of ``buffer_seconds`` (white noise, silence, or the first seconds of
the input) is dreamed excerpt by excerpt, each excerpt starting from the buffer as it is
and crossfaded back into it, so iterations accumulate round after round. Playback moves
through the buffer as a loop while the dreamer works round-robin ahead of it; the output
is the buffer as a listener hears it evolve.

Timing is set by the pace, not the machine: excerpt ``k`` (buffer position ``k * hop``
modulo the buffer, ``hop = excerpt - crossfade``) is applied at output sample ``n_k``,
where ``n_(k+1) = n_k + sample_rate / excerpts_per_second`` (accumulated in float64, then
rounded), and output samples ``[n_k, n_(k+1))`` play the buffer after excerpt ``k``. So a
render, a stream with ``realtime=False`` and a live loop on a fast enough machine give the
same signal. Parameters are read at each ``n_k`` (automation, MIDI files, live control);
``method``, ``buffer_seconds``, ``excerpt_seconds`` and ``crossfade_seconds`` once, at 0.

The buffer holds its level: every excerpt is dreamed at the peak its positions had at the
start (-1 dBFS from noise or silence; the captured bar's own peak there with ``init="input"``),
not at its current peak. The dream loop normalises before its low-pass (the paper's order),
so what a low cutoff removes is heard as a lower level; measured from the excerpt's current
peak instead, that loss would compound round after round and fade the buffer out. The peak is
what holds: a map whose dream gathers its energy into grains (layer 0 map 3 of the default model)
lowers the buffer's RMS round after round at the same peak, as one excerpt dreamed on and on does
(README, "Loudness and the cutoff").

An excerpt whose buffer is silent dreams from silence (``init`` noise or silence), or stays
silent (``init="input"``: a stem's rests stay rests). ``mix`` below 1 blends each dream with
the buffer it started from, so it slows the accumulation.
"""

from __future__ import annotations

import time

import numpy as np

from dreambridge.dsp.normalize import db_to_gain
from dreambridge.presets.errors import ParameterError

from dreambridge.bridge.engine.scheduler import NOISE_PEAK_DB, ExcerptScheduler, RenderStats, finish_samples, sounding

__all__ = ["RoundRobin", "RoundRobinStream", "initial_buffer", "play_buffer", "NOISE_STREAM"]

NOISE_STREAM = 0x5252  # ("RR") the buffer's noise is drawn from seed (params.seed, NOISE_STREAM)


def initial_buffer(params, n_channels: int, n_buffer: int, read=None) -> np.ndarray:
    """The buffer before the first excerpt, ``(n_channels, n_buffer)`` float32.

    ``init="noise"``: seeded white noise, each channel at the dream level (-1 dBFS peak);
    ``"silence"``: zeros; ``"input"``: ``read(0, n_buffer)`` (the captured bar).
    """
    if params.init == "input":
        return np.array(read(0, n_buffer), dtype=np.float32).reshape(n_channels, n_buffer)
    if params.init == "silence":
        return np.zeros((n_channels, n_buffer), dtype=np.float32)
    noise = np.random.default_rng([params.seed, NOISE_STREAM]).standard_normal((n_channels, n_buffer))
    noise *= db_to_gain(NOISE_PEAK_DB) / np.max(np.abs(noise), axis=-1, keepdims=True)
    return noise.astype(np.float32)


def play_buffer(state: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Output samples ``[first, stop)`` of a buffer ``state`` that playback loops, finished
    (finite, under the ceiling)."""
    return finish_samples(state[:, np.arange(first, stop) % state.shape[1]])


class RoundRobin:
    """The round-robin generator over a ``Dreamer``.

    Parameters
    ----------
    dreamer : Dreamer
        Gives the one excerpt grid (``ExcerptScheduler``: excerpt length, hop, crossfade
        window) and dreams each excerpt with the parameters at its time.
    sample_rate : int
        Rate of the buffer and the output (excerpts are resampled to the model's rate).
    buffer : np.ndarray, shape (n_channels, n_buffer), float32
        The initial buffer (``initial_buffer``); at least one excerpt long.
    params_at : callable, optional
        ``seconds -> DreamParams`` (default: the dreamer's own parameters or schedule).

    Notes
    -----
    ``step()`` dreams the next excerpt into ``state`` and returns the output sample from
    which it is heard; ``next_sample`` is that sample for the excerpt after it. Latency note:
    live, the worker must dream one excerpt within ``1 / excerpts_per_second`` seconds
    (``DreamStream.check_realtime`` measures it); the stream adds no latency beyond the
    capture of ``buffer_seconds`` when ``init="input"``.
    """

    def __init__(self, dreamer, sample_rate: int, buffer: np.ndarray, params_at=None):
        self.dreamer = dreamer
        self.sample_rate = int(sample_rate)
        self.params_at = params_at or dreamer.params_at
        base = self.params_at(0.0)
        self.init = base.init
        self.state = np.array(buffer, dtype=np.float32)
        self.n_channels, self.n_buffer = self.state.shape
        # the level each position is dreamed at: the captured bar's, or the dream level
        self._initial = self.state.copy() if self.init == "input" else None
        # the one excerpt grid: its excerpt length, hop, crossfade window and dreaming
        self.scheduler = ExcerptScheduler(dreamer, self.sample_rate, self.n_channels, params_at=self.params_at)
        n_excerpt = self.scheduler.n_excerpt
        if n_excerpt > self.n_buffer:
            raise ParameterError(f"the round-robin buffer ({self.n_buffer / self.sample_rate:g} s) is shorter than "
                                 f"one excerpt ({n_excerpt / self.sample_rate:g} s); raise buffer_seconds or lower "
                                 "excerpt_seconds")
        self.n_excerpt, self.hop = n_excerpt, self.scheduler.hop
        self.weight = self.scheduler.window(1)  # faded in and out: the buffer runs round, no excerpt is first
        self.k = 0  # the next excerpt to dream
        self._clock = 0.0  # n_k in samples (float64), for the next excerpt

    def indices(self, k: int) -> np.ndarray:
        """Buffer positions of excerpt ``k`` (wrapping round the end)."""
        return (k * self.hop + np.arange(self.n_excerpt)) % self.n_buffer

    def level(self, index: np.ndarray) -> np.ndarray:
        """``(n_channels,)`` peaks the excerpt at buffer positions ``index`` is dreamed at."""
        if self._initial is None:
            return np.full(self.n_channels, db_to_gain(NOISE_PEAK_DB))
        return np.max(np.abs(self._initial[:, index]), axis=-1)

    def step(self) -> tuple[int, int, np.ndarray]:
        """Dream excerpt ``k`` into the buffer; return ``(k, n_k, positions)``."""
        k, n_k = self.k, int(round(self._clock))
        params = self.params_at(n_k / self.sample_rate)
        index = self.indices(k)
        current = self.state[:, index]
        silent = not sounding(current).any()  # the same test as the excerpt grid: DC alone is silence
        if silent and self.init == "input":
            wet = current  # a rest of the captured input stays a rest
        else:
            wet = self.scheduler.dream([k], [current], _excerpt_params(params, silent), levels=[self.level(index)])[0]
        self.state[:, index] = current * (1 - self.weight) + wet * self.weight
        self.k += 1
        self._clock += self.sample_rate / params.excerpts_per_second
        return k, n_k, index

    @property
    def next_sample(self) -> int:
        """The output sample from which the next excerpt (``self.k``) will be heard."""
        return int(round(self._clock))

    def render(self, write, n_total: int, progress=None) -> RenderStats:
        """Dream and write ``n_total`` output samples in blocks of one excerpt's interval."""
        t0 = time.perf_counter()
        done = 0
        while done < n_total:
            self.step()
            stop = min(max(self.next_sample, done), n_total)
            if stop > done:
                write(play_buffer(self.state, done, stop))
                done = stop
                if progress is not None:
                    progress(done)
        return RenderStats(n_total, self.k, time.perf_counter() - t0)


def _excerpt_params(params, silent: bool):
    """Each excerpt starts from the buffer (``init="input"``), or from silence where the
    buffer is still silent (``init`` silence)."""
    return params.replace(init="silence" if silent else "input")


class RoundRobinStream:
    """Round-robin dreaming block by block in the caller's thread (``Dreamer.process(...,
    reset=False)`` with ``method="round_robin"``).

    With ``init="input"`` the first ``buffer_seconds`` of the stream are captured (and pass
    through unchanged); after them (``latency_samples``) the output is the offline render of
    that bar, whatever the block sizes. With noise or silence the output starts at once.
    """

    def __init__(self, dreamer, sample_rate: int, n_channels: int, *, params_at=None):
        self.dreamer, self.params_at = dreamer, params_at or dreamer.params_at
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        base = self.params_at(0.0)
        n_buffer = int(round(base.buffer_seconds * self.sample_rate))
        self.latency_samples = n_buffer if base.init == "input" else 0
        self._captured = np.zeros((self.n_channels, 0), dtype=np.float32)
        self._generator = None if self.latency_samples else \
            RoundRobin(dreamer, self.sample_rate, initial_buffer(base, self.n_channels, n_buffer), self.params_at)
        self._position = 0  # next output sample of the generator

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take ``(n_channels, n)`` input, return ``(n_channels, n)`` output."""
        block = np.asarray(block, dtype=np.float32)
        out, i, n = np.empty_like(block), 0, block.shape[1]
        while i < n:
            if self._generator is None:  # capturing: pass the input through, record it
                take = min(n - i, self.latency_samples - self._captured.shape[1])
                self._captured = np.concatenate([self._captured, block[:, i : i + take]], axis=1)
                out[:, i : i + take] = block[:, i : i + take]
                if self._captured.shape[1] == self.latency_samples:
                    self._generator = RoundRobin(self.dreamer, self.sample_rate, self._captured, self.params_at)
            else:
                generator = self._generator
                while generator.next_sample <= self._position:
                    generator.step()
                take = min(n - i, generator.next_sample - self._position)
                out[:, i : i + take] = play_buffer(generator.state, self._position, self._position + take)
                self._position += take
            i += take
        return out

    def close(self) -> None:
        """Nothing runs in the background; present so a stream can always be closed."""
