"""``bench --startup / --neighbours / --gpu``: whole-process figures from real child processes."""

import json

import pytest
import torch
from conftest import run_cli

from dreambridge.bridge.lab import procbench


def test_startup_figures_time_real_dream_and_batch_processes(tiny_model_dir):
    report = procbench.startup_figures(str(tiny_model_dir), repeats=1, n_files=3, file_seconds=0.2,
                                       dream_seconds=0.5)
    assert set(report["backends"]) == {"torch", "onnx"}
    for row in report["backends"].values():
        assert len(row["dream_seconds"]) == len(row["dream_cpu_seconds"]) == 1 and row["dream_median"] > 0
        assert row["dream_cpu_median"] > 0 and row["batch_cpu_seconds"][0] > 0  # the children's own CPU time
        # whole process (start-up included) is never faster than batch's own count after start-up
        assert 0 < row["batch_files_per_second"] <= row["batch_files_per_second_inside"]
    text = procbench.format_startup(report)
    assert "torch: whole process" in text and "onnx : whole process" in text and "files/s" in text


def test_neighbours_figures_compare_wait_policies_in_one_run(tiny_model_dir):
    report = procbench.neighbours_figures(str(tiny_model_dir), seconds=0.3, repeats=1, n_busy=1, threads=1)
    assert set(report["policies"]) == {"passive", "default"}
    for r in report["policies"].values():
        assert len(r["idle"]) == len(r["busy"]) == len(r["ratios"]) == 1 and r["ratio"] > 0
    assert "OpenMP wait passive" in procbench.format_neighbours(report)


def test_render_child_reads_the_policy_it_is_given(monkeypatch):
    """The child sees the policy the bench sets (an empty value for OpenMP's own default), not ours."""
    import subprocess

    seen = []
    monkeypatch.setattr(subprocess, "run", lambda args, env, **kw: seen.append(env["OMP_WAIT_POLICY"]) or
                        subprocess.CompletedProcess(args, 0, "1.5\n", ""))
    assert procbench._render_child("m", "p", 1.0, None, 0) == 1.5
    assert procbench._render_child("m", "p", 1.0, "PASSIVE", 0) == 1.5
    assert seen == ["", "PASSIVE"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_bench_gpu_without_cuda_is_one_line():
    proc = run_cli("bench", "--gpu")
    assert proc.returncode == 2 and "needs a CUDA GPU" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_gpu_figures_on_the_gpu(tiny_model_dir):
    report = procbench.gpu_figures(str(tiny_model_dir), seconds=4.0, repeats=1, batch_sizes=(8,), n_files=4)
    torch_row = report["runs"][0]
    assert torch_row["backend"] == "torch" and torch_row["x_realtime"] > 0
    assert torch_row["host_finish_x_realtime"] > 0  # the control row: the same render finished on the host
    assert "on the host" in procbench.format_gpu(report)
    # cuDNN (TF32 convolutions by default) against oneDNN fp32: the dream stays the same sound
    assert torch_row["snr_to_cpu_db"] > 30, json.dumps(report)
    assert report.get("batch_files_per_second_inside", 0) > 0, report.get("batch_error")
