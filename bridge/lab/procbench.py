"""``dreambridge bench --startup`` and ``--neighbours``: whole-process figures.

The per-iteration bench (``bench.py``) times the dream step inside one process; these
sections time what a user waits for, each as ratios within one run:

- ``startup``: the wall time of a whole ``dreambridge dream`` process on a 1 s file
  (imports, model load, the dream, the write), and the files per second of a whole
  ``dreambridge batch`` process on a folder of 0.5 s one-shots;
- ``gpu``: x real time of the torch and onnxruntime backends on CUDA at a few batch sizes,
  their distance to the CPU render, and ``batch`` files per second on the GPU;
- ``neighbours``: a render beside busy processes at normal priority (a DAW and its UI,
  say) against the same render on the otherwise idle machine, for OpenMP's passive wait
  policy (dreambridge's default) and for the library default (spin, then sleep).

Every figure comes from child processes started here, so the numbers include start-up and
each wait policy is read by a fresh OpenMP runtime.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dreambridge.presets.errors import DreamError

__all__ = ["startup_figures", "neighbours_figures", "gpu_figures", "format_startup", "format_neighbours",
           "format_gpu", "write_one_shots", "render_seconds"]

_CLI = [sys.executable, "-m", "dreambridge.bridge.cli"]
BUSY_CODE = "while True: pass"  # a core-bound neighbour at normal priority


def write_one_shots(folder: Path, n_files: int, seconds: float, sample_rate: int = 44100, seed: int = 0) -> list:
    """Write ``n_files`` mono PCM_16 one-shots (a decaying tone over a little noise) into ``folder``."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    paths = []
    for i in range(n_files):
        x = 0.5 * np.sin(2 * np.pi * (80 + 25 * i) * t) * np.exp(-8 * t) + 0.02 * rng.standard_normal(len(t))
        path = folder / f"shot{i:03d}.wav"
        sf.write(path, x.astype(np.float32), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths


def _child_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list, env=None, timeout: float = 900) -> tuple[float, float, str]:
    """``(wall seconds, CPU seconds, stdout)`` of one child process; a failure is an error with the
    child's last line."""
    cpu0, t0 = _child_cpu(), time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    seconds, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        raise DreamError(f"dreambridge {args[3]} failed: {last}")
    return seconds, cpu, out.stdout


def startup_figures(model: str = "default", preset: str = "default", repeats: int = 3, n_files: int = 40,
                    file_seconds: float = 0.5, dream_seconds: float = 1.0, backends=("torch", "onnx")) -> dict:
    """Whole-process wall and CPU time of ``dream`` on a ``dream_seconds`` stereo file, and files
    per second of ``batch`` on ``n_files`` one-shots of ``file_seconds``, per backend; the
    backends take turns in every repeat, so a drifting load hits them alike.

    Returns
    -------
    dict
        ``backends``: per backend, ``dream_seconds`` and ``dream_cpu_seconds`` (every repeat),
        ``dream_median``, ``dream_cpu_median``, ``batch_seconds``, ``batch_cpu_seconds``,
        ``batch_files_per_second`` (median, whole process) and ``batch_files_per_second_inside``
        (median of batch's own figure: files over its wall time after start-up).
    """
    import soundfile as sf

    result = {name: {"dream_seconds": [], "dream_cpu_seconds": [], "batch_seconds": [], "batch_cpu_seconds": [],
                     "inside": []} for name in backends}
    with tempfile.TemporaryDirectory(prefix="dreambridge-bench-") as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(1)
        one = tmp / "one.wav"
        sf.write(one, (0.3 * rng.standard_normal((int(44100 * dream_seconds), 2))).astype(np.float32), 44100,
                 subtype="PCM_16")
        write_one_shots(tmp / "shots", n_files, file_seconds)
        for r in range(repeats):
            for name in backends:
                row = result[name]
                common = ["--model", str(model), "--preset", str(preset), "--backend", name]
                wall, cpu, _ = _run([*_CLI, "dream", str(one), "-o", str(tmp / f"out-{name}{r}.wav"), "--quiet",
                                     *common])
                row["dream_seconds"].append(wall)
                row["dream_cpu_seconds"].append(cpu)
                wall, cpu, stdout = _run([*_CLI, "batch", str(tmp / "shots"), "-o", str(tmp / f"batch-{name}{r}"),
                                          "--json", *common], timeout=1800)
                row["batch_seconds"].append(wall)
                row["batch_cpu_seconds"].append(cpu)
                summary = json.loads(stdout)
                row["inside"].append(len(summary["ok"]) / max(summary["wall_seconds"], 1e-9))
    for row in result.values():
        row["dream_median"] = statistics.median(row["dream_seconds"])
        row["dream_cpu_median"] = statistics.median(row["dream_cpu_seconds"])
        row["batch_files_per_second"] = n_files / statistics.median(row["batch_seconds"])
        row["batch_files_per_second_inside"] = statistics.median(row.pop("inside"))
    return {"dream_file_seconds": dream_seconds, "n_files": n_files, "file_seconds": file_seconds,
            "backends": result}


