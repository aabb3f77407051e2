"""A varied stem set from package-registry audio, for judging presets on real material.

``build_stems(OUT)`` writes 8 s stems at 44.1 kHz (stereo where the source is): recorded
drum loops and a guitar from ``sonic-pi-samples``, real speech from ``ktuberling-data``
(English and German words, spaced like phrases), GM parts rendered with fluidsynth from
``fluid-soundfont-gm`` (bass, piano, electric piano, strings, flute), and two full mixes
of those. ``ATTRIBUTION.md`` keeps every source package's licence; ``manifest.json``
lists the stems with their sources.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from dreambridge.presets.errors import DreamError

from .instruments import _attribution, render_midi, write_midi_notes

__all__ = ["build_stems", "STEM_SECONDS"]

STEM_SECONDS = 8.0
RATE = 44100
SONIC_PI = Path("/usr/share/sonic-pi/samples")
KTUBERLING = Path("/usr/share/ktuberling/sounds")
FLUID = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
BEAT = 0.5  # 120 bpm

# Parts in E minor, two bars of 4/4 repeated (start_beat, length_beats, pitch, velocity).
_BASS = [(b, 0.8, p, 100) for b, p in zip(range(16), [40, 40, 43, 45, 40, 47, 45, 43] * 2)]
_CHORDS = [[52, 55, 59], [48, 52, 55], [43, 47, 50], [50, 54, 57]]
_PIANO = [(2 * i, 1.8, p, 80) for i in range(8) for p in _CHORDS[i % 4]]
_EPIANO = [(0.5 * i, 0.45, _CHORDS[(i // 4) % 4][i % 3] + 12, 70) for i in range(32)]
_STRINGS = [(4 * i, 3.9, p, 70) for i in range(4) for p in _CHORDS[i % 4]]
_FLUTE = [(b, d, p, 90) for b, d, p in [(0, 1, 71), (1, 1, 74), (2, 2, 76), (4, 1, 74), (5, 1, 71), (6, 2, 67),
                                          (8, 1, 71), (9, 1, 74), (10, 2, 79), (12, 1, 78), (13, 1, 76), (14, 2, 74)]]
_PARTS = {"bass_fingered": (33, _BASS), "keys_piano": (0, _PIANO), "keys_epiano": (4, _EPIANO),
          "pad_strings": (48, _STRINGS), "lead_flute": (73, _FLUTE)}


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    """Loop or trim ``(channels, samples)`` to ``n`` samples."""
    reps = -(-n // audio.shape[1])
    return np.tile(audio, (1, reps))[:, :n]


def _read(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != RATE:
        from dreambridge.dsp.resample import resample

        audio = resample(audio.T, rate, RATE).T
    return audio.T


def _render(program: int, part, work: Path) -> np.ndarray:
    notes = [(0.25 + b * BEAT, d * BEAT, program, p, v) for b, d, p, v in part]
    mid, wav = work / f"p{program}.mid", work / f"p{program}.wav"
    write_midi_notes(mid, notes)
    render_midi(mid, wav, FLUID, RATE, gain=0.6)
    return _fit(_read(wav), int(STEM_SECONDS * RATE))


def _speech(language: str) -> np.ndarray:
    words = sorted((KTUBERLING / language).glob("*.ogg"))[:24]
    n = int(STEM_SECONDS * RATE)
    out = np.zeros((1, n), np.float32)
    pos = int(0.2 * RATE)
    for i, word in enumerate(words):
        clip = _read(word).mean(axis=0)
        if pos + len(clip) > n:
            break
        out[0, pos : pos + len(clip)] = clip
        pos += len(clip) + int((0.15 if i % 3 else 0.5) * RATE)  # words in phrases of three
    return out


def _normalise(audio: np.ndarray, peak_db: float = -3.0) -> np.ndarray:
    return (audio * (10 ** (peak_db / 20) / max(float(np.max(np.abs(audio))), 1e-9))).astype(np.float32)


def build_stems(out_dir, progress=print) -> dict:
    out_dir = Path(out_dir)
    needs = {"sonic-pi-samples": SONIC_PI, "ktuberling-data": KTUBERLING, "fluid-soundfont-gm": Path(FLUID)}
    missing = [pkg for pkg, path in needs.items() if not path.exists()]
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth")
    if missing:
        raise DreamError(f"stem sources missing: run: apt-get install {' '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    n = int(STEM_SECONDS * RATE)
    stems, sources = {}, {}
    for name, file in (("drums_amen", "loop_amen_full.flac"), ("drums_breakbeat", "loop_breakbeat.flac"),
                       ("perc_tabla", "loop_tabla.flac"), ("guitar_em9", "guit_em9.flac")):
        stems[name] = _fit(_read(SONIC_PI / file), n)
        sources[name] = f"sonic-pi-samples: {file}"
    with tempfile.TemporaryDirectory(prefix="dreambridge-stems-") as work:
        for name, (program, part) in _PARTS.items():
            stems[name] = _render(program, part, Path(work))
            sources[name] = f"fluid-soundfont-gm (FluidR3_GM) rendered by fluidsynth, GM program {program}"
    for name, language in (("voice_en", "en"), ("voice_de", "de")):
        stems[name] = _speech(language)
        sources[name] = f"ktuberling-data: spoken words ({language})"

    def mono_to_stereo(a):
        return np.repeat(a, 2, axis=0) if a.shape[0] == 1 else a

    stems["mix_band"] = sum(mono_to_stereo(_normalise(stems[k], g)) for k, g in
                            (("drums_amen", -6), ("bass_fingered", -8), ("keys_piano", -10), ("pad_strings", -14)))
    sources["mix_band"] = "mix of drums_amen, bass_fingered, keys_piano, pad_strings"
    stems["mix_song"] = sum(mono_to_stereo(_normalise(stems[k], g)) for k, g in
                            (("drums_breakbeat", -7), ("keys_epiano", -10), ("lead_flute", -10), ("voice_en", -8)))
    sources["mix_song"] = "mix of drums_breakbeat, keys_epiano, lead_flute, voice_en"
    for name, audio in stems.items():
        sf.write(str(out_dir / f"{name}.wav"), _normalise(audio).T, RATE, subtype="PCM_16")
    manifest = {"name": "stems", "sample_rate": RATE, "seconds": STEM_SECONDS, "stems": sources}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "ATTRIBUTION.md").write_text(
        _attribution(["sonic-pi-samples", "ktuberling-data", "fluid-soundfont-gm", "fluidsynth"], "Stem set")
    )
    progress(f"{len(stems)} stems -> {out_dir}")
    return manifest


