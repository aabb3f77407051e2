"""bridge/lab/style.py: timbre style transfer."""

import re

import numpy as np
import pytest
from conftest import run_cli
from signals import SR, music_like, white_noise, write


@pytest.mark.parametrize("method", ["net", "stft"])
def test_style_transfer_losses_fall_and_length_kept(tmp_path, rng, tiny_model_dir, method):
    content = write(tmp_path / "c.wav", music_like(rng, 1.3, n_channels=2), SR, "PCM_16")
    style = write(tmp_path / "s.wav", white_noise(rng, 0.8)[None, :] * np.sin(np.linspace(0, 20, int(0.8 * SR)))[None, :], SR)
    out = tmp_path / "o.wav"
    proc = run_cli("style", content, style, "-o", out, "--model", tiny_model_dir, "--method", method, "--iterations", "40",
                   "--content-layer", "3", "--style-layers", "0", "1", "--quiet", "--plot", tmp_path / "s.png")
    assert proc.returncode == 0, proc.stderr
    (c0, c1), (s0, s1) = [(float(a), float(b)) for a, b in re.findall(r"([0-9.]+) -> ([0-9.]+)", proc.stdout)]
    if method == "net":  # from the content: its loss starts at 0 and stays small while the style loss falls
        assert c0 == 0 and c1 < 0.2 and s1 < s0, proc.stdout
    else:
        assert c1 < c0 and s1 < s0, proc.stdout  # both losses fall (each starts at 1)
    import soundfile as sf

    from dreambridge.dsp.artefacts import envelope_correlation

    a, b = sf.info(content), sf.info(str(out))
    assert (b.frames, b.channels, b.samplerate) == (a.frames, a.channels, a.samplerate)
    dry, wet = sf.read(content, always_2d=True)[0].T, sf.read(str(out), always_2d=True)[0].T
    assert not np.allclose(wet[0], wet[1])  # a stereo content stays stereo, not one channel twice
    level_db = 10 * np.log10(np.mean(wet**2) / np.mean(dry**2))
    assert abs(level_db) < 12 and envelope_correlation(dry.mean(0), wet.mean(0), SR) >= 0.6  # issue 15's targets
    assert (tmp_path / "s.png").stat().st_size > 10000