def render_seconds(model: str, preset: str, seconds: float, threads: int = 0) -> float:
    """Seconds one ``Dreamer.process`` of ``seconds`` of noise takes in this process, after a
    one-excerpt warm-up (what a render costs once the process runs)."""
    from dreambridge.bridge.engine import Dreamer
    from dreambridge.bridge.engine.schedule import resolve

    if threads:
        from dreambridge.bridge.engine.pool import set_threads

        set_threads(threads)
    dreamer = Dreamer(model, resolve(preset, []).params)
    x = (0.3 * np.random.default_rng(2).standard_normal((1, int(44100 * seconds)))).astype(np.float32)
    dreamer.process(x[:, : int(44100 * dreamer.params.excerpt_seconds)], 44100)
    t0 = time.perf_counter()
    dreamer.process(x, 44100)
    return time.perf_counter() - t0


def _render_child(model: str, preset: str, seconds: float, policy: str | None, threads: int) -> float:
    env = dict(os.environ)
    for key in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME"):
        env.pop(key, None)
    if policy is None:
        env["OMP_WAIT_POLICY"] = ""  # present, so dreambridge leaves it; empty, so OpenMP keeps its own default
    else:
        env["OMP_WAIT_POLICY"] = policy
    code = (f"from dreambridge.bridge.lab.procbench import render_seconds; "
            f"print(render_seconds({model!r}, {preset!r}, {seconds!r}, {threads!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise DreamError(f"render failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return float(out.stdout.strip().splitlines()[-1])


def neighbours_figures(model: str = "default", preset: str = "default", seconds: float = 10.0, repeats: int = 3,
                       n_busy: int = 2, threads: int = 0) -> dict:
    """Render time beside ``n_busy`` busy processes over render time on the idle machine, per
    wait policy (``passive``: dreambridge's default; ``default``: OpenMP's own), interleaved
    ``repeats`` times so a drifting load hits every variant alike.

    Returns
    -------
    dict
        Per policy: ``idle`` and ``busy`` seconds of every repeat, their ``ratios`` (busy / idle
        of the same repeat) and the median ``ratio``; ``fair_ratio`` is what an even share of
        the cores would give (``(cores + n_busy) / cores`` once the busy ones take a core each).
    """
    from dreambridge.bridge.engine.pool import available_cores

    policies = {"passive": "PASSIVE", "default": None}
    result = {name: {"idle": [], "busy": []} for name in policies}
    for _ in range(repeats):
        for name, policy in policies.items():
            result[name]["idle"].append(_render_child(model, preset, seconds, policy, threads))
            busy = [subprocess.Popen([sys.executable, "-c", BUSY_CODE]) for _ in range(n_busy)]
            try:
                time.sleep(0.5)  # let them take their cores
                result[name]["busy"].append(_render_child(model, preset, seconds, policy, threads))
            finally:
                for process in busy:
                    process.kill()
                for process in busy:
                    process.wait()
    for name in policies:
        r = result[name]
        r["ratios"] = [b / max(i, 1e-9) for i, b in zip(r["idle"], r["busy"])]
        r["ratio"] = statistics.median(r["ratios"])
    cores = available_cores()
    return {"seconds": seconds, "n_busy": n_busy, "cores": cores, "threads": threads or "default",
            "fair_ratio": (cores + n_busy) / cores if n_busy else 1.0, "policies": result}


def format_startup(report: dict) -> str:
    """The start-up section as text: one line per backend and figure."""
    d = report
    lines = []
    for name, r in d["backends"].items():
        lines += [
            f"{name:5s}: whole process, {d['dream_file_seconds']:g} s stereo file through `dreambridge dream`: "
            f"{r['dream_median']:.2f} s, CPU {r['dream_cpu_median']:.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in r['dream_seconds'])})",
            f"{name:5s}: whole process, `dreambridge batch` of {d['n_files']} one-shots of {d['file_seconds']:g} s: "
            f"{r['batch_files_per_second']:.1f} files/s ({r['batch_files_per_second_inside']:.1f} files/s after "
            f"start-up; CPU {statistics.median(r['batch_cpu_seconds']):.2f} s; "
            f"runs: {', '.join(f'{s:.2f} s' for s in r['batch_seconds'])})",
        ]
    return "\n".join(lines)


def format_neighbours(report: dict) -> str:
    """The busy-neighbours section as text."""
    d = report
    lines = [f"{d['seconds']:g} s render beside {d['n_busy']} busy processes vs idle ({d['cores']} cores, "
             f"threads {d['threads']}; an even share of the cores: {d['fair_ratio']:.1f}x)"]
    for name, r in d["policies"].items():
        ratios = ", ".join(f"{x:.2f}" for x in r["ratios"])
        idle = ", ".join(f"{x:.2f}" for x in r["idle"])
        lines.append(f"  OpenMP wait {name:8s}: {r['ratio']:.2f}x  (ratios {ratios}; idle {idle} s)")
    return "\n".join(lines)


def _snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference.astype(np.float64) - other) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(reference.astype(np.float64) ** 2)) / noise)


