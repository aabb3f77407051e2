"""The dream engine: ``Dreamer`` and its excerpt scheduler.

Audio is ``(n_channels, n_samples)`` float32. A signal of any length is dreamed excerpt
by excerpt (``excerpt_seconds`` long, ``crossfade_seconds`` overlap, see
``dreambridge.dsp.windows``); each channel of each excerpt is one item of a batch, and
each excerpt draws its noise and offsets from its own seeded generator, so the result
depends only on the parameters and the signal: not on block sizes, batch sizes or how a
file is read. Files at another rate are resampled per excerpt to the model's rate and
back (polyphase, zero-phase), so the output is sample-aligned with the input.
"""

from __future__ import annotations

import os

import numpy as np

from dreambridge.bridge.engine.loop import MAX_GRID_JITTER, dream_loop
from dreambridge.bridge.engine.pool import engine_threads, excerpt_workers, single_threaded
from dreambridge.bridge.engine.scheduler import (CEILING_DB, NOISE_PEAK_DB, SILENCE_PEAK, BlockStream, ExcerptScheduler,
                                                  RenderStats, sounding)
from dreambridge.bridge.engine.selection import resolve_selection
from dreambridge.dsp.normalize import TINY, db_to_gain
from dreambridge.dsp.ops import NUMPY
from dreambridge.dsp.resample import polyphase_plan, resample
from dreambridge.dsp.windows import uncorrelated_fade_gain
from dreambridge.presets.errors import ParameterError
from dreambridge.presets.params import DreamParams

__all__ = ["Dreamer", "resolve_backend", "NOISE_PEAK_DB", "SILENCE_PEAK", "ONE_SHOT_STEPS"]

ENVELOPE_SECONDS = 1024 / 44100  # the envelope follower's window: 23 ms, short enough for drum hits
# The follower's largest boost: a dream that gathers its energy into a few hits sits up to ~45 dB lower between
# them; 24 dB left those parts 20-30 dB too quiet (envelope correlation 0.63 on a drum loop at learning_rate=1,
# 0.96 at 48 dB).
ENVELOPE_MAX_GAIN_DB = 48.0
ONE_SHOT_STEPS = 20  # a one-shot is dreamed at m twentieths of an excerpt (Dreamer.one_shot_length)
GROUP_ITEMS_PER_WORKER = 4  # a CPU render hands each worker this many excerpt-channels per group, at least


