"""models/datasets/instruments.py: the MIDI writer and the soundfont set builder."""

import json
import shutil

import pytest


def test_midi_writer_is_valid_smf(tmp_path):
    import mido

    from dreambridge.models.datasets.instruments import write_midi_notes

    path = tmp_path / "n.mid"
    write_midi_notes(path, [(0.5, 0.8, 40, 60, 100), (2.5, 0.8, 41, 64, 64)])
    mid = mido.MidiFile(str(path))
    notes = [(m.type, getattr(m, "note", None)) for m in mid if m.type in ("note_on", "note_off")]
    assert notes == [("note_on", 60), ("note_off", 60), ("note_on", 64), ("note_off", 64)]
    programs = [m.program for m in mid if m.type == "program_change"]
    assert programs == [40, 41]
    assert mid.length == pytest.approx(3.3, abs=1e-3)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_build_instruments_subset(tmp_path):
    from dreambridge.models.datasets.instruments import SOUNDFONTS, build_instruments

    fonts = [short for short, _, path in SOUNDFONTS if __import__("os").path.exists(path)]
    if not fonts:
        pytest.skip("no GM soundfont installed")
    manifest = build_instruments(tmp_path, progress=lambda s: None, programs=[0, 73], pitches=[60, 71], soundfonts=fonts[-1:])
    assert manifest["n_files"] == 2 * 2 * 2  # 2 programs x 2 pitches x 2 velocities, none silent
    files = sorted(tmp_path.rglob("*.wav"))
    import soundfile as sf

    info = sf.info(str(files[0]))
    assert info.samplerate == 44100 and info.channels == 1 and info.frames == 44100
    split = json.loads((tmp_path / "split.json").read_text())
    assert all("_p71_" in f for f in split["test"]) and len(split["test"]) == 4
    assert "copyright" in (tmp_path / "ATTRIBUTION.md").read_text().lower() or "license" in (tmp_path / "ATTRIBUTION.md").read_text().lower()
