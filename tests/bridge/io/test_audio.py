"""bridge/io/audio.py: reading and atomic writing: the ceiling, non-finite blocks, corrupt input in
every format soundfile writes, a full disk."""

import math

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from hostile import CEILING, FAST, part_files, sha256_of, tone, wav
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SUBTYPES = [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24"),
            ("AIFF", "PCM_16"), ("WAV", "PCM_U8"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]


def _writable():
    out = []
    for fmt in sf.available_formats():
        subtype = sf.default_subtype(fmt)
        if subtype and fmt not in ("RAW",):
            out.append((fmt, subtype))
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gain=st.floats(0, 1e6, allow_subnormal=False), fmt=st.sampled_from(SUBTYPES), seed=st.integers(0, 2**16))
@example(gain=30834.0, fmt=("MP3", "MPEG_LAYER_III"), seed=7924)  # clipped noise: MP3's overshoot is not monotonic
def test_whatever_is_written_decodes_finite_and_under_the_ceiling(tmp_path, gain, fmt, seed):
    from dreambridge.bridge.io.audio import atomic_writer

    audio = (np.random.default_rng(seed).standard_normal((2, 4410)) * gain).astype(np.float32)
    path = tmp_path / f"o.{fmt[0].lower().replace('aiff', 'aif')}"
    with atomic_writer(path, 44100, 2, *fmt) as write:
        write(audio)
    decoded, _ = sf.read(str(path), dtype="float64")
    assert np.all(np.isfinite(decoded)) and np.max(np.abs(decoded)) <= CEILING  # the promise is exact: no tolerance
    assert not part_files(tmp_path)


def test_non_finite_blocks_are_an_error_and_leave_nothing(tmp_path):
    from dreambridge.bridge.io.audio import atomic_writer
    from dreambridge.presets.errors import AudioIOError

    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(AudioIOError, match="NaN or Inf"):
            with atomic_writer(tmp_path / "o.wav", 44100, 1, "WAV", "FLOAT") as write:
                write(np.zeros((1, 100), np.float32))
                write(np.full((1, 100), bad, np.float32))
    assert list(tmp_path.iterdir()) == []


def test_pcm16_peaks_at_the_ceiling_code_both_ways(tmp_path):
    from dreambridge.bridge.io.audio import write_audio

    write_audio(tmp_path / "o.wav", np.array([[1.0, -1.0, 0.5]], np.float32), 44100, "PCM_16")
    codes, _ = sf.read(str(tmp_path / "o.wav"), dtype="int16")
    top = math.floor(CEILING * 32768)  # the largest code that decodes (code / 32768) at or under the ceiling
    assert abs(codes[0]) <= top and codes[1] == -top and codes[2] == 16384


@pytest.mark.parametrize("fmt,subtype", _writable())
@pytest.mark.parametrize("how", ["truncated", "bitflip", "garbage", "header-only"])
def test_corrupt_audio_reads_or_gives_one_audio_error(tmp_path, fmt, subtype, how):
    from hostile import corrupt

    from dreambridge.bridge.io.audio import probe, read_audio
    from dreambridge.presets.errors import AudioIOError

    path = tmp_path / f"in.{fmt.lower()}"
    try:
        sf.write(str(path), tone(0.5, 2).T, 44100, format=fmt, subtype=subtype)
    except Exception as exc:  # noqa: BLE001 - some containers refuse 2 ch / 44.1 kHz: not ours to test
        pytest.skip(f"{fmt}/{subtype} does not take this signal ({exc})")
    corrupt(path, how, seed=7)
    before = sha256_of(path)
    try:
        info = probe(path)
        audio, _ = read_audio(path)
    except AudioIOError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert audio.shape == (info.n_channels, info.n_samples) and np.all(np.isfinite(audio))
        assert np.max(np.abs(audio)) <= 1.0
    assert sha256_of(path) == before


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, full_disk, tiny_model_dir):
    src = wav(tmp_path / "in.wav", tone(8.0, 2), "FLOAT")  # 8 s stereo float: 2.8 MB, over the 1 MiB disk
    before = sha256_of(src)
    proc = run_cli("dream", src, "-o", full_disk / "o.wav", "--subtype", "FLOAT", "--quiet", "--model", tiny_model_dir, *FAST)
    assert proc.returncode != 0 and "no space left" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert list(full_disk.iterdir()) == [] and sha256_of(src) == before
    # batch: the file that fits is written, the one that does not fails alone, the batch goes on
    (tmp_path / "in").mkdir()
    wav(tmp_path / "in" / "a_small.wav", tone(0.3))
    wav(tmp_path / "in" / "b_big.wav", tone(8.0, 2), "FLOAT")
    wav(tmp_path / "in" / "c_small.wav", tone(0.3))
    proc = run_cli("batch", tmp_path / "in", "-o", full_disk / "out", "--quiet", "--model", tiny_model_dir, *FAST)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "no space left" in proc.stderr
    assert (full_disk / "out" / "a_small_default.wav").exists() and (full_disk / "out" / "c_small_default.wav").exists()
    assert not part_files(full_disk)
