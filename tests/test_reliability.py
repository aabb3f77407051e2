"""Robustness: hostile inputs, property-based data files, corrupt audio, full disks, signals,
concurrent batches. Every case asserts the same promises: the exit code, one line and no
traceback, inputs unchanged, no partial file, outputs finite and under the ceiling.

The hostile table itself lives in ``hostile.py`` (``python tests/hostile.py`` re-runs all
of it); here a sample of every group runs, plus the checks that need their own set-up.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from hostile import CASES, CEILING, Env, run_case, tone, wav

FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.25", "--set", "crossfade_seconds=0.05"]
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _partials(folder: Path) -> list:
    return [p for p in Path(folder).rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


# -- the hostile table: a sample of every group ---------------------------------------------
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


@pytest.mark.parametrize("case", _sample(), ids=lambda c: f"g{c.group:02d}-{c.name}")
def test_hostile_case_keeps_every_promise(case, hostile_env, tmp_path):
    outcome = run_case(case, hostile_env, tmp_path)
    assert not outcome.traceback, outcome.message
    assert not outcome.inputs_modified
    assert not outcome.partial_files
    assert not outcome.wrong, outcome.wrong


# -- property-based: data files never escape as anything but one clear error ----------------
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(doc: dict) -> str:
    """A small TOML writer: top-level values inline, tables as [t], lists of tables as [[t]]."""
    head, tail = ["schema = 1"], []
    for key, value in doc.items():
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            tail.append(f"[{key}]")
            tail += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tail.append(f"[[{key}]]")
                tail += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()]
        else:
            head.append(f"{json.dumps(key)} = {_toml_value(value)}")
    return "\n".join(head + tail) + "\n"


# allow_subnormal=False: pedalboard and DawDreamer (JUCE) switch on flush-to-zero in-process, and hypothesis
# refuses to draw subnormal floats once it is on (the plugin tests run earlier in the same session).
SCALARS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), st.booleans(),
                    st.text(max_size=12), st.sampled_from(["max", "lin", "log", "choice", "Gain", "mix", "layer", "default"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)
PARAM_NAMES = st.sampled_from(["layer", "channel", "iterations", "learning_rate", "mix", "lowpass_hz", "grad_norm", "mode",
                               "seed", "excerpt_seconds", "crossfade_seconds", "bogus"])
PRESET_DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "description": VALUES,
    "params": st.one_of(VALUES, st.dictionaries(PARAM_NAMES, SCALARS, max_size=4)),
    "sequence": st.one_of(VALUES, st.lists(st.dictionaries(st.sampled_from(["time", "layer", "mix"]), SCALARS, max_size=3),
                                           max_size=3)),
    "fx": st.one_of(VALUES, st.fixed_dictionaries({}, optional={
        "post": st.lists(st.dictionaries(st.sampled_from(["plugin", "gain_db", "wet_level", "vst3"]), SCALARS, max_size=3),
                         max_size=2)})),
})
CC_ENTRY = st.dictionaries(st.sampled_from(["cc", "channel", "param", "range", "curve", "values", "smoothing_ms", "x"]),
                           st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=6)
MAP_DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "cc": st.one_of(VALUES, st.lists(CC_ENTRY, max_size=3)),
    "program_change": st.one_of(VALUES, st.lists(st.dictionaries(st.sampled_from(["program", "preset"]), SCALARS,
                                                                 max_size=2), max_size=2)),
})


@PROPERTY
@given(doc=PRESET_DOCS)
def test_any_preset_loads_or_gives_one_parameter_error(tmp_path, doc):
    from dreambridge.presets import load_preset
    from dreambridge.presets.errors import ParameterError

    path = tmp_path / "p.toml"
    path.write_text(_toml(doc))
    try:
        preset = load_preset(path)
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name, value in preset.params.to_dict().items():
        assert not isinstance(value, float) or math.isfinite(value), name
    assert all(math.isfinite(t) and t >= 0 for t, _ in preset.sequence)


@PROPERTY
@given(doc=MAP_DOCS)
def test_any_midi_map_loads_or_gives_one_parameter_error(tmp_path, doc):
    from dreambridge.presets.errors import ParameterError
    from dreambridge.presets.midimap import load_midi_map

    path = tmp_path / "m.toml"
    path.write_text(_toml(doc))
    try:
        midi_map = load_midi_map(path)
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for mapping in midi_map.cc:  # every value a controller can send is a valid parameter value
        for cc_value in (0, 64, 127):
            value = mapping.value(cc_value)
            assert not isinstance(value, float) or math.isfinite(value)


@PROPERTY
@given(key=PARAM_NAMES, raw=st.one_of(st.text(max_size=10), st.floats(allow_subnormal=False).map(repr), st.integers().map(str)))
def test_any_set_assignment_is_valid_or_one_parameter_error(key, raw):
    from dreambridge.presets import DreamParams, parse_assignment
    from dreambridge.presets.errors import ParameterError

    try:
        params = DreamParams().replace(**dict([parse_assignment(f"{key}={raw}")]))
    except ParameterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(not isinstance(v, float) or math.isfinite(v) for v in params.to_dict().values())


JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_subnormal=False), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                                max_size=3)), max_leaves=8)
ENTRY = st.dictionaries(st.sampled_from(["key", "input", "status", "size", "sha256"]),
                        st.one_of(JSON_VALUES, st.sampled_from(["done", "started", "0" * 64])), max_size=5)


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


CARD_EDITS = st.dictionaries(st.sampled_from(["architecture", "weights_sha256", "class_names", "weights", "n_parameters",
                                              "test_accuracy", "name"]), JSON_VALUES, max_size=3)


@PROPERTY
@given(edit=CARD_EDITS)
def test_any_model_card_reads_or_gives_one_model_error(tmp_path, tiny_model_dir, edit):
    from dreambridge.models.checkpoint import read_card
    from dreambridge.presets.errors import ModelLoadError

    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    card = json.loads((tiny_model_dir / "model.json").read_text())
    card.update(edit)
    (folder / "model.json").write_text(json.dumps(card))
    try:
        read = read_card(folder)
    except ModelLoadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert read["architecture"]["n_classes"] >= 1 and len(read["class_names"]) >= 1


SUBTYPES = [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24"),
            ("AIFF", "PCM_16"), ("WAV", "PCM_U8"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gain=st.floats(0, 1e6, allow_subnormal=False), fmt=st.sampled_from(SUBTYPES), seed=st.integers(0, 2**16))
def test_whatever_is_written_decodes_finite_and_under_the_ceiling(tmp_path, gain, fmt, seed):
    from dreambridge.bridge.io.audio import atomic_writer

    audio = (np.random.default_rng(seed).standard_normal((2, 4410)) * gain).astype(np.float32)
    path = tmp_path / f"o.{fmt[0].lower().replace('aiff', 'aif')}"
    with atomic_writer(path, 44100, 2, *fmt) as write:
        write(audio)
    decoded, _ = sf.read(str(path), dtype="float64")
    assert np.all(np.isfinite(decoded)) and np.max(np.abs(decoded)) <= CEILING  # the promise is exact: no tolerance
    assert not _partials(tmp_path)


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


# -- corrupt audio in every format soundfile writes ----------------------------------------------
def _writable():
    out = []
    for fmt in sf.available_formats():
        subtype = sf.default_subtype(fmt)
        if subtype and fmt not in ("RAW",):
            out.append((fmt, subtype))
    return out


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
    before = _sha(path)
    try:
        info = probe(path)
        audio, _ = read_audio(path)
    except AudioIOError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert audio.shape == (info.n_channels, info.n_samples) and np.all(np.isfinite(audio))
        assert np.max(np.abs(audio)) <= 1.0
    assert _sha(path) == before


# -- disk full on a small tmpfs ------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path):
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


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, full_disk, tiny_model_dir):
    src = wav(tmp_path / "in.wav", tone(8.0, 2), "FLOAT")  # 8 s stereo float: 2.8 MB, over the 1 MiB disk
    before = _sha(src)
    proc = run_cli("dream", src, "-o", full_disk / "o.wav", "--subtype", "FLOAT", "--quiet", "--model", tiny_model_dir, *FAST)
    assert proc.returncode != 0 and "no space left" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert list(full_disk.iterdir()) == [] and _sha(src) == before
    # batch: the file that fits is written, the one that does not fails alone, the batch goes on
    (tmp_path / "in").mkdir()
    wav(tmp_path / "in" / "a_small.wav", tone(0.3))
    wav(tmp_path / "in" / "b_big.wav", tone(8.0, 2), "FLOAT")
    wav(tmp_path / "in" / "c_small.wav", tone(0.3))
    proc = run_cli("batch", tmp_path / "in", "-o", full_disk / "out", "--quiet", "--model", tiny_model_dir, *FAST)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "no space left" in proc.stderr
    assert (full_disk / "out" / "a_small_default.wav").exists() and (full_disk / "out" / "c_small_default.wav").exists()
    assert not _partials(full_disk)


def test_disk_full_export_leaves_no_tmp(full_disk, tiny_model_dir):
    (full_disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))  # leave 64 KiB: the graph does not fit
    proc = run_cli("export", tiny_model_dir, "-o", full_disk / "m.onnx")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "no space left" in proc.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


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
    before = _sha(src)
    for args in (["dream", src, "-o", read_only_dir / "o.wav", "--quiet", "--model", tiny_model_dir, *FAST],
                 ["dream", src, "-o", tmp_path / "o.wav", "--plot", read_only_dir / "p.png", "--quiet", "--model",
                  tiny_model_dir, *FAST],
                 ["batch", src, "-o", read_only_dir, "--quiet", "--model", tiny_model_dir, *FAST],
                 ["export", tiny_model_dir, "-o", read_only_dir / "m.onnx"]):
        proc = run_cli(*args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "read-only" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o.wav").exists() and _sha(src) == before


# -- signals and kill -9 -------------------------------------------------------------------------
def _start(args, **kw):
    exe = shutil.which("dreambridge")
    cmd = [exe, *map(str, args)] if exe else [sys.executable, "-m", "dreambridge.bridge.cli", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(pattern_folder: Path, pattern: str, proc, timeout=120.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list(pattern_folder.rglob(pattern)):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_batch_signalled_with_workers_leaves_no_part(tmp_path, tiny_model_dir, sig):
    (tmp_path / "in").mkdir()
    for i in range(3):
        wav(tmp_path / "in" / f"s{i}.wav", tone(5.0, seed=i))
    proc = _start(["batch", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--quiet", "--model", tiny_model_dir,
                   "--set", "iterations=30"])
    assert _wait_for(tmp_path / "out", ".*.part*", proc), proc.communicate()[1]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err
    time.sleep(0.5)  # the workers' own clean-up runs as they exit
    assert not _partials(tmp_path / "out")


def test_kill_9_leaves_no_visible_output_and_the_next_run_cleans_up(tmp_path, tiny_model_dir):
    src = wav(tmp_path / "in.wav", tone(5.0))
    args = ["dream", src, "-o", tmp_path / "o.wav", "--quiet", "--model", tiny_model_dir, "--set", "iterations=30"]
    proc = _start(args)
    assert _wait_for(tmp_path, ".o.*.part*", proc)
    proc.kill()
    proc.communicate()
    assert not (tmp_path / "o.wav").exists() and _partials(tmp_path)  # -9 cannot be caught: the .part stays ...
    proc = run_cli(*args[:-2], *FAST)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.wav").exists() and not _partials(tmp_path)  # ... until the next writer of that name


# -- concurrent batches and resume ---------------------------------------------------------------
def test_two_batches_into_one_folder_the_second_is_refused(tmp_path, tiny_model_dir):
    (tmp_path / "in").mkdir()
    for i in range(2):
        wav(tmp_path / "in" / f"s{i}.wav", tone(4.0, seed=i))
    args = ["batch", tmp_path / "in", "-o", tmp_path / "out", "--quiet", "--model", tiny_model_dir, "--set", "iterations=20"]
    first = _start(args)
    assert _wait_for(tmp_path / "out", ".*.part*", first)
    second = run_cli(*args, "--overwrite")
    assert second.returncode == 2 and "another batch" in second.stderr and "Traceback" not in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not _partials(tmp_path / "out") and len(list((tmp_path / "out").glob("*_default.wav"))) == 2


def test_resume_survives_a_moved_folder_and_redoes_a_damaged_output(tmp_path, tiny_model_dir):
    (tmp_path / "in").mkdir()
    for i in range(2):
        wav(tmp_path / "in" / f"s{i}.wav", tone(0.5, seed=i))
    args = ["--quiet", "--model", tiny_model_dir, "--json", *FAST]
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
    args = ["--quiet", "--model", tiny_model_dir, "--json", *FAST]
    assert run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", *args).returncode == 0
    threads = os.cpu_count() or 1
    proc = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--resume", "--jobs", "2", *args)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    # The thread count is part of each output's key: a different one redoes, the same one skips.
    expected_skips = 2 if max(1, threads // 2) == threads else 0
    assert len(summary["skipped"]) == expected_skips and len(summary["ok"]) == 2 - expected_skips
