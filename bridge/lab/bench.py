"""``dreambridge bench``: speed of the dream step on this machine, in one run.

Reports, for the chosen model and preset:

- ``machine``: cores, torch threads, the fp32 matmul rate (GFLOP/s, 1024^2 GEMM, best of 5);
- ``baseline``: a naive eager-torch DeepDream step on the same model (BatchNorm unfused,
  parameter gradients on, the whole network run, three separate Gaussian convolutions,
  a 101-tap FIR low-pass as a direct convolution);
- ``results``: the engine's step per backend (torch, onnx) and device.

``ms_per_iteration`` is a whole run of the preset's iterations on one excerpt of ``seconds``
at the model rate, divided by the iterations (the baseline: one naive step).
``x_realtime`` is the seconds of audio dreamed per second of wall time at the preset's
iterations and excerpt hop: ``hop_s / (iterations * ms_per_iteration / 1000)``.
``end_to_end_x_realtime`` renders 5 s of audio through ``Dreamer.process`` (median of 3;
batched as the engine's defaults, crossfaded). ``gemm_share`` is the useful conv work of one
step (forward + input gradient, ``4 * MACs`` up to the deepest layer needed) per second, over
the matmul rate.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

__all__ = ["run_bench", "format_report", "matmul_gflops"]


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


def run_bench(model: str = "default", preset: str = "default", seconds: float = 1.0, repeats: int = 5) -> dict:
    import torch

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.loop import dream_loop
    from dreambridge.bridge.engine.selection import resolve_selection
    from dreambridge.models.nets import conv_macs
    from dreambridge.models.zoo import load_model
    from dreambridge.presets import load_preset

    params = load_preset(preset).params
    net, card = load_model(model)
    n = int(round(seconds * net.sample_rate))
    iterations = max(params.iterations, 1)
    hop_s = params.excerpt_seconds - params.crossfade_seconds
    selection = resolve_selection(params, net.layer_channels, net.n_classes)
    upto = None if selection.uses_classes else selection.deepest_layer
    useful_flops = 4 * sum(conv_macs(net, n, upto))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    machine = {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "matmul_gflops": round(matmul_gflops("cpu"), 1),
    }
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(0)
        machine["gpu_matmul_gflops"] = round(matmul_gflops("cuda", 4096), 1)

    def row(backend, device, ms):
        rate = machine["gpu_matmul_gflops"] if device.type == "cuda" else machine["matmul_gflops"]
        return {
            "backend": backend,
            "device": device.type,
            "model": card.get("name", model),
            "preset": preset,
            "excerpt_seconds": seconds,
            "iterations": iterations,
            "ms_per_iteration": round(ms, 3),
            "x_realtime": round(hop_s / (iterations * ms / 1000), 2),
            "gemm_share": round(useful_flops / (ms / 1000) / 1e9 / rate, 4),
        }

    naive = _naive_step_factory(load_model(model)[0], params, n, devices[0])
    baseline = row("torch-naive", devices[0], 1000 * _best_time(naive, repeats * 4))

    results = []
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((1, 5 * net.sample_rate)).astype(np.float32) * 0.3
    x0 = rng.standard_normal((1, 1, n)).astype(np.float32)
    from dreambridge.models.nets import RawAudioNet

    onnx = _onnx_devices() if isinstance(net, RawAudioNet) else []  # the CREPE adapter is torch-only
    combos = [("torch", d) for d in devices] + [("onnx", d) for d in onnx]
    for backend_name, device in combos:
        dreamer = Dreamer((net, card), params, device=device.type, backend=backend_name)
        x = dreamer.dsp.asarray(x0)

        def run():
            dream_loop(dreamer.backend, dreamer.dsp, x, params.replace(iterations=iterations), dreamer.selection,
                       [np.random.default_rng(0)], net.sample_rate)
            if device.type == "cuda" and backend_name == "torch":
                torch.cuda.synchronize()

        r = row(backend_name, device, 1000 * _best_time(run, repeats) / iterations)
        wall = _best_time(lambda: dreamer.process(audio, net.sample_rate), 3, warmup=1)
        r["end_to_end_x_realtime"] = round(5 / wall, 2)
        results.append(r)
    return {"machine": machine, "baseline": baseline, "results": results}


def _onnx_devices():
    import torch

    from dreambridge.bridge.engine.onnx_backend import onnx_providers

    devices = [torch.device("cpu")]
    if onnx_providers("auto")[0] == "CUDAExecutionProvider":
        devices.append(torch.device("cuda"))
    return devices


def format_report(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"fp32 matmul {m['matmul_gflops']} GFLOP/s"
        + (f"; {m['gpu']} {m['gpu_matmul_gflops']} GFLOP/s" if "gpu" in m else ""),
        f"{'backend':12s} {'device':6s} {'ms/iter':>8s} {'x real time':>11s} {'end-to-end':>10s} {'gemm share':>10s}",
    ]
    for r in [report["baseline"]] + report["results"]:
        e2e = r.get("end_to_end_x_realtime")
        lines.append(
            f"{r['backend']:12s} {r['device']:6s} {r['ms_per_iteration']:8.2f} {r['x_realtime']:10.1f}x "
            f"{'' if e2e is None else f'{e2e:9.1f}x':>10s} {r['gemm_share'] * 100:9.1f}%"
        )
    first = report["results"][0]
    lines.append(
        f"(model {first['model']}, preset {first['preset']}, {first['iterations']} iterations per "
        f"{first['excerpt_seconds']:g} s excerpt; speed-up over naive: "
        f"{report['baseline']['ms_per_iteration'] / first['ms_per_iteration']:.2f}x)"
    )
    return "\n".join(lines)