def gpu_figures(model: str = "default", preset: str = "default", seconds: float = 60.0, repeats: int = 3,
                batch_sizes=(32, 128), n_files: int = 40) -> dict:
    """The GPU section: per backend (torch; onnxruntime when its CUDA provider loads) and
    batch size, the x real time of a ``seconds`` render on CUDA (median of ``repeats``, after
    a warm-up; for torch at the first batch size also with the steps after the loop on the host,
    ``host_finish_x_realtime``), the CPU render's distance to it (max |difference|, SNR in dB, on 2 s), and
    the files per second of ``dreambridge batch --device cuda`` on ``n_files`` one-shots.

    Raises
    ------
    DeviceError
        Without a CUDA GPU.
    """
    import torch

    from dreambridge.bridge.engine import Dreamer
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.presets.errors import DeviceError

    if not torch.cuda.is_available():
        raise DeviceError("bench --gpu needs a CUDA GPU; none is visible to torch on this machine")
    params = resolve(preset, []).params
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal((1, int(44100 * seconds)))).astype(np.float32)
    short = x[:, : 2 * 44100]
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "seconds": seconds,
              "preset": preset, "runs": []}
    cpu_ref = Dreamer(model, params, device="cpu").process(short, 44100)
    for backend in ("torch", "onnx"):
        for batch_size in batch_sizes:
            row = {"backend": backend, "batch_size": batch_size}
            try:
                dreamer = Dreamer(model, params, device="cuda", backend=backend, batch_size=batch_size)
            except DreamError as exc:  # onnxruntime without its CUDA provider
                row["error"] = str(exc)
                report["runs"].append(row)
                break
            dreamer.process(x[:, : int(44100 * params.excerpt_seconds * batch_size)], 44100)  # warm-up
            timings = []
            for _ in range(repeats):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                dreamer.process(x, 44100)  # returns numpy: the device work is done
                timings.append(time.perf_counter() - t0)
            gpu_short = dreamer.process(short, 44100)
            row.update(seconds=timings, x_realtime=seconds / statistics.median(timings),
                       max_abs_diff_to_cpu=float(np.max(np.abs(gpu_short - cpu_ref))),
                       snr_to_cpu_db=_snr_db(cpu_ref, gpu_short))
            if dreamer.post_on_device and batch_size == batch_sizes[0]:
                # the control: the same render with its steps after the loop on the host, as before
                dreamer.post_on_device = False
                host = []
                for _ in range(repeats):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    dreamer.process(x, 44100)
                    host.append(time.perf_counter() - t0)
                dreamer.post_on_device = True
                row["host_finish_x_realtime"] = seconds / statistics.median(host)
            report["runs"].append(row)
    with tempfile.TemporaryDirectory(prefix="dreambridge-gpu-") as tmp:
        write_one_shots(Path(tmp) / "shots", n_files, 0.5)
        run = subprocess.run([*_CLI, "batch", str(Path(tmp) / "shots"), "-o", str(Path(tmp) / "out"), "--json",
                              "--device", "cuda", "--model", str(model), "--preset", str(preset)],
                             capture_output=True, text=True, timeout=1800)
        if run.returncode == 0:
            summary = json.loads(run.stdout)
            report["batch_files_per_second_inside"] = len(summary["ok"]) / max(summary["wall_seconds"], 1e-9)
        else:
            report["batch_error"] = (run.stderr.strip().splitlines() or ["?"])[-1]
    return report


def format_gpu(report: dict) -> str:
    """The GPU section as text."""
    lines = [f"GPU {report['device']} (torch {report['torch']}), {report['seconds']:g} s at preset "
             f"{report['preset']}:"]
    for row in report["runs"]:
        if "error" in row:
            lines.append(f"  {row['backend']:5s}: {row['error']}")
            continue
        host = row.get("host_finish_x_realtime")
        lines.append(f"  {row['backend']:5s} batch {row['batch_size']:4d}: {row['x_realtime']:8.1f}x real time"
                     + ("" if host is None else f" ({host:.1f}x with the steps after the loop on the host)")
                     + f"; to the CPU render: max |diff| {row['max_abs_diff_to_cpu']:.2e}, "
                     f"SNR {row['snr_to_cpu_db']:.1f} dB")
    if "batch_files_per_second_inside" in report:
        lines.append(f"  batch --device cuda: {report['batch_files_per_second_inside']:.1f} files/s after start-up")
    else:
        lines.append(f"  batch --device cuda: failed: {report.get('batch_error')}")
    return "\n".join(lines)
