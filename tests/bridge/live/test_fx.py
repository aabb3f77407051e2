"""bridge/live/fx.py: effect parameters as first-class parameters (``--set``, automation lanes),
and the chain's errors."""

import os

import numpy as np
import pytest
import soundfile as sf
from conftest import automation_file, run_cli
from signals import SR, white_noise, write

from dreambridge.presets import ParameterError, load_preset


def _gain_preset(path):
    # mix = 0: the dream passes the input through to the sample, so only the effect chain acts
    path.write_text('schema = 1\n[params]\nmix = 0.0\niterations = 1\nexcerpt_seconds = 0.25\ncrossfade_seconds = 0.02\n'
                    '[[fx.post]]\nplugin = "Gain"\ngain_db = 0.0\n')
    return path


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


ZAM = "/usr/lib/vst3/ZamCompX2.vst3"


def test_batch_automation_moves_effect_lanes_as_live_does(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 4.0, amplitude=0.1)[None, :], SR, "FLOAT")
    preset = _gain_preset(tmp_path / "gain.toml")
    mid = automation_file(tmp_path / "auto.mid", 2.25)  # CC 77: 0 from the start, 127 from 2.25 s
    midimap = tmp_path / "map.toml"
    midimap.write_text('schema = 1\n[[cc]]\ncc = 77\nparam = "fx.post.0.gain_db"\nrange = [-20.0, 0.0]\ncurve = "lin"\n')
    args = ["--model", tiny_model_dir, "--quiet", "--preset", preset]
    assert run_cli("batch", src, "-o", tmp_path / "auto", *args, "--automation", mid, "--midi-map", midimap).returncode == 0
    assert run_cli("batch", src, "-o", tmp_path / "plain", *args).returncode == 0  # control: no lanes
    x, _ = sf.read(src, dtype="float32")
    auto, _ = sf.read(str(tmp_path / "auto" / "in_gain.wav"), dtype="float32")
    plain, _ = sf.read(str(tmp_path / "plain" / "in_gain.wav"), dtype="float32")
    before, after = slice(int(0.2 * SR), int(2.0 * SR)), slice(int(2.5 * SR), int(3.8 * SR))
    # the lane's -20 dB until 2.25 s, then 0 dB; windows keep clear of the switch and the
    # plugin's own gain ramp, so 0.2 dB covers float rounding only
    assert 20 * np.log10(_rms(auto[before]) / _rms(x[before])) == pytest.approx(-20, abs=0.2)
    assert 20 * np.log10(_rms(auto[after]) / _rms(x[after])) == pytest.approx(0, abs=0.2)
    assert 20 * np.log10(_rms(plain[before]) / _rms(x[before])) == pytest.approx(0, abs=0.2)  # the control


def test_set_reaches_effect_parameters(tmp_path, rng, tiny_model_dir):
    src = write(tmp_path / "in.wav", white_noise(rng, 1.0, amplitude=0.1)[None, :], SR, "FLOAT")
    preset = _gain_preset(tmp_path / "gain.toml")
    proc = run_cli("dream", src, "-o", tmp_path / "o.wav", "--model", tiny_model_dir, "--quiet", "--preset", preset,
                   "--set", "fx.post.0.gain_db=-12")
    assert proc.returncode == 0, proc.stderr
    x, _ = sf.read(src, dtype="float32")
    y, _ = sf.read(str(tmp_path / "o.wav"), dtype="float32")
    assert 20 * np.log10(_rms(y) / _rms(x)) == pytest.approx(-12, abs=0.2)  # Gain's own ramp: first ms only
    proc = run_cli("dream", src, "-o", tmp_path / "p.wav", "--model", tiny_model_dir, "--set", "fx.pre.0.gain_db=-12")
    assert proc.returncode == 2 and "has no [[fx.pre]] chain" in proc.stderr and not (tmp_path / "p.wav").exists()


def test_fx_errors_are_clear(tmp_path):
    from dreambridge.bridge.live.fx import build_chain

    for body, message in [
        ('[[fx.pre]]\nplugin = "Fuzzbox"\n', "unknown pedalboard plugin 'Fuzzbox'"),
        ('[[fx.pre]]\nvst3 = "/nowhere/X.vst3"\n', "not found"),
        ('[[fx.pre]]\nplugin = "Gain"\nloudness = 3\n', "has no parameter 'loudness'; valid: gain_db"),  # names listed
    ]:
        path = tmp_path / "p.toml"
        path.write_text("schema = 1\n" + body)
        with pytest.raises(ParameterError, match=message):
            build_chain(load_preset(path), "pre")
    path.write_text('schema = 1\n[[fx.pre]]\nplugin = "Gain"\nvst3 = "x"\n')
    with pytest.raises(ParameterError, match="exactly one of"):
        load_preset(path)
    if os.path.exists(ZAM):
        path.write_text(f'schema = 1\n[[fx.post]]\nvst3 = "{ZAM}"\nthreshhold = 1.0\n')
        with pytest.raises(ParameterError, match="has no parameter 'threshhold'; valid"):
            build_chain(load_preset(path), "post")
