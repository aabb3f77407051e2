"""The Events set: recorded and rendered sound events, one class per kind of event.

``build_events(OUT)`` gathers, at 44.1 kHz mono 16 bit, 1 s per clip:

- **GM drum kits** (``gm_<key>_<name>``, 47 classes): every General MIDI percussion key
  (35-81) rendered with fluidsynth from every drum kit (bank 128: Standard, Room, Power,
  Electronic, TR-808, Jazz, Brush, Orchestra, SFX) of the four Debian soundfonts, at three
  velocities. A kit a soundfont lacks falls back to its Standard kit; such exact
  duplicates are dropped. **Split by soundfont**: TimGM6mb (its own sample set) is the
  test side, never seen in training.
- **Recorded samples**, one class per source category: ``hydrogen_<kind>`` (the 28
  Hydrogen drum kits' samples, sorted by kind from their file names: kick, snare, hi-hat,
  ...), ``sonicpi_<prefix>`` (Sonic Pi's sample families), ``lmms_<folder>`` (LMMS's
  sample folders), ``ufoai_<folder>`` (UFO: Alien Invasion's game sounds: weapons,
  footsteps, aliens...), ``tuxpaint_<folder>`` (Tux Paint's stamp sound effects; its
  spoken descriptions, letters and numbers are speech and are left out). Long
  recordings give up to three consecutive non-silent seconds. **Split by recording**:
  a recording (with every clip and variant made from it) is on one side only, chosen
  by a hash of its name; a class with fewer than three recordings is split by
  augmentation variant instead (``split_by_variant`` in the manifest lists them).
- **Augmentation**: a class with fewer than ``MIN_CLIPS`` clips is filled up with
  variants of its own clips (on the same side of the split): gain +-6 dB, varispeed
  +-3 semitones (pitch and time together), a random low- or high-pass filter, and noise
  mixed in at 20-40 dB SNR, all from a seeded generator, so the set is reproducible.
  Variants are named ``..._aug<k>.wav`` and counted in the manifest.

``split.json``, ``manifest.json`` (class -> files, originals, variants, seconds) and
``ATTRIBUTION.md`` (every source package's copyright file) are written beside. About two
minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from dreambridge.presets.errors import DreamError

from .instruments import SOUNDFONTS, _attribution, render_midi, write_midi_notes

__all__ = ["GM_DRUMS", "build_events", "augment_clip"]

RATE = 44100
CLIP = RATE  # 1 s
MIN_CLIPS = 48
MAX_ORIGINAL_CLIPS = 120  # per class: a few huge classes would otherwise dominate training
SILENT_PEAK = 1e-3
TEST_SOUNDFONT = "timgm6mb"

GM_DRUMS = {
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick", 38: "Acoustic Snare", 39: "Hand Clap",
    40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat", 43: "High Floor Tom", 44: "Pedal Hi-Hat",
    45: "Low Tom", 46: "Open Hi-Hat", 47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine", 55: "Splash Cymbal",
    56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap", 59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo",
    62: "Mute Hi Conga", 63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle", 72: "Long Whistle",
    73: "Short Guiro", 74: "Long Guiro", 75: "Claves", 76: "Hi Wood Block", 77: "Low Wood Block",
    78: "Mute Cuica", 79: "Open Cuica", 80: "Mute Triangle", 81: "Open Triangle",
}
DRUM_KITS = [0, 8, 16, 24, 25, 32, 40, 48, 56]  # GS/GM2 kit programs in bank 128
DRUM_VELOCITIES = [50, 90, 127]

RECORDED_PACKAGES = {
    "hydrogen-drumkits": Path("/usr/share/hydrogen/data/drumkits"),
    "sonic-pi-samples": Path("/usr/share/sonic-pi/samples"),
    "lmms-common": Path("/usr/share/lmms/samples"),
    "ufoai-sound": Path("/usr/share/games/ufoai/base/0snd.pk3"),
    "tuxpaint-stamps-default": Path("/usr/share/tuxpaint/stamps"),
}
AUDIO = re.compile(r"\.(wav|flac|ogg|aif|aiff)$", re.I)

# Hydrogen sample kinds, from file-name words (first match wins).
HYDROGEN_KINDS = [
    ("kick", {"kick", "bd", "bassdrum", "kik", "bass"}),
    ("snare", {"snare", "sn", "sd", "snr"}),
    ("hihat", {"hat", "hh", "hihat", "chh", "ohh", "phh", "hat1", "hat2"}),
    ("ride", {"ride"}),
    ("crash", {"crash", "splash", "china", "cymbal", "cym"}),
    ("tom", {"tom", "toms", "tomh", "toml", "tomm", "floor"}),
    ("clap", {"clap", "claps", "hand", "hands", "snap"}),
    ("rim", {"rim", "rimshot", "stick", "sidestick", "click"}),
    ("bell", {"cowbell", "bell", "agogo", "triangle"}),
    ("handdrum", {"conga", "bongo", "djembe", "tabla", "timbale", "cajon"}),
    ("shaker", {"shaker", "shake", "tamb", "tambourine", "maraca", "maracas", "cabasa", "fxshake5"}),
]
LMMS_FOLDERS = {"basses", "bassloops", "beats", "drums", "effects", "instruments", "latin", "misc", "stringsnpads"}
TUXPAINT_SKIP = ("symbols/",)  # spoken letters and numbers: speech, not events


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


# -- sources --------------------------------------------------------------------------
def _hydrogen_kind(name: str) -> str | None:
    words = set(re.split(r"[^a-z]+", re.sub(r"\d+", " ", Path(name).stem.lower())))
    words |= set(re.split(r"[^a-z0-9]+", Path(name).stem.lower()))
    for kind, keys in HYDROGEN_KINDS:
        if words & keys:
            return kind
    return None


def _recordings(packages=None) -> dict[str, list[tuple[str, object]]]:
    """class -> [(recording id, loader)], the loader returning ``(audio, rate)``."""
    out: dict[str, list[tuple[str, object]]] = {}
    use = set(RECORDED_PACKAGES if packages is None else packages)

    def add(cls, rid, loader):
        out.setdefault(cls, []).append((rid, loader))

    def file_loader(path):
        return lambda: sf.read(str(path), dtype="float32", always_2d=True)

    root = RECORDED_PACKAGES["hydrogen-drumkits"]
    if "hydrogen-drumkits" in use and root.is_dir():
        for path in sorted(p for p in root.rglob("*") if AUDIO.search(p.name)):
            kind = _hydrogen_kind(path.name)
            if kind:
                add(f"hydrogen_{kind}", f"hydrogen/{path.relative_to(root)}", file_loader(path))
    root = RECORDED_PACKAGES["sonic-pi-samples"]
    if "sonic-pi-samples" in use and root.is_dir():
        for path in sorted(p for p in root.iterdir() if AUDIO.search(p.name)):
            add(f"sonicpi_{path.name.split('_')[0].lower()}", f"sonicpi/{path.name}", file_loader(path))
    root = RECORDED_PACKAGES["lmms-common"]
    if "lmms-common" in use and root.is_dir():
        for path in sorted(p for p in root.rglob("*") if AUDIO.search(p.name)):
            folder = path.relative_to(root).parts[0]
            if folder in LMMS_FOLDERS:
                add(f"lmms_{folder}", f"lmms/{path.relative_to(root)}", file_loader(path))
    pk3 = RECORDED_PACKAGES["ufoai-sound"]
    if "ufoai-sound" in use and pk3.is_file():
        with zipfile.ZipFile(pk3) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith("sound/") and AUDIO.search(n))
        for name in names:
            parts = name.split("/")[1:-1]
            folder = parts[-1] if parts and parts[0] == "aliens" else (parts[0] if parts else "misc")

            def load(name=name):
                with zipfile.ZipFile(pk3) as archive:
                    return sf.read(io.BytesIO(archive.read(name)), dtype="float32", always_2d=True)

            add(f"ufoai_{_slug(folder)}", f"ufoai/{name}", load)
    root = RECORDED_PACKAGES["tuxpaint-stamps-default"]
    if "tuxpaint-stamps-default" in use and root.is_dir():
        for path in sorted(p for p in root.rglob("*") if AUDIO.search(p.name) and "_desc" not in p.name):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(TUXPAINT_SKIP):
                continue
            parts = rel.split("/")[:-1]
            folder = "_".join(parts[:2]) if parts[0] == "animals" and len(parts) > 1 else parts[0]
            add(f"tuxpaint_{_slug(folder)}", f"tuxpaint/{rel}", file_loader(path))
    # Tux Paint has many one-recording folders: pool classes with fewer than 3 recordings.
    small = [c for c in out if c.startswith("tuxpaint_") and len(out[c]) < 3]
    for cls in small:
        out.setdefault("tuxpaint_other", []).extend(out.pop(cls))
    return out


def _to_mono_44k(audio: np.ndarray, rate: int) -> np.ndarray:
    from dreambridge.dsp.resample import resample

    mono = audio.mean(axis=1).astype(np.float32)
    return resample(mono, rate, RATE).astype(np.float32) if rate != RATE else mono


def _cut_clips(mono: np.ndarray, max_clips: int = 3) -> list[np.ndarray]:
    """Up to ``max_clips`` consecutive 1-s clips from the first onset (10 ms pre-roll);
    a short recording gives one zero-padded clip; silent clips are dropped."""
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if peak < SILENT_PEAK:
        return []
    onset = int(np.argmax(np.abs(mono) > 0.05 * peak))
    start = max(0, onset - RATE // 100)
    clips = []
    for k in range(max_clips):
        clip = mono[start + k * CLIP : start + (k + 1) * CLIP]
        if k and len(clip) < CLIP // 2:
            break
        if np.max(np.abs(clip)) < 0.05 * peak:
            break
        clips.append(np.pad(clip, (0, CLIP - len(clip))))
    return clips


def augment_clip(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One variant of a 1-s clip: gain +-6 dB, varispeed +-3 semitones, a random low-pass
    (2-12 kHz) or high-pass (60-600 Hz) 2nd-order Butterworth, noise at 20-40 dB SNR."""
    x = clip.astype(np.float64)
    ratio = 2.0 ** (rng.uniform(-3, 3) / 12)  # > 1: faster and higher
    positions = np.arange(CLIP) * ratio
    x = np.interp(positions, np.arange(len(x)), x, right=0.0)
    if rng.random() < 0.5:
        sos = signal.butter(2, rng.uniform(2000, 12000), "lowpass", fs=RATE, output="sos")
    else:
        sos = signal.butter(2, rng.uniform(60, 600), "highpass", fs=RATE, output="sos")
    x = signal.sosfilt(sos, x)
    rms = float(np.sqrt(np.mean(x * x))) + 1e-12
    x = x + rng.standard_normal(CLIP) * rms * 10 ** (-rng.uniform(20, 40) / 20)
    x *= 10 ** (rng.uniform(-6, 6) / 20)
    peak = float(np.max(np.abs(x)))
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


