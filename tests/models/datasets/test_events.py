"""models/datasets/events.py: the Events set builder."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from signals import SR

HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None


def test_augment_clip_is_seeded_bounded_and_changes_the_sound():
    from dreambridge.models.datasets.events import augment_clip

    t = np.arange(SR) / SR
    clip = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32)
    a = augment_clip(clip, np.random.default_rng(1))
    b = augment_clip(clip, np.random.default_rng(1))
    c = augment_clip(clip, np.random.default_rng(2))
    assert a.shape == clip.shape and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.max(np.abs(a)) <= 0.99
    assert np.corrcoef(a, clip)[0, 1] < 0.99  # a variant, not a copy


@pytest.mark.parametrize("name, kind", [
    ("ee_kick_low_1.flac", "kick"), ("25671__walter__garage-city-snare-snappy.wav", "snare"),
    ("hard_chh_02.flac", "hihat"), ("124101__connersaw8__crash.wav", "crash"), ("101450__menegass__tomh.wav", "tom"),
    ("amp_clap_1.flac", "clap"), ("156272__dayvonjersen__fxshake5.wav", "shaker"), ("yfx_8.flac", None),
])
def test_hydrogen_kinds_from_file_names(name, kind):
    from dreambridge.models.datasets.events import _hydrogen_kind

    assert _hydrogen_kind(name) == kind


@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="fluidsynth not installed")
@pytest.mark.skipif(not os.path.isdir("/usr/share/sonic-pi/samples"), reason="sonic-pi-samples not installed")
def test_build_events_subset_splits_by_soundfont_and_recording(tmp_path):
    from dreambridge.models.datasets.instruments import SOUNDFONTS
    from dreambridge.models.datasets.events import TEST_SOUNDFONT, build_events

    fonts = [short for short, _, path in SOUNDFONTS if os.path.exists(path)]
    if TEST_SOUNDFONT not in fonts or len(fonts) < 2:
        pytest.skip("needs timgm6mb-soundfont and one more GM soundfont")
    train_font = next(f for f in fonts if f != TEST_SOUNDFONT)
    manifest = build_events(tmp_path, progress=lambda s: None, soundfonts=[train_font, TEST_SOUNDFONT], keys=[36, 42],
                            packages=["sonic-pi-samples"])
    test = set(json.loads((tmp_path / "split.json").read_text())["test"])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav"))
    assert len(files) == manifest["n_files"] and set(manifest["classes"]) == {p.split("/")[0] for p in files}
    for cls, row in manifest["classes"].items():
        on_disk = [f for f in files if f.startswith(cls + "/")]
        assert len(on_disk) == row["files"] >= 48
        assert sum("_aug" in f for f in on_disk) == row["augmented"]
    # drums: the held-out soundfont is exactly the test side
    drums = [f for f in files if f.startswith("gm_")]
    assert {f.startswith("gm_36_") or f.startswith("gm_42_") for f in drums} == {True}
    assert all((f in test) == (f"/{TEST_SOUNDFONT}_" in f) for f in drums)
    # recorded: every clip and variant of a recording is on one side only
    side = {}
    for f in files:
        if f.startswith("sonicpi_"):
            recording = f.split("/")[1].rsplit("_aug", 1)[0].rsplit("_", 1)[0]
            side.setdefault(recording, set()).add(f in test)
    assert side and all(len(s) == 1 for s in side.values())
    assert 0.1 < sum(True in s for s in side.values()) / len(side) < 0.4  # ~20 % of recordings held out
    info = sf.info(str(tmp_path / drums[0]))
    assert info.samplerate == 44100 and info.channels == 1 and info.frames == 44100
    attribution = (tmp_path / "ATTRIBUTION.md").read_text()
    assert "## sonic-pi-samples" in attribution and "## timgm6mb-soundfont" in attribution
    assert "augment" in manifest["augmentation"] or "varispeed" in manifest["augmentation"]


def test_build_events_names_missing_packages(tmp_path, monkeypatch):
    from dreambridge.models.datasets import events
    from dreambridge.presets.errors import DreamError

    monkeypatch.setitem(events.RECORDED_PACKAGES, "ufoai-sound", tmp_path / "missing.pk3")
    with pytest.raises(DreamError, match="apt-get install ufoai-sound"):
        events.build_events(tmp_path / "out", progress=lambda s: None, soundfonts=[], packages=["ufoai-sound"])
    assert not (tmp_path / "out").exists()
