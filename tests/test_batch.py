"""batch: alignment over a grid of formats, inputs untouched, resume after kill -9,
broken files, --jobs, and MIDI-file automation with tempo changes."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from signals import SR, music_like, white_noise, write

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


def _noise_folder(folder, rng, n_files: int, seconds: float):
    """``folder`` holding ``s0.wav`` ... white-noise files (16-bit)."""
    folder.mkdir()
    for i in range(n_files):
        write(folder / f"s{i}.wav", white_noise(rng, seconds)[None, :], SR, "PCM_16")
    return folder


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
    victim = str((out / "s1_default.wav").resolve())
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


def _automation_file(path, switch_seconds_expected):
    """Tempo 120 bpm, then 60 bpm from beat 2, then 240 bpm from beat 3; CC 77 jumps to
    127 on beat 4. Seconds: beat 2 at 1.0 s, beat 3 at 2.0 s, beat 4 at 2.25 s."""
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


def test_midi_automation_with_tempo_changes_switches_at_the_right_sample(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 4.0, amplitude=0.1)[None, :], SR, "FLOAT")  # under the ceiling
    mid = _automation_file(tmp_path / "auto.mid", 2.25)
    midimap = tmp_path / "map.toml"
    midimap.write_text('schema = 1\n[[cc]]\ncc = 77\nparam = "mix"\nrange = [0.0, 1.0]\ncurve = "lin"\n')
    out = tmp_path / "out"
    excerpt = 0.25
    proc = run_cli("batch", src, "-o", out, "--model", tiny_model_dir, "--quiet", "--automation", mid, "--midi-map", midimap,
                   "--set", "iterations=2", "--set", f"excerpt_seconds={excerpt}", "--set", "crossfade_seconds=0.02")
    assert proc.returncode == 0, proc.stderr
    x, _ = sf.read(src, dtype="float32")
    y, _ = sf.read(str(out / "in_default.wav"), dtype="float32")
    changed = np.flatnonzero(np.abs(x - y) > 1e-6)
    first = changed[0] / SR
    # mix is 0 (dry) until 2.25 s, then 1: the first changed sample lies within one
    # excerpt of 2.25 s (a single tempo of 120 bpm would put beat 4 at 2.0 s, 60 bpm at 4.0 s)
    assert abs(first - 2.25) <= excerpt, first
    assert np.allclose(x[: int(2.0 * SR)], y[: int(2.0 * SR)], atol=1e-7)


def test_bad_automation_and_map_are_clear_errors(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 0.5)[None, :], SR)
    bad_map = tmp_path / "map.toml"
    bad_map.write_text('schema = 1\n[[cc]]\ncc = 200\nparam = "mix"\nrange = [0.0, 1.0]\n')
    (tmp_path / "a.mid").write_bytes(b"MThd")
    proc = run_cli("batch", src, "-o", tmp_path / "o", "--model", tiny_model_dir, "--automation", tmp_path / "a.mid", "--midi-map", bad_map)
    assert proc.returncode == 2 and "cc=200 must be a controller number" in proc.stderr and "Traceback" not in proc.stderr
    good_map = tmp_path / "good.toml"
    good_map.write_text('schema = 1\n[[cc]]\ncc = 20\nparam = "mix"\nrange = [0.0, 1.0]\n')
    proc = run_cli("batch", src, "-o", tmp_path / "o", "--model", tiny_model_dir, "--automation", tmp_path / "a.mid", "--midi-map", good_map)
    assert proc.returncode == 2 and "not a readable MIDI file" in proc.stderr


def test_sequence_preset_changes_parameters_over_time():
    from dreambridge.bridge.engine.schedule import schedule_for_preset
    from dreambridge.presets import load_preset

    schedule = schedule_for_preset(load_preset("bisig-exp2-sequence"))
    assert schedule.at(0).lowpass_hz == 12000 and schedule.at(25).lowpass_hz == 2000
    assert (schedule.at(35).layer, schedule.at(35).channel) == (3, 4)
    assert schedule.at(105).lowpass_hz == 16000


def test_resolve_is_preset_then_set_then_seed_then_schedule():
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.presets import DreamParams

    r = resolve("bisig-exp2-sequence", ["seed=5", "lowpass_hz=9000", "fx.post.0.gain_db=-3"], seed=7)
    assert r.params.seed == 7  # --seed comes after --set
    assert r.fx == {"fx.post.0.gain_db": -3.0}
    assert r.schedule.at(25).lowpass_hz == 9000  # an override holds in every step of the sequence
    assert (r.schedule.at(35).layer, r.schedule.at(35).channel) == (3, 4)  # the steps still move the rest
    base = resolve(DreamParams(init="noise"), ["iterations=3"], seed=1).params
    assert (base.init, base.iterations, base.seed) == ("noise", 3, 1)
    from dreambridge.bridge.engine.schedule import ConstantSchedule
    from dreambridge.presets import load_preset

    bases = []
    r = resolve("default", ["mix=0.5"], automation=lambda base: bases.append(base) or ConstantSchedule(base))
    assert bases == [load_preset("default").params.replace(mix=0.5)]  # the automation starts from the resolved base
    assert r.schedule.fx_at(1.0) == {}


def _gain_preset(path):
    # mix = 0: the dream passes the input through to the sample, so only the effect chain acts
    path.write_text('schema = 1\n[params]\nmix = 0.0\niterations = 1\nexcerpt_seconds = 0.25\ncrossfade_seconds = 0.02\n'
                    '[[fx.post]]\nplugin = "Gain"\ngain_db = 0.0\n')
    return path


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_batch_automation_moves_effect_lanes_as_live_does(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 4.0, amplitude=0.1)[None, :], SR, "FLOAT")
    preset = _gain_preset(tmp_path / "gain.toml")
    mid = _automation_file(tmp_path / "auto.mid", 2.25)  # CC 77: 0 from the start, 127 from 2.25 s
    midimap = tmp_path / "map.toml"
    midimap.write_text('schema = 1\n[[cc]]\ncc = 77\nparam = "fx.post.0.gain_db"\nrange = [-20.0, 0.0]\ncurve = "lin"\n')
    args = ["--model", tiny_model_dir, "--quiet", "--preset", preset]
    assert run_cli("batch", src, "-o", tmp_path / "auto", *args, "--automation", mid, "--midi-map", midimap).returncode == 0
    assert run_cli("batch", src, "-o", tmp_path / "plain", *args).returncode == 0  # control: no lanes
    x, _ = sf.read(src, dtype="float32")
    auto, _ = sf.read(str(tmp_path / "auto" / "in_gain.wav"), dtype="float32")
    plain, _ = sf.read(str(tmp_path / "plain" / "in_gain.wav"), dtype="float32")
    before, after = slice(int(0.2 * SR), int(2.0 * SR)), slice(int(2.5 * SR), int(3.8 * SR))
    # the lane's -20 dB until 2.25 s, then 0 dB; windows keep clear of the switch and the
    # plugin's own gain ramp, so 0.2 dB covers float rounding only
    assert 20 * np.log10(_rms(auto[before]) / _rms(x[before])) == pytest.approx(-20, abs=0.2)
    assert 20 * np.log10(_rms(auto[after]) / _rms(x[after])) == pytest.approx(0, abs=0.2)
    assert 20 * np.log10(_rms(plain[before]) / _rms(x[before])) == pytest.approx(0, abs=0.2)  # the control


def test_set_reaches_effect_parameters(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 1.0, amplitude=0.1)[None, :], SR, "FLOAT")
    preset = _gain_preset(tmp_path / "gain.toml")
    proc = run_cli("dream", src, "-o", tmp_path / "o.wav", "--model", tiny_model_dir, "--quiet", "--preset", preset,
                   "--set", "fx.post.0.gain_db=-12")
    assert proc.returncode == 0, proc.stderr
    x, _ = sf.read(src, dtype="float32")
    y, _ = sf.read(str(tmp_path / "o.wav"), dtype="float32")
    assert 20 * np.log10(_rms(y) / _rms(x)) == pytest.approx(-12, abs=0.2)  # Gain's own ramp: first ms only
    proc = run_cli("dream", src, "-o", tmp_path / "p.wav", "--model", tiny_model_dir, "--set", "fx.pre.0.gain_db=-12")
    assert proc.returncode == 2 and "has no [[fx.pre]] chain" in proc.stderr and not (tmp_path / "p.wav").exists()