# -- GM drum kits ---------------------------------------------------------------------
def _render_drums(short: str, sf_path: str, work: Path, keys) -> list[tuple[str, np.ndarray]]:
    """``[(clip name, clip)]`` for every key x kit x velocity that sounds and is not an
    exact duplicate of a clip already rendered from this soundfont."""
    notes, order, t = [], [], 0.5
    for kit in DRUM_KITS:
        for key in keys:
            for velocity in DRUM_VELOCITIES:
                notes.append((t, 0.3, kit, key, velocity))
                order.append((kit, key, velocity, t))
                t += 1.5
    mid, wav = work / f"drums_{short}.mid", work / f"drums_{short}.wav"
    write_midi_notes(mid, notes, channel=9)
    render_midi(mid, wav, sf_path, RATE)
    audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    wav.unlink()
    seen, out = set(), []
    for kit, key, velocity, start in order:
        i = int(round(start * RATE))
        clip = mono[i : i + CLIP]
        if len(clip) < CLIP or np.max(np.abs(clip)) < SILENT_PEAK:
            continue
        digest = hashlib.sha256(np.round(clip * 32767).astype(np.int16).tobytes()).hexdigest()
        if (key, velocity, digest) in seen:  # the kit is missing: fluidsynth fell back to another
            continue
        seen.add((key, velocity, digest))
        out.append((f"gm_{key}_{_slug(GM_DRUMS[key])}/{short}_kit{kit:03d}_v{velocity}.wav", clip))
    return out


