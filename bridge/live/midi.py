"""MIDI through mido + python-rtmidi: live control of every parameter, MIDI learn, ports.

The rtmidi API follows ``MIDO_BACKEND`` (e.g. ``mido.backends.rtmidi/UNIX_JACK`` for JACK
MIDI, the default ALSA/CoreMIDI/WinMM elsewhere). Messages arrive on rtmidi's thread;
``LiveControl`` applies them under a lock, and the dream worker and the audio callback
read consistent snapshots (``params_now``, ``fx_now``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dreambridge.bridge.engine.schedule import CcState
from dreambridge.presets import schema
from dreambridge.presets.errors import DeviceError, ParameterError, first_line
from dreambridge.presets.fileutil import atomic_path
from dreambridge.presets.midimap import MidiMap, load_midi_map

__all__ = ["LiveControl", "list_ports", "open_input", "learn", "DEFAULT_RANGES", "CHOICES"]

# MIDI learn's controller range and curve for each parameter, from the schema (param -> (range, curve)).
DEFAULT_RANGES = {f.name: (list(f.learn_range), f.curve) for f in schema.FIELDS.values()
                  if f.automatable and f.curve and not f.choices}
CHOICES = {f.name: list(f.choices) for f in schema.FIELDS.values() if f.automatable and f.choices}


def _mido():
    try:
        import mido
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DeviceError(f"mido is not installed ({exc}); pip install mido python-rtmidi") from None
    return mido


def list_ports() -> dict:
    mido = _mido()
    try:
        return {"inputs": mido.get_input_names(), "outputs": mido.get_output_names()}
    except Exception as exc:
        raise DeviceError(f"no MIDI system available ({first_line(exc)}); on Linux without ALSA sequencer set "
                          "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK with a JACK server running") from None


def open_input(port: str | None = None, virtual: str | None = None, callback=None):
    """Open an input port by (part of its) name, or create a virtual one."""
    mido = _mido()
    try:
        if virtual:
            return mido.open_input(virtual, virtual=True, callback=callback)
        names = mido.get_input_names()
        match = [n for n in names if n == port] or [n for n in names if port and port.lower() in n.lower()]
        if not match:
            raise DeviceError(f"MIDI input {port!r} not found; inputs: {', '.join(names) or 'none'} "
                              "(or use --virtual-midi NAME)")
        return mido.open_input(match[0], callback=callback)
    except DeviceError:
        raise
    except Exception as exc:
        raise DeviceError(f"cannot open MIDI input ({first_line(exc)})") from None


class LiveControl:
    """Thread-safe parameter state driven by MIDI messages (CC, program change)."""

    def __init__(self, midi_map: MidiMap | None, base, clock=time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock
        self.t0 = clock()
        self.state = CcState(midi_map or MidiMap((), {}), base)
        self.n_messages = 0

    def now(self) -> float:
        return self.clock() - self.t0

    def handle(self, message) -> None:
        """rtmidi-thread callback: map and apply one message (errors are counted, not raised)."""
        with self.lock:
            self.n_messages += 1
            if message.type == "control_change":
                self.state.control_change(self.now(), message.channel + 1, message.control, message.value)
            elif message.type == "program_change":
                self.state.program_change(message.program)

    def params_now(self, _seconds=None):
        with self.lock:
            return self.state.params_at(self.now())

    def fx_now(self) -> dict:
        with self.lock:
            return self.state.fx_at(self.now())


def learn(param: str, map_path, port: str | None = None, virtual: str | None = None, timeout: float = 60.0) -> dict:
    """Wait for the next CC on the input and bind it to ``param`` in ``map_path``
    (created if missing). Returns the entry written."""
    spec = schema.field(param)  # an unknown name raises, listing the valid ones
    if param not in CHOICES and param not in DEFAULT_RANGES:
        raise ParameterError(f"{param} cannot be moved by a controller while dreaming; learnable: "
                             f"{', '.join(n for n in schema.FIELDS if n in CHOICES or n in DEFAULT_RANGES)}")
    got = []
    event = threading.Event()

    def on_message(message):
        if message.type == "control_change" and not got:
            got.append(message)
            event.set()

    inp = open_input(port, virtual, on_message)
    try:
        if not event.wait(timeout):
            raise DeviceError(f"no control change arrived within {timeout:g} s; move a knob on {port or virtual}")
    finally:
        inp.close()
    message = got[0]
    entry = {"cc": message.control, "channel": message.channel + 1, "param": param}
    lines = ["", "[[cc]]", f"cc = {message.control}", f"channel = {message.channel + 1}", f'param = "{param}"']
    if spec.choices:
        lines += ['curve = "choice"', "values = [" + ", ".join(f'"{v}"' for v in CHOICES[param]) + "]"]
    else:
        rng, curve = DEFAULT_RANGES[param]
        lines += [f"range = [{rng[0]}, {rng[1]}]", f'curve = "{curve}"']
        if not spec.discrete:
            lines.append("smoothing_ms = 30.0")
        entry.update({"range": rng, "curve": curve})
    path = Path(map_path)
    text = path.read_text() if path.exists() else 'schema = 1\nname = "learned"\n'
    candidate = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(candidate)
        load_midi_map(tmp)  # validate before it replaces the map
    return entry
