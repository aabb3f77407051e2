"""``dream_short_files``: one-shots dreamed in one batch equal ``dream_file`` file by file."""

import numpy as np
import soundfile as sf
from signals import SR, music_like

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.io.files import dream_file, dream_short_files
from dreambridge.presets import DreamParams

PARAMS = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05)


def _shots(tmp_path, rng, n, seconds=0.3, channels=1):
    paths = []
    for i in range(n):
        path = tmp_path / f"in{i}.wav"
        sf.write(path, music_like(rng, seconds * (0.5 + 0.5 * i / n), n_channels=channels).T, SR, subtype="FLOAT")
        paths.append(path)
    return paths


def test_batched_one_shots_equal_file_by_file(tiny_model, rng, tmp_path):
    paths = _shots(tmp_path, rng, 4, channels=2)
    alone = Dreamer(tiny_model, PARAMS, device="cpu", batch_size=1)
    together = Dreamer(tiny_model, PARAMS, device="cpu", batch_size=8)
    for p in paths:
        dream_file(alone, p, tmp_path / f"{p.stem}.alone.wav", progress=False)
    items = [(p, tmp_path / f"{p.stem}.together.wav", None, None) for p in paths]
    missing = (tmp_path / "missing.wav", tmp_path / "never.wav", None, None)
    results = dream_short_files(together, [*items[:2], missing, *items[2:]])
    assert [type(r).__name__ for r in results].count("RenderStats") == 4
    assert "AudioIOError" in type(results[2]).__name__ or isinstance(results[2], OSError)
    assert not (tmp_path / "never.wav").exists()  # a failed file leaves nothing
    for p in paths:
        a, rate_a = sf.read(tmp_path / f"{p.stem}.alone.wav", dtype="float32")
        b, rate_b = sf.read(tmp_path / f"{p.stem}.together.wav", dtype="float32")
        assert rate_a == rate_b and a.shape == b.shape == sf.read(p)[0].shape  # same length: aligned at sample 0
        # oneDNN rounds a batch of 8 excerpt-channels differently from one at a time: ~5e-7 measured
        assert np.max(np.abs(a - b)) < 1e-4


def test_one_file_alone_is_dream_file_to_the_bit(tiny_model, rng, tmp_path):
    (path,) = _shots(tmp_path, rng, 1)
    dreamer = Dreamer(tiny_model, PARAMS, device="cpu")
    dream_file(dreamer, path, tmp_path / "a.wav", progress=False)
    dream_short_files(dreamer, [(path, tmp_path / "b.wav", None, None)])
    assert np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
