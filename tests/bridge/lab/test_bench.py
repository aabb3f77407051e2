"""bridge/lab/bench.py: ``dreambridge bench``'s report, the straightforward baseline loop and the
report's per-layer rows."""

import json

import numpy as np
import torch
from conftest import run_cli

from dreambridge.bridge.lab.bench import ceiling_x_realtime, format_report, plain_dream, run_bench


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


def test_plain_dream_ascends_and_lowpasses(tiny_model, rng):
    net = tiny_model[0].eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.from_numpy(rng.standard_normal((1, 1, 8000)).astype(np.float32))
    x = x / x.abs().max()
    out = plain_dream(net, x, layer=1, iterations=5, learning_rate=0.3, lowpass_hz=4000.0)

    def energy(s):
        return float(net.forward_taps(s, upto=1)[0][1].pow(2).mean())

    assert energy(out) > 1.5 * energy(x)  # the control (the input itself) scores 1x; gradient ascent raises it
    spectrum = np.abs(np.fft.rfft(out.numpy()[0, 0]))
    freqs = np.fft.rfftfreq(8000, 1 / net.sample_rate)
    # Brick-wall rFFT mask, then renormalised: what is left above the cutoff is float32 rounding.
    assert spectrum[freqs > 4100].max() < 1e-4 * spectrum.max()
    assert abs(float(out.abs().max()) - 1.0) < 1e-6  # renormalised to peak 1


def test_report_has_a_row_per_layer_and_the_render(tiny_model_dir):
    report = run_bench(model=str(tiny_model_dir), seconds=0.25, repeats=1, layers=[0, 2], render_seconds=1.5,
                       render_layers=[1], batch_size=2)
    assert [r["layer"] for r in report["layers"]] == [0, 2]
    for r in report["layers"]:
        assert r["ms_per_iteration"] > 0 and r["baseline_ms_per_iteration"] > 0 and 0 < r["gemm_share"]
        assert r["latency_ms_per_iteration"] > 0  # one excerpt alone, beside the all-workers throughput
        assert r["ceiling_x_realtime"] > 0 and len(r["transform_ms"]) == 2 and min(r["transform_ms"]) > 0
        # speed-up is the two timings' ratio, rounded to 2 decimals from 3-decimal timings
        assert abs(r["speedup"] - r["baseline_ms_per_iteration"] / r["ms_per_iteration"]) < 0.02
    (render,) = report["render"]
    assert render["layer"] == 1 and render["engine_s"] > 0 and render["baseline_s"] > 0
    assert report["baseline"]["backend"] == "torch-plain" and report["naive"]["backend"] == "torch-naive"
    assert report["machine"]["batch_size"] == 2
    text = format_report(report)
    assert "speed-up" in text and "render" in text and "engine batch 2" in text and "latency" in text
    assert "ceiling" in text
    assert report["machine"]["engine_workers"] >= 1 and "workers of 1 thread" in text


def test_the_ceiling_is_the_conv_work_at_the_matmul_rate_plus_the_transforms():
    # 343.6 MFLOP of convs at 190 GFLOP/s is 1.808 ms; 3.13 rFFTs at 0.33 ms and 3.07 inverses at 0.20 ms
    # on each of 2 workers add 0.824 ms: 15 iterations of 2.633 ms per 0.9 s hop is 22.8x real time
    ceiling = ceiling_x_realtime(343.6e6, 190.0, (3.13, 3.07), (0.33, 0.20), 2, 0.9, 15)
    assert ceiling == round(0.9 / (15 * (343.6e6 / 190e9 + (3.13 * 0.33 + 3.07 * 0.20) / 2 / 1000)), 1) == 22.8
    # the control: without transforms the bound is the convs' alone, higher
    assert ceiling_x_realtime(343.6e6, 190.0, (0, 0), (0.33, 0.20), 2, 0.9, 15) == 33.2
    assert ceiling_x_realtime(None, 190.0, (3, 3), (0.3, 0.2), 2, 0.9, 15) is None
    assert ceiling_x_realtime(1e6, 190.0, None, (0.3, 0.2), 2, 0.9, 15) is None
