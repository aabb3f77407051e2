"""presets/fileutil.py: the one atomic writer: read-only folders, signals and kill -9 leave no
partial file."""

import shutil
import signal
import subprocess
import time

import pytest
from conftest import run_cli
from hostile import FAST, part_files, sha256_of, start_cli, tone, wait_for, wav


@pytest.fixture
def read_only_dir(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], capture_output=True, text=True) \
        if shutil.which("mount") else None
    if proc is None or proc.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root/CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_read_only_folder_is_one_line_for_every_writer(tmp_path, read_only_dir, tiny_model_dir):
    src = wav(tmp_path / "in.wav")
    before = sha256_of(src)
    for args in (["dream", src, "-o", read_only_dir / "o.wav", "--quiet", "--model", tiny_model_dir, *FAST],
                 ["dream", src, "-o", tmp_path / "o.wav", "--plot", read_only_dir / "p.png", "--quiet", "--model",
                  tiny_model_dir, *FAST],
                 ["batch", src, "-o", read_only_dir, "--quiet", "--model", tiny_model_dir, *FAST],
                 ["export", tiny_model_dir, "-o", read_only_dir / "m.onnx"]):
        proc = run_cli(*args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "read-only" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o.wav").exists() and sha256_of(src) == before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_batch_signalled_with_workers_leaves_no_part(tmp_path, tiny_model_dir, sig):
    (tmp_path / "in").mkdir()
    for i in range(3):
        wav(tmp_path / "in" / f"s{i}.wav", tone(5.0, seed=i))
    proc = start_cli(["batch", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--quiet", "--model", tiny_model_dir,
                   "--set", "iterations=30"])
    assert wait_for(tmp_path / "out", ".*.part*", proc), proc.communicate()[1]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err
    time.sleep(0.5)  # the workers' own clean-up runs as they exit
    assert not part_files(tmp_path / "out")


def test_kill_9_leaves_no_visible_output_and_the_next_run_cleans_up(tmp_path, tiny_model_dir):
    src = wav(tmp_path / "in.wav", tone(5.0))
    args = ["dream", src, "-o", tmp_path / "o.wav", "--quiet", "--model", tiny_model_dir, "--set", "iterations=30"]
    proc = start_cli(args)
    assert wait_for(tmp_path, ".o.*.part*", proc)
    proc.kill()
    proc.communicate()
    assert not (tmp_path / "o.wav").exists() and part_files(tmp_path)  # -9 cannot be caught: the .part stays ...
    proc = run_cli(*args[:-2], *FAST)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.wav").exists() and not part_files(tmp_path)  # ... until the next writer of that name


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_the_moment_the_part_file_appears_still_removes_it(tmp_path, monkeypatch, sig):
    """The signal lands right after the temporary file is created, before the writer has gone on:
    it must already be registered, so the handler removes it (this once left a ``.part`` behind)."""
    import os
    import tempfile

    from dreambridge.presets import fileutil

    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        os.kill(os.getpid(), getattr(signal, sig))  # delivered while the file exists
        return made

    monkeypatch.setattr(fileutil.tempfile, "mkstemp", mkstemp_then_signal)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        with fileutil.signal_cleanup():
            with fileutil.atomic_path(tmp_path / "out.wav") as tmp:
                tmp.write_bytes(b"never finished")
                time.sleep(1)  # a handler that had not run yet would run here at the latest
    assert part_files(tmp_path) == [] and not (tmp_path / "out.wav").exists()
