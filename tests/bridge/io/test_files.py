"""bridge/io/files.py: one file (or noise) dreamed to one file: layout and format kept;
``dream_short_files``: one-shots dreamed in one batch equal ``dream_file`` file by file."""

import numpy as np
import pytest
import soundfile as sf
from conftest import one_clear_line, run_cli
from signals import SR, music_like, write

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.io.files import dream_file, dream_short_files
from dreambridge.presets import DreamParams

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


PARAMS = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05)


def _shots(tmp_path, rng, n, seconds=0.3, channels=1):
    paths = []
    for i in range(n):
        path = tmp_path / f"in{i}.wav"
        sf.write(path, music_like(rng, seconds * (0.5 + 0.5 * i / n), n_channels=channels).T, SR, subtype="FLOAT")
        paths.append(path)
    return paths


def test_batched_one_shots_equal_file_by_file(tiny_model, rng, tmp_path):
    paths = _shots(tmp_path, rng, 4, channels=2)
    alone = Dreamer(tiny_model, PARAMS, device="cpu", batch_size=1)
    together = Dreamer(tiny_model, PARAMS, device="cpu", batch_size=8)
    for p in paths:
        dream_file(alone, p, tmp_path / f"{p.stem}.alone.wav", progress=False)
    items = [(p, tmp_path / f"{p.stem}.together.wav", None, None) for p in paths]
    missing = (tmp_path / "missing.wav", tmp_path / "never.wav", None, None)
    results = dream_short_files(together, [*items[:2], missing, *items[2:]])
    assert [type(r).__name__ for r in results].count("RenderStats") == 4
    assert "AudioIOError" in type(results[2]).__name__ or isinstance(results[2], OSError)
    assert not (tmp_path / "never.wav").exists()  # a failed file leaves nothing
    for p in paths:
        a, rate_a = sf.read(tmp_path / f"{p.stem}.alone.wav", dtype="float32")
        b, rate_b = sf.read(tmp_path / f"{p.stem}.together.wav", dtype="float32")
        assert rate_a == rate_b and a.shape == b.shape == sf.read(p)[0].shape  # same length: aligned at sample 0
        # oneDNN rounds a batch of 8 excerpt-channels differently from one at a time: ~5e-7 measured
        assert np.max(np.abs(a - b)) < 1e-4


def test_one_file_alone_is_dream_file_to_the_bit(tiny_model, rng, tmp_path):
    (path,) = _shots(tmp_path, rng, 1)
    dreamer = Dreamer(tiny_model, PARAMS, device="cpu")
    dream_file(dreamer, path, tmp_path / "a.wav", progress=False)
    dream_short_files(dreamer, [(path, tmp_path / "b.wav", None, None)])
    assert np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