class Dreamer:
    """Dream audio through a raw-waveform network.

    Parameters
    ----------
    model : str, path or (RawAudioNet, card)
        A shipped model name (``"default"``), a model directory, or a loaded model and card.
    params : DreamParams, optional
        Dream parameters (default: ``DreamParams()``).
    device : {"auto", "cpu", "cuda"}
        Compute device; ``auto`` picks CUDA when present.
    backend : {"torch", "onnx", "auto"}
        Gradient backend (``auto``: :func:`resolve_backend`). ``onnx`` runs an exported
        dream-step graph in onnxruntime: given a
        ``.onnx`` path, or a model whose directory ships its graphs (``graphs/``, see
        ``export.shipped``: the default model does), it never imports torch; given another
        model name or directory it exports the graphs it needs in memory.
    batch_size : int, optional
        Excerpt-channels handed out together (default 32 on CUDA: one batch on the device; on a
        CPU groups hold at least ``GROUP_ITEMS_PER_WORKER`` per worker and each item is dreamed
        on its own -- or, on the onnx backend in a caller at one thread (a batch's one-shot group),
        ``batch_size`` rows per call, which gives each row the same bits -- so the bits do not depend on it).

    Attributes
    ----------
    workers : int or None
        Excerpt workers on a CPU (``None``: :func:`~dreambridge.bridge.engine.pool.engine_threads`,
        the threads the process lets the engine use). Each dreams one excerpt-channel at a time
        with one intra-op thread, so the output does not depend on this count (nor on ``batch_size``).

    Notes
    -----
    Offline use has no latency (``latency_samples == 0``): the output starts at sample 0.
    On a CPU the excerpt-channels of a batch are dreamed one by one, in parallel over the
    workers; on CUDA a batch is one call.
    """

    workers: int | None = None

    def __init__(self, model="default", params: DreamParams | None = None, *, device: str = "auto",
                 backend: str = "torch", batch_size: int | None = None):
        if backend not in ("torch", "onnx", "auto"):
            raise ParameterError(f"backend={backend!r} is not one of auto, torch, onnx")
        backend = resolve_backend(backend, model, device)
        self.backend_name = backend
        shipped = _shipped_graphs(model) if backend == "onnx" else None
        if backend == "onnx" and str(model).endswith(".onnx"):
            self._init_onnx_file(str(model), device)
        elif shipped is not None:
            self._init_shipped_graphs(*shipped, device)
        else:
            self._init_torch_model(model, device, backend)
        # Measured on 2 CPU cores, 10 s through process(): torch 20.6x at batch 1, 15.8 at 2, 13.0 at 4,
        # 16.4 at 8 (oneDNN's batched strided convs lose cache locality); onnx 18.4 / 19.6 / 22.0 / 21.4.
        self.batch_size = batch_size or (32 if self.device_type == "cuda" else 1 if backend == "torch" else 4)
        # a render's steps around the loop (resampling, levels, envelope follower, fades, mix, overlap-add)
        # stay on the device with torch on a GPU: the host then sends excerpts and receives finished samples
        self.post_on_device = self.device_type == "cuda" and backend == "torch"
        self.set_params(params or DreamParams())

    def _init_onnx_file(self, path: str, device: str) -> None:
        """A dream-step graph on disk: onnxruntime and numpy only, torch is never imported."""
        from dreambridge.bridge.engine.onnx_backend import NumpyDSP, OnnxBackend

        self.model = None
        self.backend = OnnxBackend(path, device)
        meta = self.backend.meta
        self.layer_channels = meta["layer_channels"][: meta["max_layer"] + 1]
        self.layer_strides = meta["layer_strides"][: meta["max_layer"] + 1]
        self.n_classes = len(meta["class_names"])
        self.has_head = meta["max_layer"] == len(meta["layer_channels"]) - 1
        self.sample_rate = meta["sample_rate"]
        self.card = {
            "name": meta["name"] or path,
            "class_names": meta["class_names"],
            "weights_sha256": meta["weights_sha256"],
        }
        self.dsp = NumpyDSP()
        providers = self.backend.providers
        self.device_type = "cuda" if providers and providers[0] == "CUDAExecutionProvider" else "cpu"

    def _init_shipped_graphs(self, graphs, card: dict, device: str) -> None:
        """The model's shipped dream-step graphs (``export.shipped``): onnxruntime and numpy only."""
        from dreambridge.bridge.engine.onnx_backend import NumpyDSP, OnnxBackend, onnx_providers

        graphs.check_weights()  # at once: a damaged install fails here, not at the first excerpt
        meta = graphs.meta
        self.model, self.card = None, card
        self.layer_channels = list(meta["layer_channels"])
        self.layer_strides = list(meta["layer_strides"])
        self.n_classes = len(meta["class_names"])
        self.has_head = True
        self.sample_rate = int(meta["sample_rate"])
        self.backend = OnnxBackend(graphs.path, device, n_layers=len(self.layer_channels))
        self.dsp = NumpyDSP()
        self.device_type = "cuda" if onnx_providers(device)[0] == "CUDAExecutionProvider" else "cpu"

    def _init_torch_model(self, model, device: str, backend: str) -> None:
        import torch

        from dreambridge.bridge.engine.torch_backend import resolve_device
        from dreambridge.models.nets import RawAudioNet
        from dreambridge.models.zoo import load_model

        if isinstance(model, tuple):
            self.model, self.card = model
        elif isinstance(model, torch.nn.Module):
            self.model, self.card = (
                model,
                {"name": "untrained", "class_names": [str(i) for i in range(model.n_classes)]},
            )
        else:
            self.model, self.card = load_model(model)
        self.model = self.model.eval()
        self.layer_channels = self.model.layer_channels
        self.layer_strides = [s.stride * (s.pool_stride or 1) for s in self.model.specs]
        self.n_classes = self.model.n_classes
        self.has_head = True
        self.sample_rate = self.model.sample_rate
        if backend == "torch":
            from dreambridge.bridge.engine.torch_backend import TorchBackend, TorchDSP

            torch_device = resolve_device(device)
            self.backend = TorchBackend(self.model, torch_device)
            self.dsp = TorchDSP(torch_device)
            self.device_type = torch_device.type
        else:
            if not isinstance(self.model, RawAudioNet):
                raise ParameterError(
                    f"{self.card.get('name', 'this model')} ({self.model.arch}) dreams with --backend torch only; "
                    "the ONNX graphs cover model1, model2 and ardila6"
                )
            from dreambridge.bridge.engine.onnx_backend import NumpyDSP, OnnxBackend, onnx_providers
            from dreambridge.export.onnx_export import step_graph_bytes

            net, card = self.model, self.card
            self.backend = OnnxBackend(
                lambda depth, ardila: step_graph_bytes(net, card, depth, ardila, with_update=False),
                device,
                n_layers=net.n_layers,
            )
            self.dsp = NumpyDSP()
            self.device_type = "cuda" if onnx_providers(device)[0] == "CUDAExecutionProvider" else "cpu"

    # -- parameters ------------------------------------------------------------------
    def set_params(self, params: DreamParams) -> None:
        """Validate ``params`` against this model and make them the (constant) parameters."""
        self._check(params)
        self.params = params
        self.schedule = None

    def set_schedule(self, schedule) -> None:
        """Parameters over time: ``schedule.at(seconds) -> DreamParams``, read at each
        excerpt's start. Every parameter set it can produce (``schedule.distinct()``) is
        validated now, so a render never fails half-way. ``excerpt_seconds`` and
        ``crossfade_seconds`` are read once per render, from ``schedule.at(0)``."""
        for params in schedule.distinct():
            self._check(params)
        self.schedule = schedule
        self.params = schedule.at(0.0)

    def params_at(self, seconds: float) -> DreamParams:
        return self.params if self.schedule is None else self.schedule.at(seconds)

    def _check(self, params: DreamParams):
        """The selection for ``params`` (validated against the model; cached)."""
        cache = self.__dict__.setdefault("_selections", {})
        if params not in cache:
            # A model slower than 44.1 kHz (CREPE: 16 kHz) band-limits by itself: a preset's
            # 12 kHz low-pass is then simply off, so every preset works with every model.
            if params.lowpass_hz >= max(self.sample_rate, 44100) / 2:
                raise ParameterError(
                    f"lowpass_hz={params.lowpass_hz:g} is above Nyquist ({self.sample_rate / 2:g} Hz for the model's "
                    f"{self.sample_rate} Hz); use 0 (off) or a lower cutoff"
                )
            if params.target_class >= 0 and not self.has_head:
                raise ParameterError(
                    "target_class needs the full network; this dream-step graph was exported without the head"
                )
            if len(cache) > 256:
                cache.clear()
            cache[params] = resolve_selection(params, self.layer_channels, self.n_classes, self.layer_strides)
        return cache[params]

    @property
    def selection(self):
        return self._check(self.params)

    # -- one batch ---------------------------------------------------------------------
    def set_target(self, audio: np.ndarray | None, sample_rate: int = 0) -> None:
        """The target sound of ``mode="target"`` (``(channels, n)``, mixed to mono; looped
        under the input; excerpt ``k`` of the input meets the target at the same time)."""
        self._target = None if audio is None else (np.asarray(audio, np.float32).mean(axis=0), int(sample_rate))

    def _target_items(self, indices, n_excerpt: int, hop: int, sample_rate: int, n_model: int, n_channels: int):
        target = self.__dict__.get("_target")
        if target is None:
            return None
        mono, rate = target
        out = []
        for k in indices:
            start = int(round(k * hop / sample_rate * rate))
            n = max(1, int(round(n_excerpt / sample_rate * rate)))
            piece = np.take(mono, np.arange(start, start + n), mode="wrap")
            piece = (
                _fit(NUMPY, resample(piece, rate, self.sample_rate), n_model)
                if rate != self.sample_rate
                else _fit(NUMPY, piece, n_model)
            )
            out += [piece] * n_channels
        return np.stack(out).astype(np.float32)

    def _dream_items(self, items: np.ndarray, seeds: list[tuple[int, int]], params: DreamParams | None = None,
                     target: np.ndarray | None = None, n_valid=None, at_levels=None, on_device: bool = False):
        """Dream ``items`` ``[B, n]`` (model rate) -> ``[B, n]``. ``seeds[b]`` = (seed, excerpt);
        ``n_valid[b]``: samples of item ``b`` that are signal (the rest pads past the end);
        ``at_levels[b]``: the peak item ``b`` is dreamed at, before the loop's band filter (default:
        its own peak under the ceiling; -1 dBFS from noise or silence). ``on_device``: the result as
        an array of ``self.dsp`` (on a GPU it never leaves the device)."""
        p = params or self.params
        selection = self._check(p)
        if p.lowpass_hz >= self.sample_rate / 2:
            p = p.replace(lowpass_hz=0.0)  # above the model's Nyquist (see _check): off
        rngs = [np.random.default_rng(list(s)) for s in seeds]
        ceiling = db_to_gain(CEILING_DB)
        if p.init == "input":
            peaks = np.max(np.abs(items), axis=-1)
            start = items / np.maximum(peaks, SILENCE_PEAK)[:, None]
            levels = np.minimum(peaks, ceiling)
            active = sounding(items, n_valid)
        elif p.init == "noise":
            start = np.stack([rng.standard_normal(items.shape[-1]) for rng in rngs])
            start /= np.max(np.abs(start), axis=-1, keepdims=True)
            levels = np.full(len(items), db_to_gain(NOISE_PEAK_DB))
            active = np.ones(len(items), dtype=bool)
        else:  # silence
            start = np.zeros_like(items)
            levels = np.full(len(items), db_to_gain(NOISE_PEAK_DB))
            active = np.ones(len(items), dtype=bool)
        if at_levels is not None:
            levels = np.minimum(np.asarray(at_levels, dtype=np.float64), ceiling)
        out = np.zeros_like(items, dtype=np.float32)
        if not np.any(active):
            return self.dsp.asarray(out) if on_device else out
        idx = np.flatnonzero(active)
        start = start.astype(np.float32)

        def dream(rows, host=True):
            """Dream the rows ``rows`` of ``start`` as one batch -> ``([len(rows), n], debug)``."""
            x = self.dsp.asarray(start[rows][:, None, :])
            t = None if target is None else self.dsp.asarray(target[rows][:, None, :])
            debug = {}
            if p.octaves > 1 and t is None:
                x = self._dream_octaves(start[rows], p, selection, [rngs[i] for i in rows])
            x = dream_loop(self.backend, self.dsp, x, p, selection, [rngs[i] for i in rows], self.sample_rate,
                           target=t, debug=debug)
            return (self.dsp.to_numpy(x)[:, 0, :] if host else x[:, 0, :]), \
                {k: self.dsp.to_numpy(v)[0, 0] for k, v in debug.items()}

        if self.device_type == "cuda" and on_device:  # one batch, scaled to its levels on the device
            dreamed, self.last_debug = dream(idx, host=False)
            dreamed = dreamed * self.dsp.asarray(levels[idx, None].astype(np.float32))
            if len(idx) == len(items):
                return dreamed
            placed = self.dsp.asarray(out)
            placed[self.dsp.asarray(idx)] = dreamed
            return placed
        if self.device_type == "cuda":  # one batch on the device
            dreamed, self.last_debug = dream(idx)
        else:  # spread over the excerpt workers, one item per call: the same bits at any worker count
            if self.n_workers() == 1 and single_threaded():
                # a caller already at one compute thread (a batch's parallel group, a Ray worker of one CPU)
                # dreams in its own thread: the same single-threaded kernels, and its siblings stay parallel
                # onnxruntime's step on a batch of excerpt-channels gives each row the bits it gives alone (one
                # thread): a one-shot group dreams batch_size rows per call (68 against 83 ms of CPU per 0.5 s file)
                size = self.batch_size if self.backend_name == "onnx" else 1
                results = [dream(idx[i : i + size]) for i in range(0, len(idx), size)]
            else:
                results = excerpt_workers(self.n_workers()).map(dream, [idx[i : i + 1] for i in range(len(idx))])
            dreamed = np.concatenate([r[0] for r in results])
            self.last_debug = results[0][1]
        out[idx] = dreamed * levels[idx, None].astype(np.float32)
        return self.dsp.asarray(out) if on_device else out

    def _dream_octaves(self, start: np.ndarray, p: DreamParams, selection, rngs):
        """Image DeepDream's octaves in time: dream the excerpts sped up by ``octave_scale ** o``
        (o = octaves-1 .. 1; the network hears them higher and faster), bring each octave's
        detail (dreamed minus undreamed) back to the excerpt's time scale and add it, then
        return the excerpts ``[B, 1, N]`` for the full-scale loop (peak 1)."""
        n = start.shape[-1]
        base = start.astype(np.float64)
        for o in range(p.octaves - 1, 0, -1):
            rate = max(1, int(round(self.sample_rate / p.octave_scale**o)))
            small = _fit(NUMPY, resample(base, self.sample_rate, rate), max(1, int(round(n * rate / self.sample_rate))))
            peaks = np.maximum(np.max(np.abs(small), axis=-1, keepdims=True), SILENCE_PEAK)
            small_x = self.dsp.asarray((small / peaks).astype(np.float32)[:, None, :])
            dreamed = dream_loop(self.backend, self.dsp, small_x, p, selection, rngs, self.sample_rate)
            detail = self.dsp.to_numpy(dreamed)[:, 0, :] * peaks - small
            base = base + _fit(NUMPY, resample(detail, rate, self.sample_rate), n)
        base /= np.maximum(np.max(np.abs(base), axis=-1, keepdims=True), SILENCE_PEAK)
        return self.dsp.asarray(base.astype(np.float32)[:, None, :])

    def n_workers(self) -> int:
        """Excerpt workers a CPU render uses (``workers``, else the engine's thread budget)."""
        return max(1, int(self.workers or engine_threads(self.backend_name)))

    def group_items(self) -> int:
        """Excerpt-channels handed out at once: ``batch_size``, and on a CPU at least four per
        worker, so every worker stays busy across a batch (the output does not depend on it)."""
        if self.device_type == "cuda":
            return self.batch_size
        return max(self.batch_size, GROUP_ITEMS_PER_WORKER * self.n_workers())

    # -- scheduling ---------------------------------------------------------------------
    def layout(self, sample_rate: int) -> tuple[int, int, int]:
        """``(n_excerpt, n_fade, n_model)``: excerpt and crossfade length at ``sample_rate``
        and the excerpt length at the model rate (from the parameters at time 0)."""
        base = self.params_at(0.0)
        n_excerpt = max(1, int(round(base.excerpt_seconds * sample_rate)))
        n_fade = min(int(round(base.crossfade_seconds * sample_rate)), n_excerpt - 1)
        return n_excerpt, n_fade, max(1, int(round(base.excerpt_seconds * self.sample_rate)))

    def one_shot_length(self, n_total: int, sample_rate: int) -> int:
        """Samples at ``sample_rate`` a signal of ``n_total`` samples (at most one excerpt) is
        dreamed at: its length plus a guard of one stride period of the dreamed layer (at most the
        grid jitter's ``MAX_GRID_JITTER``: the circular jitter wraps the tail onto the attack no
        further), rounded up to ``m`` twentieths of the model-rate excerpt (at 1 s and 44.1 kHz a
        multiple of 2205 = 3^2 5 7^2 samples: every FFT of the loop has prime factors of at most 19,
        measured as fast per sample as 44,100, and one-shots of similar length share the loop's
        cached tables and can be batched together)."""
        n_excerpt, _, n_model = self.layout(sample_rate)
        quantum = max(1, n_model // ONE_SHOT_STEPS)
        guard = min(self._check(self.params_at(0.0)).stride_period, MAX_GRID_JITTER)
        need = -(-int(n_total) * self.sample_rate // sample_rate) + guard
        m = -(-need // quantum)
        if m >= ONE_SHOT_STEPS:
            return n_excerpt
        return min(n_excerpt, max(int(n_total), int(round(m * quantum * sample_rate / self.sample_rate))))

    def dream_excerpts(self, excerpts: list[np.ndarray], indices: list[int], params: DreamParams,
                       sample_rate: int, n_valid: list[int] | None = None, levels=None, on_device: bool = False):
        """Dream excerpts ``(n_channels, n_excerpt)`` at ``sample_rate`` (excerpt ``indices``
        seed their random streams) and mix each with its dry input by ``params.mix``.
        ``n_valid[i]``: samples of the signal from excerpt ``i``'s start (default: the signal goes on
        past it; at most the grid's excerpt length: the signal's last excerpt, see ``dsp.windows``);
        ``levels[i]``: ``(n_channels,)`` peaks excerpt ``i`` is dreamed at before the loop's band
        filter (default: each channel's own peak; the round robin holds its buffer's level).
        ``on_device``: return the dreamed excerpts as arrays of ``self.dsp`` (tensors on the device);
        the resampling, envelope follower, fades and mix then run there, the same steps in the same
        order over ``dsp.ops``; where the file's rate is not the model's, the model-rate excerpts
        come back to the host once (their levels and silence checks)."""
        ops = self.dsp if on_device else NUMPY
        n_channels, n_excerpt = excerpts[0].shape
        valid = [n_excerpt] * len(excerpts) if n_valid is None else list(n_valid)
        dry = ops.asarray(np.concatenate(excerpts, axis=0))  # [len(excerpts) * C, n_excerpt]
        items = dry
        resampled = sample_rate != self.sample_rate
        if resampled:
            n_model = max(1, int(round(n_excerpt * self.sample_rate / sample_rate)))
            items = self._resample(ops, dry, sample_rate, self.sample_rate, n_model)
        host_items = ops.to_numpy(items)
        seeds = [(params.seed, k) for k in indices for _ in range(n_channels)]
        n_grid, n_fade, _ = self.layout(sample_rate)
        target = None
        if params.mode == "target":
            target = self._target_items(
                indices, n_excerpt, n_excerpt - n_fade, sample_rate, host_items.shape[-1], n_channels
            )
            if target is None:
                raise ParameterError("mode=target needs a target sound: dreambridge dream IN --target TARGET.wav ...")
        scale = host_items.shape[-1] / n_excerpt
        item_valid = np.repeat([max(1, int(round(v * scale))) for v in valid], n_channels)
        item_levels = None if levels is None else np.concatenate([np.asarray(v, np.float64) for v in levels])
        dreamed = self._dream_items(host_items.astype(np.float32), seeds, params, target, item_valid, item_levels,
                                    on_device=on_device)
        highs = None
        if resampled:
            dreamed = self._resample(ops, dreamed, self.sample_rate, sample_rate, n_excerpt)
            if sample_rate > self.sample_rate and params.init == "input":
                # The band above the model's Nyquist (8 kHz for a 16 kHz network) is one the
                # network can neither hear nor change: it passes through dry, so a cymbal keeps its air.
                highs = dry - self._resample(ops, items, self.sample_rate, sample_rate, n_excerpt)
        out = []
        for i in range(len(excerpts)):
            rows = slice(i * n_channels, (i + 1) * n_channels)
            wet = dreamed[rows]
            if params.envelope > 0 and params.init == "input":
                window = max(1, int(round(ENVELOPE_SECONDS * sample_rate)))
                wet = ops.follow_envelope(wet, dry[rows], params.envelope, window, ENVELOPE_MAX_GAIN_DB, floor=TINY)
            if highs is not None:
                wet = wet + highs[rows]
            if params.init == "noise" and n_fade > 0:
                # each excerpt dreamed from its own noise: independent neighbours, crossfaded at equal power;
                # on the grid's length (a one-shot's shorter excerpt is its start), and no lift on the
                # fade-out of a signal's last excerpt (valid to its end): no neighbour fades in there
                gain = uncorrelated_fade_gain(n_grid, n_fade, first=indices[i] == 0)
                if n_valid is not None and valid[i] <= n_grid:
                    gain[n_grid - n_fade :] = 1.0
                wet = wet * ops.asarray(gain[:n_excerpt])
            if params.mix < 1:
                wet = params.mix * wet + (1 - params.mix) * (dry[rows] if params.init == "input" else 0.0)
            out.append(ops.as_float32(wet))
        return out

    def _resample(self, ops, x, rate_in: int, rate_out: int, n: int):
        """``x`` resampled and cut or padded to ``n`` samples: scipy's polyphase filter on the host
        (``dsp.resample``), the same taps as a gather table on a device (``polyphase_plan``, kept)."""
        if ops is NUMPY:
            return _fit(ops, resample(x, rate_in, rate_out), n)
        plan = ops.cached(("resample", x.shape[-1], rate_in, rate_out),
                          lambda: tuple(ops.asarray(a) for a in polyphase_plan(x.shape[-1], rate_in, rate_out)))
        return _fit(ops, ops.resample(x, plan), n)

    def render(self, read, write, n_total: int, n_channels: int, sample_rate: int, progress=None) -> RenderStats:
        """Dream a signal of ``n_total`` samples excerpt by excerpt in constant memory.

        ``read(start, stop)`` returns ``(n_channels, stop - start)`` float32 (zero past the
        end); ``write(block)`` receives consecutive ``(n_channels, n)`` output blocks.
        ``progress(n_done)`` is called as samples are finished. Each excerpt uses the
        parameters in force at its start (``params_at``); the dry/wet ``mix`` is applied
        per excerpt, so it too crossfades. With ``method="round_robin"`` the output is the
        round-robin buffer as it evolves (``round_robin``).
        """
        if self.params_at(0.0).method == "round_robin":
            return self.round_robin(read, n_total, n_channels, sample_rate).render(write, n_total, progress)
        scheduler = ExcerptScheduler(self, sample_rate, n_channels)
        return scheduler.render(read, write, n_total, max(1, self.group_items() // max(n_channels, 1)), progress)

    def round_robin(self, read, n_total: int, n_channels: int, sample_rate: int, params_at=None):
        """The round-robin generator (``method="round_robin"``, see ``engine.roundrobin``).

        Its buffer is ``buffer_seconds`` of noise or silence, or with ``init="input"`` the
        first ``buffer_seconds`` of ``read`` (the whole signal if it is shorter, padded to
        at least one excerpt).
        """
        from dreambridge.bridge.engine.roundrobin import RoundRobin, initial_buffer

        base = (params_at or self.params_at)(0.0)
        n_buffer = int(round(base.buffer_seconds * sample_rate))
        if base.init == "input":
            n_buffer = max(min(n_buffer, n_total), self.layout(sample_rate)[0])
        return RoundRobin(self, sample_rate, initial_buffer(base, n_channels, n_buffer, read), params_at)

    def reset(self) -> None:
        """End the current stream (``process(..., reset=False)``), if any."""
        stream = self.__dict__.pop("_stream", None)
        if stream is not None:
            stream.close()

    @property
    def latency_samples(self) -> int:
        """Latency of ``process(..., reset=False)`` at the last streamed rate (0 before)."""
        stream = self.__dict__.get("_stream")
        return stream.latency_samples if stream is not None else 0

    def process(self, audio: np.ndarray, sample_rate: int, *, reset: bool = True) -> np.ndarray:
        """Dream ``audio`` ``(n_channels, n_samples)`` -> the same shape, like a pedalboard plugin.

        ``reset=True`` (default): the buffer is a whole signal, dreamed offline and returned
        sample-aligned (no latency). ``reset=False``: the buffer is the next block of a
        stream; the output is delayed by ``latency_samples`` (excerpts are dreamed in this
        call as their input completes, so the result does not depend on block sizes).
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ParameterError(f"audio must be (n_channels, n_samples); got shape {audio.shape}")
        if not reset:
            stream = self.__dict__.get("_stream")
            if stream is None or stream.sample_rate != sample_rate or stream.n_channels != audio.shape[0]:
                self.reset()
                if self.params_at(0.0).method == "round_robin":
                    from dreambridge.bridge.engine.roundrobin import RoundRobinStream

                    stream = self._stream = RoundRobinStream(self, sample_rate, audio.shape[0])
                else:
                    stream = self._stream = BlockStream(self, sample_rate, audio.shape[0])
            return stream.process(audio)
        self.reset()
        n_channels, n_total = audio.shape
        if n_total == 0:
            return audio.copy()

        def read(start, stop):
            block = audio[:, start : min(stop, n_total)]
            return (
                block if block.shape[1] == stop - start else np.pad(block, ((0, 0), (0, stop - start - block.shape[1])))
            )

        blocks = []
        self.render(read, blocks.append, n_total, n_channels, sample_rate)
        return np.concatenate(blocks, axis=1)


def _cuda_may_be_present() -> bool:
    """An NVIDIA driver is loaded (read from /proc and /dev: torch is not imported to ask)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def resolve_backend(backend: str, model, device: str = "auto") -> str:
    """``auto``: ``onnx`` on a CPU for a model that ships its dream-step graphs (the default
    model does: the process then never imports torch, ~1 s of start-up, and the step is as
    fast per excerpt), else ``torch`` (a GPU, a ``.onnx``-less model directory, a loaded
    model, the CREPE adapter). ``torch`` and ``onnx`` are returned as they are."""
    if backend != "auto":
        return backend
    if device == "cuda" or (device == "auto" and _cuda_may_be_present()):
        return "torch"
    return "onnx" if _shipped_graphs(model) is not None else "torch"


def _shipped_graphs(model):
    """``(ShippedGraphs, card)`` when ``model`` names a model directory that ships its dream-step
    graphs, built from the weights its card names; else ``None`` (a ``.onnx`` file, a loaded
    model, a model without ``graphs/``). Reads JSON and hashes files only: no torch."""
    if not isinstance(model, (str, os.PathLike)) or str(model).endswith(".onnx"):
        return None
    from dreambridge.export.shipped import ShippedGraphs
    from dreambridge.models.checkpoint import read_card
    from dreambridge.models.zoo import resolve_model_dir
    from dreambridge.presets.errors import ModelLoadError

    folder = resolve_model_dir(model)
    graphs = ShippedGraphs.find(folder)
    if graphs is None:
        return None
    card = read_card(folder)
    if graphs.meta["weights_sha256"] != card["weights_sha256"]:
        raise ModelLoadError(f"{graphs.folder}: the shipped graphs were built from other weights (sha256 "
                             f"{graphs.meta['weights_sha256'][:12]}..., the card names {card['weights_sha256'][:12]}"
                             f"...); rebuild them: python -m dreambridge.export.shipped {folder}")
    return graphs, card


def _fit(ops, x, n: int):
    """Crop or zero-pad the last axis of an array of ``ops`` to ``n`` samples."""
    return x[..., :n] if x.shape[-1] >= n else ops.pad_last(x, 0, n - x.shape[-1])