# -- the builder ----------------------------------------------------------------------
def build_events(out_dir, progress=print, min_clips: int = MIN_CLIPS, seed: int = 0, soundfonts=None, keys=None,
                 packages=None) -> dict:
    """Build the Events set into ``out_dir``; return the manifest.

    ``soundfonts`` (short names, ``[]`` for no drums), ``keys`` (GM percussion keys) and
    ``packages`` (recorded-sample packages, ``[]`` for none) select a subset (for tests).
    """
    out_dir = Path(out_dir)
    fonts = [row for row in SOUNDFONTS if soundfonts is None or row[0] in soundfonts]
    keys = list(GM_DRUMS if keys is None else keys)
    packages = list(RECORDED_PACKAGES if packages is None else packages)
    drums, recorded = bool(fonts and keys), bool(packages)
    if drums:
        if shutil.which("fluidsynth") is None:
            raise DreamError("fluidsynth is not installed; run: apt-get install fluidsynth")
        missing = [pkg for _, pkg, path in fonts if not os.path.exists(path)]
        if missing:
            raise DreamError(f"soundfonts missing: run: apt-get install {' '.join(missing)}")
    if recorded:
        missing = [pkg for pkg in packages if not RECORDED_PACKAGES[pkg].exists()]
        if missing:
            raise DreamError(f"recorded-sample packages missing: run: apt-get install {' '.join(missing)}")
    rng = np.random.default_rng(seed)
    # class -> list of (name, clip, is_test, group) where group ties variants to their recording
    classes: dict[str, list[tuple[str, np.ndarray, bool]]] = {}
    split_by_variant = []
    if drums:
        with tempfile.TemporaryDirectory(prefix="dreambridge-events-") as work, \
                ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            futures = {short: pool.submit(_render_drums, short, path, Path(work), keys) for short, _, path in fonts}
            for short, future in futures.items():
                rows = future.result()
                progress(f"events: rendered {len(rows)} drum clips from {short}")
                for name, clip in rows:
                    cls, file = name.split("/")
                    classes.setdefault(cls, []).append((file, clip, short == TEST_SOUNDFONT))
    n_recordings = {}
    if recorded:
        sources = _recordings(packages)
        for cls, recordings in sorted(sources.items()):
            by_variant = len(recordings) < 3
            if by_variant:
                split_by_variant.append(cls)
            ranked = sorted(recordings, key=lambda r: _hash(r[0]))
            test_ids = set() if by_variant else {rid for rid, _ in recordings if _hash(rid) % 5 == 0} or {ranked[0][0]}
            if len(test_ids) == len(recordings):
                test_ids.discard(ranked[-1][0])
            rows = []
            for rid, loader in recordings:
                try:
                    audio, rate = loader()
                except (RuntimeError, sf.LibsndfileError):
                    continue  # an unreadable file in a package is skipped, not fatal
                for k, clip in enumerate(_cut_clips(_to_mono_44k(audio, rate))):
                    stem = _slug(rid.split("/", 1)[1].rsplit(".", 1)[0])[-60:]
                    rows.append((f"{stem}_{k}.wav", clip, rid in test_ids))
            if len(rows) > MAX_ORIGINAL_CLIPS:
                keep = np.sort(rng.choice(len(rows), MAX_ORIGINAL_CLIPS, replace=False))
                rows = [rows[i] for i in keep]
            if rows:
                n_recordings[cls] = len(recordings)
                classes[cls] = rows
        progress(f"events: {sum(n_recordings.values())} recordings in {len(n_recordings)} recorded classes")
    out_dir.mkdir(parents=True, exist_ok=True)
    test, manifest_classes, seconds = [], {}, 0.0
    for cls, rows in sorted(classes.items()):
        (out_dir / cls).mkdir(exist_ok=True)
        originals = len(rows)
        variants = []
        k = 0
        while len(rows) + len(variants) < min_clips:
            name, clip, is_test = rows[k % originals]
            if cls in split_by_variant:
                is_test = (k % 5) == 4  # every fifth variant is a test clip
            variants.append((f"{name[:-4]}_aug{k}.wav", augment_clip(clip, rng), is_test))
            k += 1
        if cls in split_by_variant:
            rows = [(n, c, False) for n, c, _ in rows]  # originals train; their variants test
        for name, clip, is_test in rows + variants:
            sf.write(str(out_dir / cls / name), clip, RATE, subtype="PCM_16")
            if is_test:
                test.append(f"{cls}/{name}")
            seconds += len(clip) / RATE
        manifest_classes[cls] = {"files": originals + len(variants), "original_clips": originals,
                                 "augmented": len(variants), "recordings": n_recordings.get(cls)}
    (out_dir / "split.json").write_text(json.dumps(
        {"split_by": f"drums: soundfont ({TEST_SOUNDFONT} is test); recorded: recording (hash), "
                     "or augmentation variant for classes in split_by_variant",
         "split_by_variant": split_by_variant, "test": sorted(test)}, indent=1))
    packages = (["fluidsynth"] + [pkg for _, pkg, _ in fonts] if drums else []) + packages
    manifest = {
        "name": "events", "sample_rate": RATE, "clip_seconds": 1.0, "n_classes": len(manifest_classes),
        "n_files": sum(c["files"] for c in manifest_classes.values()),
        "n_augmented": sum(c["augmented"] for c in manifest_classes.values()),
        "n_test": len(test), "total_seconds": seconds, "min_clips": min_clips, "seed": seed,
        "augmentation": "gain +-6 dB, varispeed +-3 semitones, 2nd-order low-pass 2-12 kHz or high-pass 60-600 Hz, "
                        "noise at 20-40 dB SNR (classes below min_clips only)",
        "split_by_variant": split_by_variant, "classes": manifest_classes, "packages": packages,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "ATTRIBUTION.md").write_text(_attribution(packages, "Events set"))
    progress(f"events: {manifest['n_files']} clips ({manifest['n_augmented']} augmented), "
             f"{manifest['n_classes']} classes, {seconds / 60:.1f} min -> {out_dir}")
    return manifest
