"""Dream a file with onnxruntime + numpy + soundfile only: a minimal host.

This is what a C++ plugin, a Max/Pd external or another language does with an exported
dream-step graph (``dreambridge export MODEL --dream-step -o step.onnx``). It reads the
graph's metadata (sample rate, channel counts), and for each 1 s excerpt of each channel:
peak-normalise, then per iteration run the graph on a randomly shifted copy, shift the
gradient back, step by ``learning_rate * gradient / max|gradient|``, normalise (peak 1),
then low-pass (12 kHz) and DC-block in the FFT domain (the filter last, so what it cuts
lowers the level); finally restore the excerpt's level and crossfade excerpts. No torch, no dreambridge import::

    python -m dreambridge.export.host_example step.onnx in.wav out.wav --layer 2 --iterations 10

(It runs the same loop as ``dreambridge dream --backend onnx`` without the smoothing
and the ``grad_norm`` choices: a readable reference, not the product.)
"""

import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
import soundfile as sf

__all__ = ["dream_excerpt", "main"]


def band_gain(n, sample_rate, lowpass_hz=12000.0, highpass_hz=20.0):
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain = 1.0 / np.sqrt(1.0 + (f / lowpass_hz) ** 16)  # Butterworth order 8, zero phase
    with np.errstate(divide="ignore"):
        gain *= np.where(f > 0, 1.0 / np.sqrt(1.0 + (highpass_hz / np.maximum(f, 1e-9)) ** 4), 0.0)
    return gain


def dream_excerpt(session, x, weights, n_classes, iterations, learning_rate, rng, sample_rate):
    """Dream one mono excerpt ``x`` (any level) through the step graph; same level out."""
    level = np.max(np.abs(x))
    if level < 1e-5:
        return np.zeros_like(x)
    x = (x / level).astype(np.float32)
    gain = band_gain(len(x), sample_rate)
    names = {i.name for i in session.get_inputs()}
    for _ in range(iterations):
        shift = int(rng.integers(-1, 2))
        feed = {"waveform": np.roll(x, shift)[None, None, :], "layer_weights": weights,
                "class_weights": np.zeros(n_classes, np.float32), "learning_rate": np.zeros(1, np.float32),
                "sparsity": np.zeros(1, np.float32), "continuity": np.zeros(1, np.float32)}
        feed = {k: v for k, v in feed.items() if k in names}  # a shallow graph takes fewer inputs
        gradient = session.run(["gradient"], feed)[0][0, 0]
        gradient = np.roll(gradient, -shift)
        x = x + learning_rate * gradient / max(np.max(np.abs(gradient)), 1e-30)
        x = x / max(np.max(np.abs(x)), 1e-30)
        x = np.fft.irfft(np.fft.rfft(x) * gain, n=len(x)).astype(np.float32)
    return x * min(level, 10 ** (-0.1 / 20))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step_onnx")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.04)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    session = ort.InferenceSession(args.step_onnx, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    sample_rate = int(meta["sample_rate"])
    channels = json.loads(meta["layer_channels"])
    n_classes = len(json.loads(meta["class_names"]))
    weights = np.zeros(sum(channels), np.float32)
    start = sum(channels[: args.layer])
    weights[start : start + channels[args.layer]] = 1.0 / channels[args.layer]  # all maps of the layer

    audio, rate = sf.read(args.input, dtype="float32", always_2d=True)
    if rate != sample_rate:
        sys.exit(f"{args.input} is {rate} Hz; this minimal host expects {sample_rate} Hz")
    n_excerpt, n_fade = sample_rate, sample_rate // 10
    hop = n_excerpt - n_fade
    out = np.zeros_like(audio)
    weight = np.zeros(len(audio) + n_excerpt, np.float32)
    ramp = np.sin(0.5 * np.pi * (np.arange(n_fade) + 0.5) / n_fade) ** 2
    rng = np.random.default_rng(args.seed)
    for start in range(0, max(len(audio) - n_fade, 1), hop):
        stop = min(start + n_excerpt, len(audio))
        w = np.ones(stop - start, np.float32)
        if start > 0:
            w[:n_fade] = ramp[: len(w)]
        if stop < len(audio):
            w[-n_fade:] = ramp[::-1]
        for c in range(audio.shape[1]):
            excerpt = np.zeros(n_excerpt, np.float32)
            excerpt[: stop - start] = audio[start:stop, c]
            dreamed = dream_excerpt(
                session, excerpt, weights, n_classes, args.iterations, args.learning_rate, rng, sample_rate
            )
            out[start:stop, c] += dreamed[: stop - start] * w
        weight[start:stop] += w
    out /= np.maximum(weight[: len(audio), None], 1e-9)
    info = sf.info(args.input)
    sf.write(args.output, out, sample_rate, subtype=info.subtype)
    print(f"{args.output}: {len(audio) / sample_rate:.2f} s dreamed with onnxruntime only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
