"""bridge/cli/__init__.py: the ``dreambridge`` command's parser and its error boundary (one clear line,
the exit code, no output), and a sample of every group of the hostile table (``hostile.py``)."""

import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import one_clear_line, run_cli
from hostile import CASES, Env, run_case
from signals import SR, music_like, write

FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.5", "--set", "crossfade_seconds=0.05"]


def _nan_wav(path):
    data = np.zeros((SR, 1), dtype=np.float32)
    data[1000] = np.nan
    sf.write(str(path), data, SR, subtype="FLOAT")
    return path


def _sample():
    """Up to three cases of every group (first, middle, last), signals and FIFOs included."""
    by_group = {}
    for case in CASES:
        by_group.setdefault(case.group, []).append(case)
    out = []
    for cases in by_group.values():
        picks = {0, len(cases) // 2, len(cases) - 1}
        out += [cases[i] for i in sorted(picks)]
    return out


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("hostile"))


def test_help_is_instant_and_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("dream", "presets", "models", "train", "data", "bench"):
        assert cmd in proc.stdout


@pytest.mark.parametrize("case, expect", [
    ("missing", "does not exist"),
    ("unreadable", "cannot read audio"),
    ("empty", "zero-length"),
    ("nan", "NaN or Inf"),
    ("unknown_param", "unknown parameter 'cutoff'"),
    ("out_of_range", "lowpass_hz=30000 is above Nyquist"),
    ("bad_layer", "layer=12 is outside"),
    ("bad_hash", "does not match the card"),
    ("bad_preset", "unknown preset"),
    ("same_file", "is the input file"),
])
def test_bad_input_is_one_clear_line_and_no_output(tmp_path, tiny_model_dir, case, expect):
    src = tmp_path / "in.wav"
    write(src, music_like(np.random.default_rng(0), 0.5))
    out = tmp_path / "out.wav"
    args = ["dream", src, "-o", out, "--model", tiny_model_dir, "--quiet", *FAST]
    if case == "missing":
        args[1] = tmp_path / "nope.wav"
    elif case == "unreadable":
        (tmp_path / "text.wav").write_text("not audio")
        args[1] = tmp_path / "text.wav"
    elif case == "empty":
        sf.write(str(tmp_path / "empty.wav"), np.zeros((0, 1)), SR)
        args[1] = tmp_path / "empty.wav"
    elif case == "nan":
        args[1] = _nan_wav(tmp_path / "nan.wav")
    elif case == "unknown_param":
        args += ["--set", "cutoff=3"]
    elif case == "out_of_range":
        args += ["--set", "lowpass_hz=30000"]
    elif case == "bad_layer":
        args += ["--set", "layer=12"]
    elif case == "bad_hash":
        bad = tmp_path / "model"
        shutil.copytree(tiny_model_dir, bad)
        data = bytearray((bad / "weights.safetensors").read_bytes())
        data[-5] ^= 0x55
        (bad / "weights.safetensors").write_bytes(bytes(data))
        args[args.index("--model") + 1] = bad
    elif case == "bad_preset":
        args += ["--preset", "nope"]
    elif case == "same_file":
        args[3] = src
    before = open(src, "rb").read()
    line = one_clear_line(run_cli(*args))
    assert expect in line, line
    assert not out.exists()
    assert open(src, "rb").read() == before
    leftovers = [p.name for p in tmp_path.iterdir() if ".part" in p.name]
    assert not leftovers


@pytest.mark.parametrize("case", _sample(), ids=lambda c: f"g{c.group:02d}-{c.name}")
def test_hostile_case_keeps_every_promise(case, hostile_env, tmp_path):
    outcome = run_case(case, hostile_env, tmp_path)
    assert not outcome.traceback, outcome.message
    assert not outcome.inputs_modified
    assert not outcome.partial_files
    assert not outcome.wrong, outcome.wrong


@pytest.mark.parametrize("backend, torch_loaded", [(["--backend", "onnx"], False), ([], False),
                                                   (["--backend", "torch"], True)])
def test_dream_and_batch_with_the_onnx_backend_never_import_torch(tmp_path, rng, backend, torch_loaded):
    """The default model ships its dream-step graphs: ``--backend onnx`` on a CPU, and the
    default ``auto`` there, run on onnxruntime and numpy alone, from the command line to the
    written files; ``--backend torch`` (the control) loads torch."""
    import subprocess
    import sys

    write(tmp_path / "one.wav", music_like(rng, 0.6, n_channels=2), subtype="PCM_16")
    (tmp_path / "shots").mkdir()
    for i in range(3):
        write(tmp_path / "shots" / f"s{i}.wav", music_like(rng, 0.3), subtype="PCM_16")
    code = (
        "import sys\n"
        "from dreambridge.bridge.cli import main\n"
        f"base = {str(tmp_path)!r}\n"
        f"fast = {backend!r} + ['--device', 'cpu', '--set', 'iterations=2', '--quiet']\n"
        "assert main(['dream', base + '/one.wav', '-o', base + '/out.wav', *fast]) == 0\n"
        "assert main(['batch', base + '/shots', '-o', base + '/outs', *fast]) == 0\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == ("torch imported" if torch_loaded else "no torch")
    assert sf.info(str(tmp_path / "out.wav")).frames == int(0.6 * SR)
    assert sorted(p.name for p in (tmp_path / "outs").glob("*.wav")) == [f"s{i}_default.wav" for i in range(3)]
