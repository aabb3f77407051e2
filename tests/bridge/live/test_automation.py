"""bridge/live/automation.py: MIDI-file automation with tempo changes, and its errors."""

import numpy as np
import soundfile as sf
from conftest import automation_file, run_cli
from signals import SR, white_noise, write


def test_midi_automation_with_tempo_changes_switches_at_the_right_sample(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 4.0, amplitude=0.1)[None, :], SR, "FLOAT")  # under the ceiling
    mid = automation_file(tmp_path / "auto.mid", 2.25)
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
