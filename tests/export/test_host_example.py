"""export/host_example.py: the torch-free host dreams what the engine dreams."""

import json
import subprocess
import sys

import numpy as np
from signals import SR, music_like, write

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.presets import DreamParams


def test_host_example_never_imports_torch(exported, tmp_path, rng):
    out, _, _ = exported
    src = write(tmp_path / "in.wav", music_like(rng, 1.5, n_channels=2), SR, "PCM_16")
    dst = tmp_path / "out.wav"
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['host', {str(out / 'step.onnx')!r}, {src!r}, {str(dst)!r}, '--iterations', '3']\n"
        "try:\n    runpy.run_module('dreambridge.export.host_example', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not bad, bad\nprint('torch-free')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "torch-free" in proc.stdout, proc.stderr
    import soundfile as sf

    data, rate = sf.read(str(dst), always_2d=True)
    assert rate == SR and data.shape == (int(1.5 * SR), 2) and np.all(np.isfinite(data)) and np.abs(data).max() > 0.05


def test_host_example_matches_the_engine(exported, rng):
    """The standalone host (another program's view of the graph) dreams what the engine dreams."""
    import onnxruntime as ort

    from dreambridge.export.host_example import dream_excerpt

    out, _, _ = exported
    session = ort.InferenceSession(str(out / "step.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    channels, n_classes = json.loads(meta["layer_channels"]), len(json.loads(meta["class_names"]))
    layer, n = 2, SR // 2
    weights = np.zeros(sum(channels), np.float32)
    weights[sum(channels[:layer]) : sum(channels[: layer + 1])] = 1.0 / channels[layer]
    x = (music_like(rng, 0.5)[0] * 0.5).astype(np.float32)
    # The host's loop: offsets -1..1 (one draw per iteration), gradient / max|gradient|, no
    # smoothing, 12 kHz order-8 low-pass and 20 Hz order-2 DC blocker, normalise then low-pass (the paper's order), the input's level.
    params = DreamParams(layer=layer, channel=-1, iterations=4, learning_rate=0.04, max_offset_samples=1, jitter="fixed",
                         smoothing_kernel=1, grad_norm="max", lowpass_hz=12000.0, highpass_hz=20.0, excerpt_seconds=0.5,
                         crossfade_seconds=0.0, seed=3)
    engine = Dreamer(str(out / "step.onnx"), params, backend="onnx").process(x[None, :], SR)[0]
    host = dream_excerpt(session, x, weights, n_classes, 4, 0.04, np.random.default_rng([3, 0]), SR)
    control = dream_excerpt(session, x, weights, n_classes, 4, 0.04, np.random.default_rng([4, 0]), SR)
    assert np.abs(engine).max() > 0.1 and np.abs(engine - x).max() > 1e-3  # something was dreamed
    # Same steps in another float order (the engine adds and filters in the frequency domain):
    # float32 rounding over 4 iterations stays near 1e-6 of full scale.
    assert np.abs(engine - host).max() < 1e-4
    assert np.abs(engine - control).max() > 100 * np.abs(engine - host).max()  # another seed: other offsets
