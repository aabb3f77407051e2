"""The Speech set: real recorded speech, one class per language.

``build_speech(OUT)`` gathers the spoken words of ``ktuberling-data`` (about 70 words per
language, one speaker each), the spoken letters and syllables of ``klettres-data``, and
the spoken stamp descriptions of ``tuxpaint-stamps-default`` (sentences read by Tux
Paint's translators, 12 languages; at most ``TUXPAINT_PER_LANGUAGE`` per language, chosen
by a hash of the file name, so the long descriptions do not swamp the short words),
resamples them to 44.1 kHz mono 16-bit, and files them under ``OUT/<language>/``.
Translations that share one recording folder (``sr@latin`` and ``sr``, say) count once.
``split.json`` holds out 20 % of each language's recordings (chosen by a hash of the file
name, so the split is stable); no synthetic voices are included. ``manifest.json`` and
``ATTRIBUTION.md`` (the packages' copyright files) are written beside.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from dreambridge.presets.errors import DreamError

from .instruments import _attribution

__all__ = ["build_speech"]

RATE = 44100
SOURCES = {"ktuberling-data": Path("/usr/share/ktuberling/sounds"), "klettres-data": Path("/usr/share/klettres"),
           "tuxpaint-stamps-default": Path("/usr/share/tuxpaint/stamps")}
TUXPAINT_PER_LANGUAGE = 150


def _is_test(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0  # 20 %


def _tuxpaint(root: Path) -> dict[str, list[Path]]:
    by_language: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*_desc_*.ogg")):
        language = path.stem.rsplit("_desc_", 1)[1].split("@")[0].split("_")[0]
        by_language.setdefault(language, []).append(path)
    return {
        lang: sorted(sorted(files, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())[:TUXPAINT_PER_LANGUAGE])
        for lang, files in by_language.items()
    }


def _recordings(packages) -> dict[str, list[Path]]:
    by_language: dict[str, list[Path]] = {}
    seen = set()
    for package in packages:
        root = SOURCES[package]
        if not root.is_dir():
            continue
        if package == "tuxpaint-stamps-default":
            for language, files in _tuxpaint(root).items():
                by_language.setdefault(language, []).extend(files)
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            files = sorted(p for p in folder.rglob("*.ogg") if p.is_file())
            if files:
                language = folder.name.split("@")[0].split("_")[0]
                by_language.setdefault(language, []).extend(files)
    return by_language


def build_speech(out_dir, progress=print, min_files: int = 20, packages=None) -> dict:
    """Build the Speech set into ``out_dir``; return the manifest (``packages``: a subset
    of ``SOURCES``, for tests)."""
    out_dir = Path(out_dir)
    packages = list(SOURCES if packages is None else packages)
    missing = [pkg for pkg in packages if not SOURCES[pkg].is_dir()]
    if missing:
        raise DreamError(f"speech sources missing: run: apt-get install {' '.join(missing)}")
    from dreambridge.dsp.resample import resample

    counts, seconds, test = {}, 0.0, []
    for language, files in sorted(_recordings(packages).items()):
        if len(files) < min_files:
            continue
        (out_dir / language).mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(files):
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
            mono = audio.mean(axis=1)
            if rate != RATE:
                mono = resample(mono, rate, RATE)
            if len(mono) == 0 or np.max(np.abs(mono)) < 1e-3:
                continue
            name = f"{path.parent.name}_{path.stem}_{i:04d}.wav"  # (tuxpaint: <folder>_<stamp>_desc_<lang>_<i>)
            sf.write(str(out_dir / language / name), mono, RATE, subtype="PCM_16")
            rel = f"{language}/{name}"
            if _is_test(rel):
                test.append(rel)
            counts[language] = counts.get(language, 0) + 1
            seconds += len(mono) / RATE
    (out_dir / "split.json").write_text(json.dumps({"split_by": "recording", "test": sorted(test)}, indent=1))
    manifest = {"name": "speech", "sample_rate": RATE, "n_classes": len(counts), "n_files": sum(counts.values()),
                "total_seconds": seconds, "classes": counts, "synthetic_voices": 0,
                "tuxpaint_per_language": TUXPAINT_PER_LANGUAGE,
                "sources": {pkg: str(SOURCES[pkg]) for pkg in packages}}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "ATTRIBUTION.md").write_text(_attribution(packages, "Speech set"))
    progress(f"speech: {manifest['n_files']} recordings, {len(counts)} languages, {seconds / 60:.1f} min -> {out_dir}")
    return manifest
