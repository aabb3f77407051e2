"""``dreambridge bench``: speed of the dream step on this machine, in one run.

Reports, for the chosen model and preset, everything timed in the same process:

- ``machine``: cores, torch threads, the fp32 matmul rate (GFLOP/s, 1024^2 ``torch.mm``, median of 5);
- ``baseline``: the straightforward eager-torch loop a competent researcher would write
  (:func:`plain_dream`: the model in eval mode, its parameters frozen, ``x.requires_grad_()``,
  forward to the layer, the mean square of its maps, ``backward()``, a peak-normalised gradient
  step, an rFFT brick-wall low-pass, peak renormalisation), at the preset's layer;
- ``naive``: the old textbook step kept for comparison (BatchNorm unfused, parameter gradients
  on, the whole network, three Gaussian convolutions, a 101-tap FIR low-pass as a direct
  convolution);
- ``layers``: one row per layer (``--layers``): the engine's step (torch backend, the preset's
  whole iteration: jitter, smoothing, notches, envelope lock) against the baseline at that layer;
- ``results``: the engine's step per backend (torch, onnx) and device at the preset's layer, with
  an end-to-end render of 5 s through ``Dreamer.process``;
- ``render`` (``render_seconds > 0``): ``render_seconds`` of noise dreamed whole at each of
  ``render_layers``, by the engine (``Dreamer.process``) and by the baseline loop over the same
  1 s excerpts; model loading and imports are not timed.

``ms_per_iteration`` is **throughput, the way a render runs**: every engine worker (one per
thread the process gives the engine, ``engine.pool.excerpt_workers``) dreams its own excerpts of
``seconds`` at the model rate at once, the preset's iterations each, and the wall time of the lot
is divided by excerpts x iterations: milliseconds of wall time per excerpt-iteration with all
cores busy. ``latency_ms_per_iteration`` beside it is one excerpt alone (one worker, one thread:
what a single 1 s file or a live excerpt waits). The baseline is the straightforward loop as
written, one excerpt at a time with torch's intra-op threads. ``x_realtime`` is the seconds of
audio dreamed per second of wall time at the preset's iterations and excerpt hop:
``hop_s / (iterations * ms_per_iteration / 1000)``. ``gemm_share`` is the useful conv work of
one step (forward + input gradient of every conv up to the layer: ``2 * MACs`` multiply-adds,
``4 * MACs`` FLOPs) per second of throughput, over the matmul rate (all threads). ``speedup``
is the baseline's time over the engine's, both measured here. ``ceiling_x_realtime``
(:func:`ceiling_x_realtime`) bounds ``x_realtime`` from above: the useful conv work at 100 % of
the matmul rate plus the preset's transforms at their speed measured here, nothing else.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

__all__ = ["run_bench", "format_report", "matmul_gflops", "plain_dream", "ceiling_x_realtime"]


def _best_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmul_gflops(device="cpu", n: int = 1024, repeats: int = 5) -> float:
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        (a @ b).sum().item()

    return 2 * n**3 / _best_time(run, repeats) / 1e9


def plain_dream(model, x, layer: int, iterations: int, learning_rate: float, lowpass_hz: float):
    """The straightforward DeepDream loop on one excerpt ``x`` ``[1, 1, n]`` (the baseline).

    What a competent researcher writes in eager torch, no tricks and no straw man: ``model``
    in eval mode with frozen parameters, autograd for the input gradient, the network run only
    up to ``layer``, the FFT low-pass as one rFFT mask. Returns the dreamed excerpt.
    """
    import torch

    n = x.shape[-1]
    freqs = torch.fft.rfftfreq(n, 1.0 / model.sample_rate, device=x.device)
    lowpass = (freqs <= lowpass_hz).to(x.dtype)
    for _ in range(iterations):
        x = x.detach().requires_grad_()
        taps, _ = model.forward_taps(x, upto=layer)
        loss = taps[layer].pow(2).mean()
        loss.backward()
        with torch.no_grad():
            g = x.grad / (x.grad.abs().max() + 1e-8)
            x = x + learning_rate * g
            x = torch.fft.irfft(torch.fft.rfft(x) * lowpass, n=n)
            x = x / x.abs().max()
    return x.detach()


def _frozen(model, device):
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _naive_step_factory(model, params, n: int, device):
    """The textbook loop: what a first implementation does."""
    import torch
    from scipy.signal import firwin

    from dreambridge.dsp.smoothing import gaussian_kernel, smoothing_sigma

    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(True)
    sr = model.sample_rate
    fir = torch.tensor(firwin(101, params.lowpass_hz or sr / 2 * 0.99, fs=sr), dtype=torch.float32, device=device).view(
        1, 1, -1
    )
    x = torch.randn(1, 1, n, device=device)
    x = x / x.abs().max()
    layer = params.targets()[0][0]
    k = params.smoothing_kernel
    sigma = smoothing_sigma(params.smoothing_coef, 0, params.iterations)
    kernels = [
        torch.tensor(gaussian_kernel(k, s * sigma), dtype=torch.float32, device=device).view(1, 1, -1)
        for s in (0.5, 1, 2)
    ]

    def step():
        nonlocal x
        xi = torch.roll(x, int(np.random.randint(-1, 2)), dims=-1).detach().requires_grad_(True)
        model.zero_grad()
        taps, _ = model.forward_taps(xi)
        loss = torch.nn.functional.mse_loss(taps[layer], torch.zeros_like(taps[layer]))
        loss.backward()
        g = xi.grad / xi.grad.abs().max()
        g = (
            sum(
                torch.nn.functional.conv1d(torch.nn.functional.pad(g, (k // 2, k // 2), mode="reflect"), kk)
                for kk in kernels
            )
            / 3
        )
        with torch.no_grad():
            y = x + params.learning_rate * g
            y = torch.nn.functional.conv1d(torch.nn.functional.pad(y, (50, 50)), fir)
            x = y / y.abs().max()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def _engine_timing(dreamer, x0, params, iterations: int, repeats: int) -> tuple[float, float]:
    """``(throughput, latency)`` in ms per excerpt-iteration of ``dream_loop`` on ``x0`` ``[1, 1, n]``:
    every worker of the dreamer dreaming its own copy at once (median of ``repeats`` rounds), and
    one excerpt alone on one worker."""
    from dreambridge.bridge.engine.loop import dream_loop
    from dreambridge.bridge.engine.pool import excerpt_workers

    workers = excerpt_workers(dreamer.n_workers())
    x = dreamer.dsp.asarray(x0)

    def one(_):
        dream_loop(dreamer.backend, dreamer.dsp, x, params, dreamer.selection, [np.random.default_rng(0)],
                   dreamer.sample_rate)

    rounds = 2  # each worker dreams two excerpts per timed round: a straggler's tail is averaged in
    n_items = workers.n_workers * rounds
    throughput = _best_time(lambda: workers.map(one, range(n_items)), repeats, warmup=1) / n_items
    latency = _best_time(lambda: workers.map(one, [0]), repeats, warmup=1)
    return 1000 * throughput / iterations, 1000 * latency / iterations


def _transform_ms(dreamer, n: int, repeats: int) -> tuple[float, float]:
    """``(rfft, inverse)`` milliseconds of one ``n``-point transform of the engine's CPU DSP, on
    one excerpt worker (one intra-op thread, as the workers run them)."""
    from dreambridge.bridge.engine.pool import excerpt_workers

    x = dreamer.dsp.asarray(np.random.default_rng(1).standard_normal((1, 1, n)).astype(np.float32))
    spectrum = dreamer.dsp.rfft(x)
    workers = excerpt_workers(dreamer.n_workers())
    times = []
    for fn in (lambda: dreamer.dsp.rfft(x), lambda: dreamer.dsp.irfft(spectrum, n)):
        def batch(_, fn=fn):
            return _best_time(lambda: [fn() for _ in range(20)], repeats, warmup=1) / 20
        times.append(1000 * workers.map(batch, [0])[0])
    return times[0], times[1]


def ceiling_x_realtime(useful_flops, rate_gflops: float, transforms, transform_ms, workers: int, hop_s: float,
                       iterations: int):
    """The x real time the engine would reach if its convs ran at 100 % of the matmul rate and
    nothing but the spectral update's transforms took any time: an upper bound on this machine
    for the step as defined (its convs and its transforms), not an estimate.

    Parameters
    ----------
    useful_flops : float or None
        Conv FLOPs of one iteration (forward and input gradient up to the layer).
    rate_gflops : float
        The fp32 matmul rate of all threads.
    transforms : tuple of float or None
        ``(rffts, inverses)`` per iteration (``bridge.engine.loop.transforms_per_iteration``).
    transform_ms : tuple of float
        Milliseconds of one rFFT and one inverse on one worker (the workers run in parallel).
    workers : int
        Excerpt workers.
    hop_s, iterations : float, int
        The preset's excerpt hop (seconds) and iterations per excerpt.

    Returns
    -------
    float or None
        x real time, rounded to 0.1; None where either count is unknown.
    """
    if useful_flops is None or transforms is None:
        return None
    spectral_ms = (transforms[0] * transform_ms[0] + transforms[1] * transform_ms[1]) / workers
    ms = useful_flops / rate_gflops / 1e6 + spectral_ms
    return round(hop_s / (iterations * ms / 1000), 1)


def _layer_rows(net, card, params, layers, n, iterations, hop_s, useful, rate, repeats, plain_model):
    """Engine (torch, CPU, all workers) against the baseline at each layer, interleaved per layer."""
    import torch

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.loop import transforms_per_iteration

    transform_ms = None

    x0 = np.random.default_rng(0).standard_normal((1, 1, n)).astype(np.float32)
    x0 = x0 / np.abs(x0).max()
    rows = []
    for layer in layers:
        p = params.replace(layer=layer, channel=-1)
        dreamer = Dreamer((net, card), p, device="cpu", backend="torch")

        def plain():
            plain_dream(plain_model, torch.from_numpy(x0), layer, iterations, p.learning_rate, p.lowpass_hz)

        ms, latency = _engine_timing(dreamer, x0, p, iterations, repeats)
        base_ms = 1000 * _best_time(plain, repeats, warmup=1) / iterations
        flops = useful(layer)
        if transform_ms is None:
            transform_ms = _transform_ms(dreamer, n, repeats)
        ceiling = ceiling_x_realtime(flops, rate, transforms_per_iteration(p), transform_ms, dreamer.n_workers(),
                                     hop_s, iterations)
        rows.append({
            "layer": layer,
            "ms_per_iteration": round(ms, 3),
            "latency_ms_per_iteration": round(latency, 3),
            "x_realtime": round(hop_s / (iterations * ms / 1000), 2),
            "ceiling_x_realtime": ceiling,
            "transform_ms": [round(t, 3) for t in transform_ms],
            "gemm_share": None if flops is None else round(flops / (ms / 1000) / 1e9 / rate, 4),
            "baseline_ms_per_iteration": round(base_ms, 3),
            "speedup": round(base_ms / ms, 2),
        })
    return rows


def _render_rows(net, card, params, layers, seconds: float, plain_model, batch_size=None) -> list[dict]:
    """``seconds`` of noise dreamed whole by the engine and by the baseline, per layer."""
    import torch

    from dreambridge.bridge.engine.dreamer import Dreamer

    sr = net.sample_rate
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, (1, int(seconds * sr))).astype(np.float32)
    n = int(round(params.excerpt_seconds * sr))
    rows = []
    for layer in layers:
        p = params.replace(layer=layer, channel=-1)
        t0 = time.perf_counter()
        Dreamer((net, card), p, device="cpu", backend="torch", batch_size=batch_size).process(noise, sr)
        engine_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pieces = []
        for start in range(0, noise.shape[-1], n):
            x = torch.from_numpy(noise[:, start : start + n].copy())[None]
            pieces.append(plain_dream(plain_model, x / x.abs().max(), layer, p.iterations, p.learning_rate,
                                      p.lowpass_hz)[0].numpy())
        np.concatenate(pieces, axis=-1)
        plain_s = time.perf_counter() - t0
        rows.append({"layer": layer, "seconds": seconds, "engine_s": round(engine_s, 3),
                     "engine_x_realtime": round(seconds / engine_s, 2), "baseline_s": round(plain_s, 3),
                     "baseline_x_realtime": round(seconds / plain_s, 2), "speedup": round(plain_s / engine_s, 2)})
    return rows


def run_bench(model: str = "default", preset: str = "default", seconds: float = 1.0, repeats: int = 5,
              layers=None, render_seconds: float = 0.0, render_layers=None, batch_size: int | None = None) -> dict:
    """Time the engine against the baseline on this machine; see the module docstring.

    Parameters
    ----------
    model, preset : str
        Model name or directory, and factory preset name.
    seconds : float
        Excerpt length of the per-iteration rows.
    repeats : int
        Timed repeats of each row (median).
    layers : list of int, optional
        Layers of the per-layer table (default: every layer).
    render_seconds : float
        Length of the whole-render comparison from noise (0: skipped).
    render_layers : list of int, optional
        Layers of the render comparison (default: the preset's layer).
    batch_size : int, optional
        Excerpts per batch of the end-to-end and render rows (default: the engine's own).

    Returns
    -------
    dict
        ``machine``, ``baseline``, ``naive``, ``layers``, ``results`` and ``render`` (JSON-ready).
    """
    import torch

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.loop import dream_loop
    from dreambridge.models.nets import RawAudioNet, conv_macs
    from dreambridge.models.zoo import load_model
    from dreambridge.presets import load_preset

    params = load_preset(preset).params
    net, card = load_model(model)
    n = int(round(seconds * net.sample_rate))
    iterations = max(params.iterations, 1)
    params = params.replace(iterations=iterations)
    hop_s = params.excerpt_seconds - params.crossfade_seconds
    preset_layer = params.targets()[0][0]
    layers = list(range(net.n_layers)) if layers is None else list(layers)
    for layer in layers + list(render_layers or []):
        if not 0 <= layer < net.n_layers:
            from dreambridge.presets.errors import ParameterError

            raise ParameterError(f"layer {layer} is not a layer of this model (0..{net.n_layers - 1})")

    def useful(upto):
        return 4 * sum(conv_macs(net, n, upto)) if isinstance(net, RawAudioNet) else None

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    from dreambridge.bridge.engine.pool import engine_threads

    machine = {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "engine_workers": engine_threads("torch"),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "matmul_gflops": round(matmul_gflops("cpu"), 1),
    }
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(0)
        machine["gpu_matmul_gflops"] = round(matmul_gflops("cuda", 4096), 1)

    def row(backend, device, ms, layer=preset_layer):
        rate = machine["gpu_matmul_gflops"] if device.type == "cuda" else machine["matmul_gflops"]
        flops = useful(layer)
        return {
            "backend": backend,
            "device": device.type,
            "model": card.get("name", model),
            "preset": preset,
            "layer": layer,
            "excerpt_seconds": seconds,
            "iterations": iterations,
            "ms_per_iteration": round(ms, 3),
            "x_realtime": round(hop_s / (iterations * ms / 1000), 2),
            "gemm_share": None if flops is None else round(flops / (ms / 1000) / 1e9 / rate, 4),
        }

    plain_model = _frozen(load_model(model)[0], devices[0])
    x_plain = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, n)).astype(np.float32))
    baseline = row("torch-plain", devices[0], 1000 * _best_time(
        lambda: plain_dream(plain_model, x_plain / x_plain.abs().max(), preset_layer, iterations,
                            params.learning_rate, params.lowpass_hz), repeats, warmup=1) / iterations)
    naive = _naive_step_factory(load_model(model)[0], params, n, devices[0])
    naive_row = row("torch-naive", devices[0], 1000 * _best_time(naive, repeats * 2))

    layer_rows = _layer_rows(net, card, params, layers, n, iterations, hop_s, useful, machine["matmul_gflops"],
                             repeats, plain_model)

    results = []
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((1, 5 * net.sample_rate)).astype(np.float32) * 0.3
    x0 = rng.standard_normal((1, 1, n)).astype(np.float32)
    onnx = _onnx_devices() if isinstance(net, RawAudioNet) else []  # the CREPE adapter is torch-only
    combos = [("torch", d) for d in devices] + [("onnx", d) for d in onnx]
    for backend_name, device in combos:
        dreamer = Dreamer((net, card), params, device=device.type, backend=backend_name, batch_size=batch_size)
        if device.type == "cpu":
            ms, latency = _engine_timing(dreamer, x0, params, iterations, repeats)
        else:
            x = dreamer.dsp.asarray(x0)

            def run():
                dream_loop(dreamer.backend, dreamer.dsp, x, params, dreamer.selection, [np.random.default_rng(0)],
                           net.sample_rate)
                if backend_name == "torch":
                    torch.cuda.synchronize()

            ms = latency = 1000 * _best_time(run, repeats) / iterations
        r = row(backend_name, device, ms)
        r["latency_ms_per_iteration"] = round(latency, 3)
        wall = _best_time(lambda: dreamer.process(audio, net.sample_rate), 3, warmup=1)
        r["end_to_end_x_realtime"] = round(5 / wall, 2)
        r["speedup"] = round(baseline["ms_per_iteration"] / r["ms_per_iteration"], 2)
        results.append(r)
    render = []
    if render_seconds > 0:
        render = _render_rows(net, card, params, list(render_layers or [preset_layer]), render_seconds, plain_model,
                              batch_size)
    machine["batch_size"] = batch_size  # None: the engine's default per backend and device
    return {"machine": machine, "baseline": baseline, "naive": naive_row, "layers": layer_rows, "results": results,
            "render": render}


def _onnx_devices():
    import torch

    from dreambridge.bridge.engine.onnx_backend import onnx_providers

    devices = [torch.device("cpu")]
    if onnx_providers("auto")[0] == "CUDAExecutionProvider":
        devices.append(torch.device("cuda"))
    return devices


def _pct(share) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def format_report(report: dict) -> str:
    """The report as text tables: per layer, per backend, and the render comparison."""
    m = report["machine"]
    base = report["baseline"]
    lines = [
        f"machine: {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads; engine: "
        f"{m.get('engine_workers', m['torch_threads'])} workers of 1 thread), "
        f"fp32 matmul {m['matmul_gflops']} GFLOP/s"
        + (f"; {m['gpu']} {m['gpu_matmul_gflops']} GFLOP/s" if "gpu" in m else "")
        + (f"; engine batch {m['batch_size']}" if m.get("batch_size") else ""),
        f"model {base['model']}, preset {base['preset']}, {base['iterations']} iterations per "
        f"{base['excerpt_seconds']:g} s excerpt; baseline = the straightforward eager-torch loop",
    ]
    if report["layers"]:
        lines += ["", f"{'layer':>5s} {'ms/iter':>8s} {'latency':>8s} {'x real time':>11s} {'ceiling':>8s} "
                      f"{'gemm share':>10s} {'baseline ms':>11s} {'speed-up':>8s}"]
        for r in report["layers"]:
            ceiling = r.get("ceiling_x_realtime")
            lines.append(f"{r['layer']:5d} {r['ms_per_iteration']:8.2f} {r['latency_ms_per_iteration']:8.2f} "
                         f"{r['x_realtime']:10.1f}x {'-' if ceiling is None else f'{ceiling:.1f}x':>8s} "
                         f"{_pct(r['gemm_share']):>10s} {r['baseline_ms_per_iteration']:11.2f} {r['speedup']:7.2f}x")
        transform_ms = report["layers"][0].get("transform_ms")
        if transform_ms:
            lines.append(f"(ceiling: x real time with the convs at 100 % of the matmul rate and nothing else but the "
                         f"preset's rFFTs ({transform_ms[0]:.2f} ms) and inverses ({transform_ms[1]:.2f} ms) on each "
                         "worker: the most this step can reach here with these transforms)")
    lines += ["", f"{'backend':12s} {'device':6s} {'ms/iter':>8s} {'latency':>8s} {'x real time':>11s} "
                  f"{'end-to-end':>10s} {'gemm share':>10s} {'speed-up':>8s}"]
    for r in [base, report["naive"]] + report["results"]:
        e2e = r.get("end_to_end_x_realtime")
        latency = r.get("latency_ms_per_iteration", r["ms_per_iteration"])
        speedup = base["ms_per_iteration"] / r["ms_per_iteration"]
        lines.append(
            f"{r['backend']:12s} {r['device']:6s} {r['ms_per_iteration']:8.2f} {latency:8.2f} {r['x_realtime']:10.1f}x "
            f"{'' if e2e is None else f'{e2e:9.1f}x':>10s} {_pct(r['gemm_share']):>10s} {speedup:7.2f}x"
        )
    lines.append(f"(the rows above: layer {base['layer']}, the preset's; ms/iter: wall time per excerpt-iteration "
                 "with every engine worker busy on its own excerpt; latency: one excerpt alone)")
    if report.get("render"):
        lines += ["", f"{'render':>6s} {'layer':>5s} {'engine':>9s} {'baseline':>9s} {'speed-up':>8s}"]
        for r in report["render"]:
            lines.append(f"{r['seconds']:5g}s {r['layer']:5d} {r['engine_x_realtime']:8.1f}x "
                         f"{r['baseline_x_realtime']:8.1f}x {r['speedup']:7.2f}x")
        lines.append("(x real time of a whole render from noise, model loaded; imports and start-up not timed)")
    return "\n".join(lines)
