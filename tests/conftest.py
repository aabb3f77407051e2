import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch_one_thread():
    """One torch thread, restored afterwards: the round robin dreams one excerpt at a time (small
    convolutions), and on the shared 2-core box a second thread made 24 excerpts 40x slower (80 s vs 1.4 s)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """An untrained Model2 (random weights, seeded) saved as a model directory."""
    import torch

    from dreambridge.models.checkpoint import save_checkpoint
    from dreambridge.models.factory import build_model

    torch.manual_seed(0)
    model = build_model("model2", 4)
    directory = tmp_path_factory.mktemp("models") / "tiny"
    save_checkpoint(model.eval(), directory, {"name": "tiny", "class_names": ["a", "b", "c", "d"]})
    return directory


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from dreambridge.models.checkpoint import load_checkpoint

    return load_checkpoint(tiny_model_dir)


def run_cli(*args, cwd=None, timeout=600):
    """Run the installed console script; return CompletedProcess (text)."""
    exe = shutil.which("dreambridge")
    cmd = [exe, *map(str, args)] if exe else [sys.executable, "-m", "dreambridge.bridge.cli", *map(str, args)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def model_default():
    """The shipped default model (loaded offline, hash checked)."""
    from dreambridge.models.zoo import load_model

    return load_model("default")


def one_clear_line(proc):
    """The stderr of a failed command: exactly one line, no traceback; returns that line."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def automation_file(path, switch_seconds_expected):
    """Tempo 120 bpm, then 60 bpm from beat 2, then 240 bpm from beat 3; CC 77 jumps to
    127 on beat 4. Seconds: beat 2 at 1.0 s, beat 3 at 2.0 s, beat 4 at 2.25 s."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.Message("control_change", control=77, value=0, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=1000000, time=960))
    track.append(mido.MetaMessage("set_tempo", tempo=250000, time=480))
    track.append(mido.Message("control_change", control=77, value=127, time=480))
    mid.save(str(path))
    assert abs(switch_seconds_expected - 2.25) < 1e-9
    return path


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_model):
    """The tiny model exported once: ``(folder, classifier report, dream-step report)``."""
    from dreambridge.export.onnx_export import export_classifier, export_dream_step

    model, card = tiny_model
    out = tmp_path_factory.mktemp("onnx")
    cls = export_classifier(model, card, out / "cls.onnx")
    step = export_dream_step(model, card, out / "step.onnx")
    return out, cls, step


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs (skips where mounting needs rights this machine does not give)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here (needs root/CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
