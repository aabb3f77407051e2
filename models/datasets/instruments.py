"""Training sets rebuilt from package-registry sources.

``build_instruments`` renders the 128 General MIDI programs from the Debian soundfonts
with fluidsynth (one class per program), skips silent clips, and writes:

- ``OUT/<nnn_program_name>/<soundfont>_p<pitch>_v<velocity>.wav`` (1 s, 44.1 kHz mono, 16 bit)
- ``split.json``: the held-out test files. The split is by **pitch**: two of the ten
  pitches (20 %) are never seen in training, for any program or soundfont, so the test
  accuracy measures generalisation rather than recall of the same note from a
  near-identical soundfont (FluidR3 GM, FluidR3 Mono and MuseScore General share samples).
- ``manifest.json``: class -> file count, total duration, sources.
- ``ATTRIBUTION.md``: every source package's copyright/licence file, verbatim.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from dreambridge.presets.errors import DreamError

__all__ = ["GM_PROGRAMS", "SOUNDFONTS", "INSTRUMENT_PITCHES", "TEST_PITCHES", "write_midi_notes", "render_midi",
           "build_instruments", "load_folder_dataset"]

GM_PROGRAMS = [
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ",
    "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics", "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)",
    "Fretless Bass", "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola",
    "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs",
    "Voice Oohs", "Synth Choir", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax",
    "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo", "Flute",
    "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina", "Lead 1 (square)",
    "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)", "Lead 6 (voice)",
    "Lead 7 (fifths)", "Lead 8 (bass + lead)", "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)",
    "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto",
    "Kalimba", "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise",
    "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause", "Gunshot",
]
assert len(GM_PROGRAMS) == 128

# (short name, Debian package, soundfont path)
SOUNDFONTS = [
    ("fluidr3", "fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    ("musescore", "musescore-general-soundfont", "/usr/share/sounds/sf3/MuseScore_General_Full.sf3"),
    ("timgm6mb", "timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2"),
    ("fluidr3mono", "fluidr3mono-gm-soundfont", "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"),
]
INSTRUMENT_PITCHES = [36, 41, 46, 51, 56, 61, 66, 71, 76, 81]
TEST_PITCHES = [51, 71]  # 2 of 10 pitches held out: a 20 % test split by pitch
VELOCITIES = [64, 110]
SAMPLE_RATE = 44100
NOTE_SECONDS = 0.8  # key held
SLOT_SECONDS = 2.0  # note + release tail before the next note
CLIP_SECONDS = 1.0
SILENT_PEAK = 1e-3  # -60 dBFS: notes outside an instrument's range render as silence

_TICKS_PER_BEAT = 480  # at the default 120 bpm: 960 ticks per second


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def render_midi(mid, wav, soundfont: str, sample_rate: int, gain: float = 0.5) -> None:
    """Render the MIDI file ``mid`` to ``wav`` with fluidsynth (no reverb or chorus)."""
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-F", str(wav), "-r", str(sample_rate),
           soundfont, str(mid)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_midi_notes(
    path: str | os.PathLike, notes: list[tuple[float, float, int, int, int]], channel: int = 0
) -> None:
    """Write a format-0 Standard MIDI File at 120 bpm.

    ``notes`` are ``(start_s, duration_s, program, pitch, velocity)`` on MIDI channel
    ``channel + 1`` (``channel=9``: the GM percussion channel, where the program selects
    the drum kit); a program change precedes every note.
    """
    ticks_per_second = _TICKS_PER_BEAT * 2
    events = []  # (tick, order, bytes)
    for start, duration, program, pitch, velocity in notes:
        on = int(round(start * ticks_per_second))
        off = int(round((start + duration) * ticks_per_second))
        events.append((on, 0, bytes([0xC0 | channel, program])))
        events.append((on, 1, bytes([0x90 | channel, pitch, velocity])))
        events.append((off, 2, bytes([0x80 | channel, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray()
    now = 0
    for tick, _, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS_PER_BEAT)
    Path(path).write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def _class_dir(program: int) -> str:
    name = "".join(c if c.isalnum() else "_" for c in GM_PROGRAMS[program].lower()).strip("_")
    while "__" in name:
        name = name.replace("__", "_")
    return f"{program:03d}_{name}"


def _render_soundfont(
    short, sf_path, out_dir: Path, work: Path, programs, pitches, velocities
) -> list[tuple[str, int, int, int]]:
    notes = []
    order = []
    t = 0.5
    for program in programs:
        for pitch in pitches:
            for velocity in velocities:
                notes.append((t, NOTE_SECONDS, program, pitch, velocity))
                order.append((program, pitch, velocity, t))
                t += SLOT_SECONDS
    mid = work / f"{short}.mid"
    wav = work / f"{short}.wav"
    write_midi_notes(mid, notes)
    render_midi(mid, wav, sf_path, SAMPLE_RATE)
    audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE
    mono = audio.mean(axis=1)
    written = []
    n_clip = int(CLIP_SECONDS * SAMPLE_RATE)
    for program, pitch, velocity, start in order:
        i = int(round(start * SAMPLE_RATE))
        clip = mono[i : i + n_clip]
        if len(clip) < n_clip or np.max(np.abs(clip)) < SILENT_PEAK:
            continue
        rel = f"{_class_dir(program)}/{short}_p{pitch}_v{velocity}.wav"
        sf.write(str(out_dir / rel), clip, SAMPLE_RATE, subtype="PCM_16")
        written.append((rel, program, pitch, velocity))
    wav.unlink()
    return written


def _attribution(packages: list[str], title: str) -> str:
    parts = [f"# {title}: sources and licences\n",
             "Every file in this set was rendered or cut from the Debian packages below. "
             "Their copyright files follow verbatim.\n"]
    for package in packages:
        path = Path("/usr/share/doc") / package / "copyright"
        text = path.read_text(errors="replace") if path.is_file() else "(copyright file not found on this machine)"
        parts.append(f"\n## {package}\n\n```\n{text.strip()}\n```\n")
    return "".join(parts)


def build_instruments(out_dir: str | os.PathLike, progress=print, programs=range(128), pitches=INSTRUMENT_PITCHES,
                      velocities=VELOCITIES, soundfonts=None) -> dict:
    """Render the 128-class Instruments set into ``out_dir``; return the manifest.

    Needs ``fluidsynth`` and the four soundfont packages (``apt-get install fluidsynth
    fluid-soundfont-gm musescore-general-soundfont timgm6mb-soundfont
    fluidr3mono-gm-soundfont``). About a minute on 2 cores. ``programs``, ``pitches``,
    ``velocities`` and ``soundfonts`` (short names) select a subset (for tests).
    """
    out_dir = Path(out_dir)
    fonts = [row for row in SOUNDFONTS if soundfonts is None or row[0] in soundfonts]
    programs, pitches, velocities = list(programs), list(pitches), list(velocities)
    if shutil.which("fluidsynth") is None:
        raise DreamError("fluidsynth is not installed; run: apt-get install fluidsynth")
    missing = [pkg for _, pkg, path in fonts if not os.path.exists(path)]
    if missing:
        raise DreamError(f"soundfonts missing: run: apt-get install {' '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for program in programs:
        (out_dir / _class_dir(program)).mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dreambridge-render-") as work:
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            futures = {
                short: pool.submit(_render_soundfont, short, path, out_dir, Path(work), programs, pitches, velocities)
                for short, _, path in fonts
            }
            results = {}
            for short, future in futures.items():
                results[short] = future.result()
                progress(f"rendered {short}: {len(results[short])} clips")
    files = sorted(rel for rows in results.values() for rel, *_ in rows)
    test = sorted(rel for rows in results.values() for rel, _, pitch, _ in rows if pitch in TEST_PITCHES)
    (out_dir / "split.json").write_text(
        json.dumps({"split_by": "pitch", "test_pitches": TEST_PITCHES, "test": test}, indent=1)
    )
    counts = {}
    for rel in files:
        counts[rel.split("/")[0]] = counts.get(rel.split("/")[0], 0) + 1
    manifest = {
        "name": "instruments",
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "n_files": len(files),
        "n_classes": len(programs),
        "total_seconds": len(files) * CLIP_SECONDS,
        "classes": counts,
        "silent_skipped": {
            short: len(programs) * len(pitches) * len(velocities) - len(rows) for short, rows in results.items()
        },
        "sources": [{"name": short, "package": pkg, "path": path} for short, pkg, path in fonts],
        "pitches": pitches,
        "velocities": velocities,
        "test_pitches": TEST_PITCHES,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "ATTRIBUTION.md").write_text(
        _attribution(["fluidsynth"] + [pkg for _, pkg, _ in fonts], "Instruments set")
    )
    return manifest


AUDIO_SUFFIXES = {".wav", ".flac", ".aif", ".aiff", ".ogg"}


def load_folder_dataset(directory: str | os.PathLike):
    """List a class-per-subfolder dataset: ``(class_names, [(relpath, class_index)], test_set)``.

    ``test_set`` is the set of relative paths in ``split.json`` (if the folder has one),
    else ``None`` and the trainer draws a seeded, class-stratified 80/20 split.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DreamError(f"dataset folder {directory} does not exist")
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for index, name in enumerate(classes):
        for path in sorted((directory / name).rglob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
                items.append((path.relative_to(directory).as_posix(), index))
    used = sorted({c for _, c in items})
    if len(used) < 2:
        raise DreamError(f"{directory}: need at least two class subfolders holding audio files (found {len(used)})")
    remap = {old: new for new, old in enumerate(used)}
    classes = [classes[c] for c in used]
    items = [(rel, remap[c]) for rel, c in items]
    test_set = None
    split = directory / "split.json"
    if split.is_file():
        test_set = set(json.loads(split.read_text())["test"])
    return classes, items, test_set
