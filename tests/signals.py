"""Synthetic test signals, all from one place. Audio is (n_channels, n_samples) float32."""

from __future__ import annotations

import numpy as np
import soundfile as sf

SR = 44100


def sine(freq_hz: float, seconds: float = 1.0, amplitude: float = 0.5, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def white_noise(rng, seconds: float = 1.0, amplitude: float = 0.3, sample_rate: int = SR) -> np.ndarray:
    return (amplitude * rng.standard_normal(int(round(seconds * sample_rate)))).astype(np.float32)


def music_like(rng, seconds: float = 2.0, sample_rate: int = SR, n_channels: int = 1) -> np.ndarray:
    """Decaying tones on a beat grid plus a little noise: something with an envelope."""
    n = int(round(seconds * sample_rate))
    out = np.zeros((n_channels, n), dtype=np.float32)
    beat = int(0.25 * sample_rate)
    t = np.arange(beat) / sample_rate
    for c in range(n_channels):
        for i, start in enumerate(range(0, n, beat)):
            f = [110, 220, 165, 330][(i + c) % 4]
            note = np.sin(2 * np.pi * f * t) * np.exp(-t * 12)
            out[c, start : start + beat] += note[: n - start]
        out[c] += 0.01 * rng.standard_normal(n)
    return 0.5 * out / np.max(np.abs(out))


def write(path, audio: np.ndarray, sample_rate: int = SR, subtype: str = "PCM_16") -> str:
    audio = np.atleast_2d(audio)
    sf.write(str(path), audio.T, sample_rate, subtype=subtype)
    return str(path)


def drum_loop(rng, seconds: float = 2.0, sample_rate: int = SR) -> np.ndarray:
    """Kick (a falling sine), snare (noise burst) and closed hats (short bright noise) at 120 bpm."""
    n = int(round(seconds * sample_rate))
    out = np.zeros(n, dtype=np.float32)
    eighth = int(0.25 * sample_rate)
    for i, start in enumerate(range(0, n, eighth)):
        if i % 4 == 0:
            t = np.arange(int(0.2 * sample_rate)) / sample_rate
            hit = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 15)
        elif i % 4 == 2:
            t = np.arange(int(0.15 * sample_rate)) / sample_rate
            hit = 0.6 * rng.standard_normal(len(t)) * np.exp(-t * 25) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20)
        else:
            t = np.arange(int(0.04 * sample_rate)) / sample_rate
            hit = 0.15 * np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t * 120)
        m = min(len(hit), n - start)
        out[start : start + m] += hit[:m].astype(np.float32)
    return (0.8 * out / np.max(np.abs(out)))[None, :]
