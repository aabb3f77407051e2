"""``batch`` on a GPU dreams folders of one-shots in a few batched calls; on a CPU file by file."""

import numpy as np
import soundfile as sf
from signals import SR, music_like

from dreambridge.bridge.io import batch

SETS = ["iterations=3", "excerpt_seconds=0.5", "crossfade_seconds=0.05"]


def test_gpu_route_batches_one_shots_and_matches_file_by_file(tiny_model_dir, rng, tmp_path, monkeypatch):
    """The grouping a CUDA device takes, run here on the CPU (``device_type`` is what decides the route;
    every op then runs on the CPU backend): one-shots of one rate and channel count go through
    ``dream_short_files`` in batches, a file longer than an excerpt and a stereo one-shot by themselves."""
    settings = batch.BatchSettings("default", SETS, str(tiny_model_dir), "torch", "cpu", 0, None)
    dreamer, resolved = batch._make_dreamer(settings)
    monkeypatch.setattr(batch, "_DREAMER", dreamer)
    monkeypatch.setattr(batch, "_RESOLVED", resolved)
    files = [(f"shot{i}", 0.2 + 0.05 * i, 1) for i in range(5)] + [("long", 1.3, 1), ("stereo", 0.3, 2)]
    jobs = []
    for name, seconds, channels in files:
        path = tmp_path / f"{name}.wav"
        sf.write(path, music_like(rng, seconds, n_channels=channels).T, SR, subtype="PCM_24")
        jobs.append(batch.BatchJob(str(path), str(tmp_path / f"{name}.out.wav")))
    reference = [batch.dream_job((dreamer, resolved), batch.BatchJob(j.input, j.output + ".ref.wav"), None)
                 for j in jobs]
    dreamer.device_type, dreamer.batch_size = "cuda", 4  # take the GPU route
    groups, rest = batch._short_groups(dreamer, jobs)
    assert [len(g) for g in groups] == [4, 1, 1]  # 5 mono one-shots in batches of 4; the stereo one alone
    assert [j.input for j in rest] == [jobs[5].input]
    results = list(batch._in_process(jobs, None, False))
    assert all(r["ok"] for r in results) and len(results) == len(jobs)
    for job, ref in zip(jobs, reference):
        a, b = sf.read(ref["output"])[0], sf.read(job.output)[0]
        assert a.shape == b.shape == sf.read(job.input)[0].shape
        # batched excerpts round differently in oneDNN (~5e-7); PCM_24 quantises to 1.2e-7
        assert np.max(np.abs(a - b)) < 1e-4


def test_cpu_route_is_file_by_file(tiny_model_dir):
    settings = batch.BatchSettings("default", SETS, str(tiny_model_dir), "torch", "cpu", 0, None)
    dreamer, _ = batch._make_dreamer(settings)
    jobs = [batch.BatchJob("a.wav", "b.wav")]
    assert batch._short_groups(dreamer, jobs) == ([], jobs)
