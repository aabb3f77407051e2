"""DreamSound modes, gradient sonification, style transfer and --plot."""

import re

import numpy as np
import pytest
import torch
from conftest import run_cli
from signals import SR, music_like, sine, white_noise, write

from dreambridge.bridge.engine.torch_backend import TorchDSP
from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.dsp.stft import hard_cut_mask, istft, stft
from dreambridge.presets import DreamParams, ParameterError

FAST = DreamParams(iterations=4, learning_rate=0.2, excerpt_seconds=0.5, crossfade_seconds=0.05, n_fft=1024,
                   hop_length=256, win_length=1024)


def test_hard_cut_mask_passes_bins_above_threshold_unchanged(rng):
    magnitude = rng.random((1, 5, 7))
    magnitude[0, 2, 3] = 2.0  # the maximum
    mask = hard_cut_mask(magnitude, 0.3)
    expected = (magnitude / 2.0 > 0.3).astype(float)
    assert np.array_equal(mask, expected)
    masked = mask * magnitude
    assert np.array_equal(masked[mask == 1], magnitude[mask == 1]) and not masked[mask == 0].any()


def test_stft_round_trip_and_torch_matches_numpy(rng):
    x = rng.standard_normal((2, 1, 6000)).astype(np.float32)
    spec = stft(x, 1024, 256, 1024)
    assert np.allclose(istft(spec, 1024, 256, 1024, 6000), x, atol=1e-6)  # overlap-add of a COLA window
    dsp = TorchDSP("cpu")
    tspec = dsp.stft(torch.from_numpy(x), 1024, 256, 1024).numpy()
    assert np.allclose(tspec, spec, atol=1e-3 * np.abs(spec).max())  # float32 FFT vs float64 reference
    back = dsp.istft(torch.from_numpy(spec.astype(np.complex64)), 1024, 256, 1024, 6000).numpy()
    assert np.allclose(back, x, atol=1e-5)
    mask = dsp.hard_cut_mask(torch.from_numpy(spec.astype(np.complex64)), 0.2).numpy()
    assert np.array_equal(mask, hard_cut_mask(np.abs(spec), 0.2).astype(np.float32))


def test_filter_mode_only_removes_energy(tiny_model):
    # Two tones in: the filter modes mask the sound itself, so nothing appears at other
    # frequencies (beyond STFT leakage and the in-loop filters).
    tones = (sine(500.0, 1.0, 0.4) + sine(3000.0, 1.0, 0.4))[None, :]
    out = Dreamer(tiny_model, FAST.replace(mode="filter", threshold=0.05), device="cpu").process(tones, SR)
    spectrum = np.abs(np.fft.rfft(out[0])) ** 2
    freqs = np.fft.rfftfreq(out.shape[1], 1 / SR)
    near = (np.abs(freqs - 500) < 60) | (np.abs(freqs - 3000) < 60)
    assert spectrum[near].sum() > 0.95 * spectrum.sum()


@pytest.mark.parametrize("mode", ["filter", "filter_flip", "filter_add"])
def test_every_mode_dreams_something_different(tiny_model, rng, mode):
    audio = music_like(rng, 1.0)
    plain = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    out = Dreamer(tiny_model, FAST.replace(mode=mode), device="cpu").process(audio, SR)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0.01
    assert not np.allclose(out, plain, atol=1e-3)


def test_target_mode_needs_and_uses_a_target(tiny_model, rng):
    audio = white_noise(rng, 1.0)[None, :]
    dreamer = Dreamer(tiny_model, FAST.replace(mode="target", threshold=0.3, learning_rate=1.0, iterations=8), device="cpu")
    with pytest.raises(ParameterError, match="target"):
        dreamer.process(audio, SR)
    dreamer.set_target(sine(1500.0, 0.7, 0.5)[None, :], SR)
    out = dreamer.process(audio, SR)
    added = np.abs(np.fft.rfft(out[0] - audio[0] * 0)) ** 2
    freqs = np.fft.rfftfreq(out.shape[1], 1 / SR)
    # The target's mask lets the gradient through only around 1.5 kHz: that band gains energy.
    band = np.abs(freqs - 1500) < 100
    assert added[band].mean() > 3 * added[~band & (freqs < 12000)].mean()


def test_gradient_sonification(tiny_model, rng):
    audio = music_like(rng, 1.0)
    dream = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    gradient = Dreamer(tiny_model, FAST.replace(output="gradient"), device="cpu").process(audio, SR)
    assert np.max(np.abs(gradient)) > 0.01 and np.corrcoef(gradient[0], dream[0])[0, 1] < 0.9


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


def test_dream_plot(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", music_like(rng, 1.0), SR)
    proc = run_cli("dream", src, "-o", tmp_path / "o.wav", "--model", tiny_model_dir, "--quiet", "--plot", tmp_path / "p.png",
                   "--set", "mode=filter_add", "--set", "iterations=2")
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "p.png").convert("L"), dtype=float)
    assert image.shape[1] > 1000 and image.std() > 20
