"""The dreambridge command end to end, and every bad input of the foundation issue."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from signals import SR, music_like, write

FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.5", "--set", "crossfade_seconds=0.05"]


def _one_clear_line(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_help_is_instant_and_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("dream", "presets", "models", "train", "data", "bench"):
        assert cmd in proc.stdout


@pytest.mark.slow
def test_dream_noise_with_the_shipped_default_model(tmp_path):
    out = tmp_path / "noise.wav"
    proc = run_cli("dream", "--init", "noise", "--duration", "1.5", "-o", out, "--quiet", *FAST)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(str(out), always_2d=True)
    assert rate == SR and audio.shape == (int(1.5 * SR), 1)
    assert np.all(np.isfinite(audio)) and 0.3 < np.max(np.abs(audio)) <= 10 ** (-0.1 / 20)


@pytest.mark.slow
@pytest.mark.parametrize("ext, subtype, rate, channels", [
    ("wav", "PCM_16", 44100, 2), ("flac", "PCM_24", 48000, 1), ("wav", "FLOAT", 44100, 1), ("aiff", "PCM_16", 44100, 2),
])
def test_dream_file_keeps_layout_and_format(tmp_path, rng, ext, subtype, rate, channels):
    src = write(tmp_path / f"in.{ext}", music_like(rng, 1.3, sample_rate=rate, n_channels=channels), rate, subtype)
    before = open(src, "rb").read()
    out = tmp_path / f"out.{ext}"
    proc = run_cli("dream", src, "-o", out, "--quiet", "--seed", "3", *FAST)
    assert proc.returncode == 0, proc.stderr
    a, b = sf.info(src), sf.info(str(out))
    assert (b.frames, b.samplerate, b.channels, b.format, b.subtype) == (a.frames, a.samplerate, a.channels, a.format, a.subtype)
    assert open(src, "rb").read() == before  # the input is never touched
    proc = run_cli("dream", src, "-o", out, "--quiet")
    assert "already exists; pass --overwrite" in _one_clear_line(proc)


def test_dream_with_a_model_directory_and_subtype(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", music_like(rng, 0.8), SR, "PCM_16")
    out = tmp_path / "out.wav"
    proc = run_cli("dream", src, "-o", out, "--model", tiny_model_dir, "--subtype", "PCM_24", "--quiet", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert sf.info(str(out)).subtype == "PCM_24"


def test_presets_and_models_commands():
    proc = run_cli("presets", "list")
    assert proc.returncode == 0 and "bisig-exp1" in proc.stdout and "default" in proc.stdout
    proc = run_cli("presets", "show", "bisig-exp2")
    assert proc.returncode == 0 and "learning_rate = 0.04" in proc.stdout
    proc = run_cli("models", "list")
    assert proc.returncode == 0 and "(default)" in proc.stdout and "model2" in proc.stdout
    proc = run_cli("models", "show", "default")
    card = json.loads(proc.stdout)
    assert card["architecture"]["arch"] == "model2" and len(card["class_names"]) == 128


def _nan_wav(path):
    data = np.zeros((SR, 1), dtype=np.float32)
    data[1000] = np.nan
    sf.write(str(path), data, SR, subtype="FLOAT")
    return path


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
    line = _one_clear_line(run_cli(*args))
    assert expect in line, line
    assert not out.exists()
    assert open(src, "rb").read() == before
    leftovers = [p.name for p in tmp_path.iterdir() if ".part" in p.name]
    assert not leftovers


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
