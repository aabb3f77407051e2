"""The golden table: sha256 of the samples that fixed commands write on a fixed input.

A refactor must leave these bit-identical; a deliberate change of sound regenerates the
table (``python tests/golden_cases.py --update``) and says why in its commit.

Cases: ``dreambridge dream`` with every factory preset, a batch with MIDI-file automation,
a streamed render (``DreamStream`` with ``realtime=False``) and an ONNX-backend render,
all on the shipped default model and a 2 s stereo input from ``signals.music_like``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
TABLE = HERE / "golden.json"
sys.path.insert(0, str(HERE))

__all__ = ["CASES", "compute", "TABLE"]

# name -> extra CLI arguments for `dreambridge dream IN -o OUT` (short iteration counts keep it quick)
CASES = {
    "preset-default": ["--preset", "default"],
    "preset-subtle": ["--preset", "subtle"],
    "preset-dream": ["--preset", "dream"],
    "preset-deep": ["--preset", "deep"],
    "preset-shatter": ["--preset", "shatter"],
    "preset-ardila": ["--preset", "ardila"],
    "preset-bisig-exp1": ["--preset", "bisig-exp1", "--set", "iterations=20", "--duration", "2"],
    "preset-bisig-exp2": ["--preset", "bisig-exp2"],
    "preset-bisig-exp2-sequence": ["--preset", "bisig-exp2-sequence", "--duration", "2"],
    "onnx-default": ["--preset", "default", "--backend", "onnx"],
}


def _digest(path) -> str:
    audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest()


def _input(tmp: Path) -> Path:
    from signals import music_like, write

    audio = music_like(np.random.default_rng(7), 2.0, n_channels=2)
    return Path(write(tmp / "in.wav", audio, 44100, "FLOAT"))


def _automation(tmp: Path) -> tuple[Path, Path]:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.Message("control_change", control=77, value=20, time=0))
    track.append(mido.Message("control_change", control=78, value=0, time=0))
    track.append(mido.Message("control_change", control=77, value=110, time=960))
    track.append(mido.Message("control_change", control=78, value=127, time=480))
    mid.save(str(tmp / "auto.mid"))
    (tmp / "map.toml").write_text(
        'schema = 1\n[[cc]]\ncc = 77\nparam = "mix"\nrange = [0.0, 1.0]\ncurve = "lin"\n'
        '[[cc]]\ncc = 78\nparam = "lowpass_hz"\nrange = [3000.0, 9000.0]\ncurve = "lin"\n')
    return tmp / "auto.mid", tmp / "map.toml"


def compute(tmp: Path, names=None) -> dict[str, str]:
    """Run the cases into ``tmp``; return ``{case: sha256 of the float32 samples}``."""
    from dreambridge.bridge.cli import main

    tmp = Path(tmp)
    src = _input(tmp)
    out = {}
    for name, args in CASES.items():
        if names and name not in names:
            continue
        dst = tmp / f"{name}.wav"
        inputs = [] if "--duration" in args else [str(src)]  # presets that start from noise take no input
        rc = main(["dream", *inputs, "-o", str(dst), "--quiet", *args])
        assert rc == 0, name
        out[name] = _digest(dst)
    if not names or "batch-automation" in names:
        mid, midimap = _automation(tmp)
        rc = main(["batch", str(src), "-o", str(tmp / "batch"), "--quiet", "--automation", str(mid),
                   "--midi-map", str(midimap), "--set", "iterations=4"])
        assert rc == 0
        out["batch-automation"] = _digest(tmp / "batch" / "in_default.wav")
    if not names or "stream-offline" in names:
        from dreambridge.bridge.engine import Dreamer
        from dreambridge.bridge.live.stream import DreamStream
        from dreambridge.presets.loader import load_preset

        audio, sample_rate = sf.read(str(src), dtype="float32", always_2d=True)
        audio = audio.T
        dreamer = Dreamer("default", load_preset("default").params)
        stream = DreamStream(dreamer, sample_rate, audio.shape[0], realtime=False)
        latency = stream.latency_samples
        padded = np.concatenate([audio, np.zeros((audio.shape[0], latency), np.float32)], axis=1)
        blocks = [stream.process(padded[:, i:i + 512]) for i in range(0, padded.shape[1], 512)]
        stream.close()
        wet = np.concatenate(blocks, axis=1)[:, latency:latency + audio.shape[1]]
        out["stream-offline"] = hashlib.sha256(np.ascontiguousarray(wet.T).tobytes()).hexdigest()
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        table = compute(Path(d))
    text = json.dumps(table, indent=2, sort_keys=True) + "\n"
    if "--update" in sys.argv:
        TABLE.write_text(text)
    print(text)
