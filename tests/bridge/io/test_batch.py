"""bridge/io/batch.py: alignment over a grid of formats, inputs untouched, resume after kill -9,
broken files, --jobs, the manifest and the folder lock; on a GPU folders of one-shots in a few batched
calls, on a CPU file by file."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from hostile import part_files, start_cli, tone, wait_for, wav
from hostile import FAST as HOSTILE_FAST
from hypothesis import given
from hypothesis import strategies as st
from signals import SR, music_like, white_noise, write
from strategies import JSON_VALUES, PROPERTY

from dreambridge.bridge.io import batch

FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.5", "--set", "crossfade_seconds=0.05"]


def _tree_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def stems(tmp_path, rng):
    """A small session: formats, rates, channel counts, one nested folder."""
    folder = tmp_path / "stems"
    (folder / "drums").mkdir(parents=True)
    grid = [("kick.wav", 44100, 1, "PCM_16"), ("drums/overheads.wav", 48000, 2, "PCM_24"),
            ("bass.flac", 96000, 1, "PCM_24"), ("pad.wav", 44100, 2, "FLOAT"), ("surround.wav", 44100, 6, "PCM_16"),
            ("keys.aiff", 48000, 2, "PCM_16")]
    for name, rate, channels, subtype in grid:
        write(folder / name, music_like(rng, 0.9, rate, channels) * 0.8, rate, subtype)
    return folder, grid


def _noise_folder(folder, rng, n_files: int, seconds: float):
    """``folder`` holding ``s0.wav`` ... white-noise files (16-bit)."""
    folder.mkdir()
    for i in range(n_files):
        write(folder / f"s{i}.wav", white_noise(rng, seconds)[None, :], SR, "PCM_16")
    return folder


ENTRY = st.dictionaries(st.sampled_from(["key", "input", "status", "size", "sha256"]),
                        st.one_of(JSON_VALUES, st.sampled_from(["done", "started", "0" * 64])), max_size=5)


def test_alignment_formats_and_untouched_inputs(tmp_path, stems, tiny_model_dir):
    folder, grid = stems
    before = _tree_bytes(folder)
    out = tmp_path / "out"
    proc = run_cli("batch", folder, "-o", out, "--model", tiny_model_dir, "--quiet", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert _tree_bytes(folder) == before  # inputs byte-identical
    for name, rate, channels, subtype in grid:
        src = folder / name
        dst = out / name.replace(src.name, f"{src.stem}_default{src.suffix}")
        a, b = sf.info(str(src)), sf.info(str(dst))
        assert (b.frames, b.samplerate, b.channels, b.format, b.subtype) == (a.frames, a.samplerate, a.channels, a.format, a.subtype), name


def test_mix_zero_is_the_input_to_the_sample(tmp_path, stems, tiny_model_dir):
    folder, grid = stems
    out = tmp_path / "dry"
    proc = run_cli("batch", folder / "pad.wav", folder / "bass.flac", "-o", out, "--model", tiny_model_dir, "--quiet",
                   "--set", "mix=0", *FAST)
    assert proc.returncode == 0, proc.stderr
    x, _ = sf.read(str(folder / "pad.wav"), dtype="float32")
    y, _ = sf.read(str(out / "pad_default.wav"), dtype="float32")
    assert np.array_equal(x, y)  # float32 WAV: exactly the input, no offset, no trimmed tail
    x, _ = sf.read(str(folder / "bass.flac"), dtype="float32")
    y, _ = sf.read(str(out / "bass_default.flac"), dtype="float32")
    assert np.array_equal(x, y)  # 24-bit FLAC at 96 kHz: exactly the input


def test_broken_files_are_reported_and_the_rest_finishes(tmp_path, stems, tiny_model_dir):
    folder, _ = stems
    (folder / "broken.wav").write_text("not audio")
    sf.write(str(folder / "empty.wav"), np.zeros((0, 1)), SR)
    out = tmp_path / "out"
    proc = run_cli("batch", folder, tmp_path / "missing.wav", "-o", out, "--model", tiny_model_dir, "--quiet", "--json", *FAST)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert len(summary["ok"]) == 6 and len(summary["failed"]) == 3
    reasons = " ".join(f["error"] for f in summary["failed"])
    assert "cannot read audio" in reasons and "zero-length" in reasons and "does not exist" in reasons
    assert not list(out.rglob("*.part*"))
    proc = run_cli("batch", folder / "kick.wav", "-o", out, "--model", tiny_model_dir, "--quiet", *FAST)
    assert proc.returncode == 1 and "already exists; pass --overwrite" in proc.stdout


def test_resume_after_kill_gives_identical_outputs(tmp_path, rng, tiny_model_dir):
    folder = _noise_folder(tmp_path / "in", rng, 4, 2.0)
    # Enough work per file (20 iterations x 5 excerpts) that the kill lands mid-run on an idle machine too.
    args = ["--model", tiny_model_dir, "--quiet", "--set", "iterations=20", "--set", "excerpt_seconds=0.5"]
    ref = tmp_path / "ref"
    assert run_cli("batch", folder, "-o", ref, *args).returncode == 0
    out = tmp_path / "out"
    import shutil

    exe = shutil.which("dreambridge")
    proc = subprocess.Popen([exe, "batch", str(folder), "-o", str(out), *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # a shared, loaded machine may take minutes for the first file
    while time.time() < deadline and not list(out.glob("s*_default.wav")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9, as soon as the first file is done: mid-way through the next
    proc.wait()
    finished = sorted(p.name for p in out.glob("s*_default.wav"))
    assert 0 < len(finished) < 4, finished  # really interrupted
    proc = run_cli("batch", folder, "-o", out, "--resume", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    # A file renamed into place just before the kill, but not yet recorded "done", is redone.
    assert len(summary["skipped"]) + len(summary["ok"]) == 4 and len(summary["ok"]) >= 4 - len(finished)
    for i in range(4):
        assert (out / f"s{i}_default.wav").read_bytes() == (ref / f"s{i}_default.wav").read_bytes()
    assert not [p for p in out.iterdir() if ".part" in p.name]


def test_resume_redoes_an_output_killed_between_rename_and_record(tmp_path, rng, tiny_model_dir):
    # The window a kill -9 can hit: the output is renamed into place, the manifest still says "started".
    folder = _noise_folder(tmp_path / "in", rng, 2, 1.0)
    args = ["--model", tiny_model_dir, "--quiet", "--set", "iterations=3", "--set", "excerpt_seconds=0.5"]
    out = tmp_path / "out"
    assert run_cli("batch", folder, "-o", out, *args).returncode == 0
    from dreambridge.bridge.io.batch import MANIFEST_NAME

    manifest_path = out / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    assert {e["status"] for e in manifest.values()} == {"done"}
    victim = "s1_default.wav"  # keys are relative to the output folder (a moved folder keeps its manifest)
    manifest[victim]["status"] = "started"
    manifest_path.write_text(json.dumps(manifest))
    good = (out / "s1_default.wav").read_bytes()
    (out / "s1_default.wav").write_bytes(good[: len(good) // 2])  # whatever is there is not trusted
    proc = run_cli("batch", folder, "-o", out, "--resume", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [Path(r["output"]).name for r in summary["ok"]] == ["s1_default.wav"] and len(summary["skipped"]) == 1
    assert (out / "s1_default.wav").read_bytes() == good
    # without --resume, an existing output is still refused
    proc = run_cli("batch", folder, "-o", out, *args)
    assert proc.returncode != 0 and "already exists" in proc.stderr


def test_jobs_give_the_same_outputs(tmp_path, stems, tiny_model_dir):
    folder, _ = stems
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("batch", folder, "-o", one, "--model", tiny_model_dir, "--quiet", *FAST).returncode == 0
    proc = run_cli("batch", folder, "-o", two, "--model", tiny_model_dir, "--quiet", "--jobs", "2", *FAST)
    assert proc.returncode == 0, proc.stderr
    for path in sorted(one.rglob("*_default.*")):
        a, _ = sf.read(str(path), dtype="float32")
        b, _ = sf.read(str(two / path.relative_to(one)), dtype="float32")
        # separate processes with fewer threads: oneDNN/MKL reduce in the same order here;
        # allow one LSB of 16-bit audio in case a thread split changes the last float bit.
        assert np.abs(a - b).max() <= 1 / 32768, path


@PROPERTY
@given(doc=st.one_of(JSON_VALUES, st.dictionaries(st.text(min_size=1, max_size=8), ENTRY, max_size=3)))
def test_any_batch_manifest_loads_or_gives_one_error(tmp_path, doc):
    from dreambridge.bridge.io.batch import MANIFEST_NAME, _load_manifest
    from dreambridge.presets.errors import ParameterError

    (tmp_path / MANIFEST_NAME).write_text(json.dumps(doc))
    try:
        manifest = _load_manifest(tmp_path)
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(isinstance(entry, dict) and isinstance(entry["key"], str) for entry in manifest.values())


def test_two_batches_into_one_folder_the_second_is_refused(tmp_path, tiny_model_dir):
    (tmp_path / "in").mkdir()
    for i in range(2):
        wav(tmp_path / "in" / f"s{i}.wav", tone(4.0, seed=i))
    args = ["batch", tmp_path / "in", "-o", tmp_path / "out", "--quiet", "--model", tiny_model_dir, "--set", "iterations=20"]
    first = start_cli(args)
    assert wait_for(tmp_path / "out", ".*.part*", first)
    # The first batch is paused while it holds the folder (mid-file, a .part written): a fast first batch
    # could otherwise finish before the second one has imported torch, and the race would decide the test.
    first.send_signal(signal.SIGSTOP)
    try:
        second = run_cli(*args, "--overwrite")
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and "another batch" in second.stderr and "Traceback" not in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not part_files(tmp_path / "out") and len(list((tmp_path / "out").glob("*_default.wav"))) == 2


def test_resume_survives_a_moved_folder_and_redoes_a_damaged_output(tmp_path, tiny_model_dir):
    (tmp_path / "in").mkdir()
    for i in range(2):
        wav(tmp_path / "in" / f"s{i}.wav", tone(0.5, seed=i))
    args = ["--quiet", "--model", tiny_model_dir, "--json", *HOSTILE_FAST]
    assert run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", *args).returncode == 0
    shutil.move(tmp_path / "out", tmp_path / "moved")
    proc = run_cli("batch", tmp_path / "in", "-o", tmp_path / "moved", "--resume", *args)
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["skipped"]) == 2, proc.stderr
    victim = tmp_path / "moved" / "s1_default.wav"
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) - 100])  # truncated: same name, wrong size and hash
    proc = run_cli("batch", tmp_path / "in", "-o", tmp_path / "moved", "--resume", *args)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0 and [Path(r["output"]).name for r in summary["ok"]] == ["s1_default.wav"]
    assert victim.read_bytes() == good


def test_resume_under_another_job_count_redoes_rather_than_mixes(tmp_path, tiny_model_dir):
    (tmp_path / "in").mkdir()
    for i in range(2):
        wav(tmp_path / "in" / f"s{i}.wav", tone(0.5, seed=i))
    args = ["--quiet", "--model", tiny_model_dir, "--json", *HOSTILE_FAST]
    assert run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", *args).returncode == 0
    threads = os.cpu_count() or 1
    proc = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--resume", "--jobs", "2", *args)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    # The thread count is part of each output's key: a different one redoes, the same one skips.
    expected_skips = 2 if max(1, threads // 2) == threads else 0
    assert len(summary["skipped"]) == expected_skips and len(summary["ok"]) == 2 - expected_skips


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


def test_cpu_route_groups_one_shots_by_the_backends_batch(tiny_model_dir, tmp_path, rng):
    """On a CPU one-shots are grouped too (torch: one file per group, onnx: four excerpt-channels); a
    file that cannot be read, or is longer than an excerpt, goes file by file; the round robin never groups."""
    jobs = []
    for name, seconds in (("a", 0.3), ("b", 0.4), ("c", 0.2), ("d", 0.45), ("e", 0.3), ("long", 0.8)):
        sf.write(tmp_path / f"{name}.wav", music_like(rng, seconds).T, SR, subtype="PCM_16")
        jobs.append(batch.BatchJob(str(tmp_path / f"{name}.wav"), str(tmp_path / f"{name}.out.wav")))
    jobs.append(batch.BatchJob(str(tmp_path / "missing.wav"), str(tmp_path / "m.out.wav")))
    for backend, sizes in (("torch", [1, 1, 1, 1, 1]), ("onnx", [4, 1])):
        settings = batch.BatchSettings("default", SETS, str(tiny_model_dir), backend, "cpu", 0, None)
        dreamer, _ = batch._make_dreamer(settings)
        groups, rest = batch._short_groups(dreamer, jobs)
        assert [len(g) for g in groups] == sizes and rest == jobs[5:]
    settings = batch.BatchSettings("bisig-exp2", [], str(tiny_model_dir), "torch", "cpu", 0, None)
    dreamer, _ = batch._make_dreamer(settings)
    assert batch._short_groups(dreamer, jobs) == ([], jobs)


def test_a_one_shot_alone_and_among_eight_gives_the_same_bits(tmp_path, rng, monkeypatch):
    """On the shipped graphs (onnx, CPU) a folder of eight one-shots is dreamed in groups of four
    on two threads; each output equals, bit for bit, the batch of that one file alone: a file's dream
    depends on itself only (its own excerpt 0 and random stream), never on its batch-mates."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(8):
        seconds = 0.3 if i < 5 else 0.45  # two dream lengths: one group splits into two batches
        sf.write(folder / f"s{i}.wav", music_like(rng, seconds).T, SR, subtype="PCM_16")
    settings = batch.BatchSettings("default", ["iterations=3"], "default", "onnx", "cpu", 0, "FLOAT", threads=2)
    quiet = {"progress": False, "log": lambda line: None}
    groups_seen = []
    parallel = batch._parallel_groups
    monkeypatch.setattr(batch, "_parallel_groups",
                        lambda s, groups, *a: groups_seen.append(len(groups)) or parallel(s, groups, *a))
    summary = batch.run_batch([str(folder)], tmp_path / "together", "{stem}.{ext}", settings, **quiet)
    assert len(summary["ok"]) == 8 and not summary["failed"] and groups_seen == [2]  # 4 + 4, on two threads
    for i in (0, 4, 6):
        alone = tmp_path / f"alone{i}"
        alone.mkdir()
        shutil.copy(folder / f"s{i}.wav", alone / f"s{i}.wav")
        assert len(batch.run_batch([str(alone)], tmp_path / f"out{i}", "{stem}.{ext}", settings, **quiet)["ok"]) == 1
        a, b = sf.read(tmp_path / "together" / f"s{i}.wav")[0], sf.read(tmp_path / f"out{i}" / f"s{i}.wav")[0]
        assert a.shape == (int((0.3 if i < 5 else 0.45) * SR),) and np.array_equal(a, b), i
