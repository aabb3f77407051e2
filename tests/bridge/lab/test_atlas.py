"""bridge/lab/atlas.py: atlas and sweep: numbers, resumability, and the page in a real headless
browser."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import run_cli

from dreambridge.presets import ParameterError, schema

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("atlas")
    proc = run_cli("atlas", "-o", out, "--model", tiny_model_dir, "--layers", "0", "2", "--maps", "0", "1", "2",
                   "--iterations", "8", "--seconds", "0.5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out


def test_atlas_numbers_and_resume(atlas_dir, tiny_model_dir):
    atlas = json.loads((atlas_dir / "atlas.json").read_text())
    assert len(atlas["maps"]) == 6 and set(atlas["layers"]) == {"0", "2"}
    for entry in atlas["maps"]:
        assert (atlas_dir / entry["audio"]).is_file() and (atlas_dir / entry["image"]).is_file()
        assert 0 < entry["rms_mean"] < 1 and 0 <= entry["flatness_inband_mean"] <= 1 and entry["dc_share"] < 0.01
        assert entry["params"]["layer"] == entry["layer"] and entry["params"]["init"] == "noise"
    spread = atlas["layers"]["0"]["centroid_spread_octaves"]
    assert spread >= 0
    before = {p.name: p.stat().st_mtime_ns for p in (atlas_dir / "audio").iterdir()}
    proc = run_cli("atlas", "-o", atlas_dir, "--model", tiny_model_dir, "--layers", "0", "2", "--maps", "0", "1", "2", "3",
                   "--iterations", "8", "--seconds", "0.5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (atlas_dir / "audio").iterdir()}
    assert all(after[k] == v for k, v in before.items())  # done maps were not dreamed again
    assert len(after) == 8  # map 3 of both layers added


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_atlas_page_in_a_real_browser(atlas_dir, tmp_path):
    url = (atlas_dir / "index.html").as_uri()
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The page's own error trap counts uncaught errors; its script also counts the players.
    assert 'data-errors="0"' in dom.stdout
    n_maps = len(json.loads((atlas_dir / "atlas.json").read_text())["maps"])
    assert f'data-players="{n_maps}"' in dom.stdout
    assert "Uncaught" not in dom.stderr
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # not blank: text, spectrogram thumbnails and plots


def test_sweep_lowpass_tracks_brightness(tmp_path, tiny_model_dir):
    proc = run_cli("sweep", "lowpass_hz", "2000", "6000", "12000", "-o", tmp_path, "--model", tiny_model_dir,
                   "--iterations", "10", "--seconds", "0.5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "sweep_lowpass_hz.json").read_text())
    centroids = [r["centroid_hz_mean"] for r in result["rows"]]
    assert centroids[0] < centroids[1] < centroids[2]  # brightness follows the cutoff (Bisig, Fig. 11)
    assert (tmp_path / "sweep_lowpass_hz.png").is_file()
    proc = run_cli("sweep", "lowpass_hz", "90000", "-o", tmp_path, "--model", tiny_model_dir)
    assert proc.returncode == 2 and "lowpass_hz=90000" in proc.stderr


def test_sweep_choices_come_from_the_schema():
    from dreambridge.bridge.cli import get_parser
    from dreambridge.bridge.lab.atlas import SWEEPABLE

    sub = next(a for a in get_parser()._actions if a.dest == "command").choices["sweep"]
    param = next(a for a in sub._actions if a.dest == "param")
    assert list(param.choices) == schema.sweepable() == list(SWEEPABLE)
    assert all(schema.field(n).kind in ("int", "float") for n in SWEEPABLE)
    with pytest.raises(ParameterError, match="whole number"):
        schema.coerce("iterations", 2.5)  # a sweep never truncates 2.5 iterations to 2 silently
