"""models/datasets/speech.py: the Speech set builder."""

import json

import pytest


@pytest.mark.skipif(not __import__("os").path.isdir("/usr/share/ktuberling/sounds"), reason="ktuberling-data not installed")
def test_build_speech(tmp_path):
    from dreambridge.models.datasets.speech import build_speech

    manifest = build_speech(tmp_path, progress=lambda s: None, packages=["ktuberling-data"])
    assert manifest["n_classes"] >= 10 and manifest["synthetic_voices"] == 0
    split = json.loads((tmp_path / "split.json").read_text())
    assert 0.1 < len(split["test"]) / manifest["n_files"] < 0.3  # ~20 % of the recordings held out
    import soundfile as sf

    info = sf.info(str(next((tmp_path / "en").glob("*.wav"))))
    assert info.samplerate == 44100 and info.channels == 1
    assert "ktuberling-data" in (tmp_path / "ATTRIBUTION.md").read_text()
