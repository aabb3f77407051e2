"""bridge/io/files.py: one file (or noise) dreamed to one file: layout and format kept."""

import numpy as np
import pytest
import soundfile as sf
from conftest import one_clear_line, run_cli
from signals import SR, music_like, write

FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.5", "--set", "crossfade_seconds=0.05"]


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
    assert "already exists; pass --overwrite" in one_clear_line(proc)


def test_dream_with_a_model_directory_and_subtype(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", music_like(rng, 0.8), SR, "PCM_16")
    out = tmp_path / "out.wav"
    proc = run_cli("dream", src, "-o", out, "--model", tiny_model_dir, "--subtype", "PCM_24", "--quiet", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert sf.info(str(out)).subtype == "PCM_24"
