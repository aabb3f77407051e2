"""bridge/lab/plots.py: ``--plot``."""

import numpy as np
from conftest import run_cli
from signals import SR, music_like, write


def test_dream_plot(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", music_like(rng, 1.0), SR)
    proc = run_cli("dream", src, "-o", tmp_path / "o.wav", "--model", tiny_model_dir, "--quiet", "--plot", tmp_path / "p.png",
                   "--set", "mode=filter_add", "--set", "iterations=2")
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "p.png").convert("L"), dtype=float)
    assert image.shape[1] > 1000 and image.std() > 20
