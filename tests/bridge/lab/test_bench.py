"""bridge/lab/bench.py: ``dreambridge bench``'s report."""

import json

from conftest import run_cli


def test_bench_json_shape(tiny_model_dir):
    proc = run_cli("bench", "--json", "--model", tiny_model_dir, "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["machine"]["cores"] >= 1 and report["machine"]["matmul_gflops"] > 0
    for row in [report["baseline"]] + report["results"]:
        for key in ("backend", "device", "model", "preset", "ms_per_iteration", "x_realtime", "gemm_share"):
            assert key in row
        assert row["ms_per_iteration"] > 0
    assert report["results"][0]["backend"] == "torch"
