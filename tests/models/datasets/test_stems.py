"""models/datasets/stems.py: the stem set, rebuilt from Debian packages on disk."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from dreambridge.models.datasets import stems
from dreambridge.presets.errors import DreamError

HAVE_SOURCES = all(os.path.exists(p) for p in (stems.SONIC_PI, stems.KTUBERLING, stems.FLUID)) and \
    shutil.which("fluidsynth") is not None


@pytest.mark.skipif(not HAVE_SOURCES, reason="needs sonic-pi-samples, ktuberling-data, fluid-soundfont-gm and "
                                             "fluidsynth (apt-get install ...)")
def test_build_stems_writes_every_stem_at_its_length(tmp_path):
    manifest = stems.build_stems(tmp_path, progress=lambda s: None)
    names = sorted(manifest["stems"])
    assert {"mix_band", "mix_song", "voice_en", "drums_amen"} <= set(names)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    n = int(stems.STEM_SECONDS * 44100)
    for name in names:
        info = sf.info(str(tmp_path / f"{name}.wav"))
        assert (info.samplerate, info.frames, info.subtype) == (44100, n, "PCM_16"), name
        audio, _ = sf.read(str(tmp_path / f"{name}.wav"))
        assert 0.05 < np.max(np.abs(audio)) <= 1.0, name  # not silent, not clipped past full scale
    assert sf.info(str(tmp_path / "mix_band.wav")).channels == 2  # the mixes are stereo
    attribution = (tmp_path / "ATTRIBUTION.md").read_text()
    assert "sonic-pi-samples" in attribution and "ktuberling-data" in attribution


def test_missing_sources_are_named_with_their_package(tmp_path, monkeypatch):
    monkeypatch.setattr(stems, "FLUID", str(tmp_path / "no-such.sf2"))  # as on a machine without the soundfont
    with pytest.raises(DreamError, match="stem sources missing: run: apt-get install .*fluid-soundfont-gm"):
        stems.build_stems(tmp_path / "out", progress=lambda s: None)
    assert not (tmp_path / "out").exists()
