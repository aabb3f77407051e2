"""``dreambridge serve``: one dream engine for every plugin instance on the machine.

Each instance of the native plugin (``bridge/live/plugin/``) owns a block of POSIX shared memory
(``/dev/shm``): a header of 64-bit words, a ring of parameter events and two audio rings
(input, output; ``CAPACITY`` samples per channel). It announces the block on a local unix
socket with one line, ``hello protocol=1 shm=NAME rate=44100 channels=2``; the engine answers
``ok latency=D margin=M session=S`` (or ``error <why>``), maps the block and dreams it through a
``DreamStream`` of its own (its own rate and channel count) on the one shared ``Dreamer``.
Closing the socket detaches the instance.

Latency: ``D = L + M`` samples, where ``L`` is the stream's latency (``n_excerpt + hop``) and
``M`` the margin (``--margin-ms``) that gives this process time to move a block through the
rings while the host plays the previous one. The plugin reports ``D`` to the host. A host
rendering offline makes the plugin wait (header word ``MODE`` = 1): the engine's stream then
waits for its worker too, so the bounce equals ``dreambridge dream``.

The layout below is the one definition; ``dreambridge plugin build`` writes it into the C++
header the plugin compiles against. Words are written by one side each and read by the other;
64-bit aligned stores are atomic on x86-64 and ARM64, and the writer stores the data before the
counter that publishes it.
"""

from __future__ import annotations

import mmap
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from dreambridge.presets import DreamParams, list_presets, load_preset, schema
from dreambridge.presets.errors import DeviceError, DreamError, ParameterError, first_line
from dreambridge.presets.midimap import MidiMap

from dreambridge.bridge.engine.schedule import SMOOTHING_MS, CcState, check_live_change
from .stream import DreamStream

__all__ = [
    "PROTOCOL_VERSION", "MAGIC", "HEADER", "HEADER_BYTES", "EVENT_CAPACITY", "EVENTS_OFFSET", "AUDIO_OFFSET",
    "CAPACITY", "FADE_SAMPLES", "POLL_SECONDS", "HOST_PARAMS", "ENGINE_PRESET", "LAYOUT_PARAMS", "check_socket_free",
    "default_socket_path", "host_parameters", "EngineServer", "run_serve",
]

PROTOCOL_VERSION = 1
MAGIC = int.from_bytes(b"DRMBRDG1", "little")
# header word -> index (uint64 words); P: written by the plugin, E: by the engine
HEADER = {
    "MAGIC": 0, "VERSION": 1, "CHANNELS": 2, "CAPACITY": 3, "SAMPLE_RATE": 4,  # P, once
    "IN_WRITE": 5,  # P: input samples written (absolute position)
    "OUT_WRITE": 6,  # E: output samples written (same positions)
    "SESSION": 7,  # E: id of the attachment that owns the output ring
    "WET_FROM": 8,  # E: first output position the dream is valid at (0 when attached at position 0)
    "MODE": 9,  # P: 1 = the host renders offline (wait for the engine), 0 = real time
    "EVENTS_WRITTEN": 10, "EVENTS_READ": 11,  # P / E: parameter events
    "HEARTBEAT": 12,  # E: monotonic ns of the engine's last pass
    "DRY_BLOCKS": 13, "HARD_CUTS": 14,  # P: blocks played (partly) dry; wet lost without a fade
    "EVENT_CAPACITY": 15,  # P, once
}
HEADER_BYTES = 512
EVENT_CAPACITY = 1024  # events of 16 bytes: uint64 position, uint32 parameter index, float32 value
EVENTS_OFFSET = HEADER_BYTES
AUDIO_OFFSET = EVENTS_OFFSET + 16 * EVENT_CAPACITY
CAPACITY = 1 << 19  # ring samples per channel: 11.9 s at 44.1 kHz, above the longest preset's latency
FADE_SAMPLES = 256  # the plugin's wet/dry crossfade (5.8 ms at 44.1 kHz)
POLL_SECONDS = 0.002  # how often an idle instance looks for new input (well inside the 40 ms margin)
_EVENT = np.dtype([("position", "<u8"), ("index", "<u4"), ("value", "<f4")])

# The parameters a host automates, in plugin order; the last host parameter is the preset selector.
HOST_PARAMS = ("mix", "layer", "channel", "iterations", "learning_rate", "lowpass_hz", "envelope")
ENGINE_PRESET = "(engine)"  # preset selector entry 0: the preset the engine was started with
LAYOUT_PARAMS = ("excerpt_seconds", "crossfade_seconds")  # the excerpt grid: fixed per stream (the latency)


def default_socket_path() -> Path:
    """``$DREAMBRIDGE_SOCKET``, else ``$XDG_RUNTIME_DIR/dreambridge/serve.sock``, else
    ``/tmp/dreambridge-UID/serve.sock`` (the plugin looks in the same places)."""
    env = os.environ.get("DREAMBRIDGE_SOCKET")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "dreambridge" / "serve.sock"
    return Path(f"/tmp/dreambridge-{os.getuid()}") / "serve.sock"


def check_socket_free(path) -> None:
    """Raise ``DeviceError`` when another engine answers on ``path``; remove a socket left behind
    by an engine that died."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        raise DeviceError(f"another dreambridge serve is already running on {path}; stop it, or start this "
                          "one with --socket PATH (plugins find it through $DREAMBRIDGE_SOCKET)")
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
    finally:
        probe.close()


def host_parameters() -> list[dict]:
    """The plugin's host parameters, derived from the parameter schema (``presets.schema``).

    Each is a dict: ``symbol``, ``name``, ``unit``, ``description``, ``min``, ``max``,
    ``default`` (the ``default`` preset's value), ``integer``, ``logarithmic``; the last is the
    preset selector (``choices``: the engine's own preset, then every factory preset). Ranges are
    the schema's controller ranges (MIDI learn's), widened to hold the factory default.
    """
    base = load_preset("default").params
    out = []
    for name in HOST_PARAMS:
        spec = schema.field(name)
        lo, hi = spec.learn_range
        default = getattr(base, name)
        unit = spec.unit if spec.unit in ("Hz", "s") else ""  # a host shows real units; "index" only clutters
        label = name[: -len(unit) - 1] if unit and name.endswith("_" + unit.lower()) else name
        out.append({"symbol": name, "name": label.replace("_", " "), "unit": unit, "description": spec.doc,
                    "min": float(min(lo, default)), "max": float(max(hi, default)), "default": float(default),
                    "integer": spec.discrete, "logarithmic": spec.curve == "log"})
    choices = [ENGINE_PRESET] + list_presets()
    out.append({"symbol": "preset", "name": "preset", "unit": "", "description": "Factory preset (layout kept)",
                "min": 0.0, "max": float(len(choices) - 1), "default": 0.0, "integer": True, "logarithmic": False,
                "choices": choices})
    return out


class _SharedDreamer:
    """One ``Dreamer`` for every instance: excerpts are dreamed one call at a time."""

    def __init__(self, dreamer, lock):
        self._dreamer, self._lock = dreamer, lock

    def layout(self, sample_rate):
        return self._dreamer.layout(sample_rate)

    def params_at(self, seconds):
        return self._dreamer.params_at(seconds)

    def dream_excerpts(self, *args, **kwargs):
        with self._lock:
            return self._dreamer.dream_excerpts(*args, **kwargs)


class _Instance:
    """One attached plugin: its shared memory, its stream and its parameter state."""

    def __init__(self, server, conn, shm_name: str, sample_rate: int, n_channels: int, session: int):
        self.server, self.conn, self.session = server, conn, session
        self.shm_name, self.sample_rate = shm_name, sample_rate
        path = Path("/dev/shm") / shm_name.lstrip("/")
        try:
            with open(path, "r+b") as f:
                self._map = mmap.mmap(f.fileno(), 0)
        except OSError as exc:
            raise ParameterError(f"cannot map the plugin's shared memory {shm_name} ({first_line(exc)})") from None
        words = np.frombuffer(self._map, dtype="<u8", count=HEADER_BYTES // 8)
        self.header = words
        if words[HEADER["MAGIC"]] != MAGIC or words[HEADER["CAPACITY"]] != CAPACITY or \
                words[HEADER["CHANNELS"]] != n_channels or words[HEADER["EVENT_CAPACITY"]] != EVENT_CAPACITY:
            self._map.close()
            raise ParameterError(f"shared memory {shm_name} does not have this engine's layout (protocol "
                                 f"{PROTOCOL_VERSION}); rebuild the plugin with 'dreambridge plugin build'")
        self.events = np.frombuffer(self._map, dtype=_EVENT, count=EVENT_CAPACITY, offset=EVENTS_OFFSET)
        audio = np.frombuffer(self._map, dtype="<f4", count=4 * CAPACITY, offset=AUDIO_OFFSET)
        self.ring_in = audio[: n_channels * CAPACITY].reshape(n_channels, CAPACITY)
        self.ring_out = audio[2 * CAPACITY : 2 * CAPACITY + n_channels * CAPACITY].reshape(n_channels, CAPACITY)
        self.lock = threading.Lock()
        self.state = CcState(MidiMap((), {}), server.params)
        self.stream = DreamStream(server.dreamer, sample_rate, n_channels, realtime=True, params_at=self.params_at)
        self.latency_samples = self.stream.latency_samples + server.margin_samples(sample_rate)
        self.base = int(words[HEADER["IN_WRITE"]])
        self.read = self.base
        # Publish the session: the dream is valid from the start when attached at position 0
        # (an offline render), else once the stream has filled (dry until then).
        words[HEADER["WET_FROM"]] = 0 if self.base == 0 else self.base + self.latency_samples
        words[HEADER["OUT_WRITE"]] = self.base
        words[HEADER["EVENTS_READ"]] = words[HEADER["EVENTS_WRITTEN"]]
        words[HEADER["SESSION"]] = session
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"dreambridge-instance-{session}", daemon=True)

    # -- parameters ---------------------------------------------------------------------------
    def params_at(self, seconds: float) -> DreamParams:
        with self.lock:
            return self.state.params_at(seconds)

    def set_param(self, t: float, name: str, value) -> None:
        """Set ``name`` from stream time ``t`` on (raises ``ParameterError`` for a refused value)."""
        with self.lock:
            candidate = self.state.targets().replace(**{name: value})
        self.server.check(candidate)
        with self.lock:
            self.state.set_value(t, name, value, SMOOTHING_MS, schema.field(name).discrete, from_base=True)

    def set_preset(self, name: str) -> None:
        keep = {k: getattr(self.server.params, k) for k in LAYOUT_PARAMS}
        params = self.server.params if name == ENGINE_PRESET else load_preset(name).params.replace(**keep)
        self.server.check(params)
        with self.lock:
            self.state.base = params

    def now(self) -> float:
        return max(self.read - self.base, 0) / self.sample_rate

    def _apply_events(self) -> None:
        written = int(self.header[HEADER["EVENTS_WRITTEN"]])
        done = int(self.header[HEADER["EVENTS_READ"]])
        specs = self.server.host_params
        for i in range(done, written):
            event = self.events[i % EVENT_CAPACITY]
            index, value = int(event["index"]), float(event["value"])
            t = max(int(event["position"]) - self.base, 0) / self.sample_rate
            try:
                if index >= len(specs):
                    raise ParameterError(f"parameter index {index} is outside 0..{len(specs) - 1}")
                spec = specs[index]
                if "choices" in spec:
                    choice = int(round(value))
                    if not 0 <= choice < len(spec["choices"]):
                        raise ParameterError(f"preset index {choice} is outside 0..{len(spec['choices']) - 1}")
                    self.set_preset(spec["choices"][choice])
                else:
                    self.set_param(t, spec["symbol"], round(value) if spec["integer"] else value)
            except DreamError as exc:
                self.server.report(f"plugin session {self.session}: ignored a parameter change: {first_line(exc)}")
        self.header[HEADER["EVENTS_READ"]] = written

    # -- audio ----------------------------------------------------------------------------------
    def _step(self) -> bool:
        self._apply_events()
        written = int(self.header[HEADER["IN_WRITE"]])
        if written <= self.read:
            return False
        n = min(written - self.read, 16384)
        index = (self.read + np.arange(n)) % CAPACITY
        block = self.ring_in[:, index]
        self.stream.realtime = int(self.header[HEADER["MODE"]]) == 0
        out = self.stream.process(block)
        self.ring_out[:, index] = out
        self.read += n
        self.header[HEADER["OUT_WRITE"]] = self.read
        return True

    def _run(self) -> None:
        self.conn.setblocking(False)
        try:
            while not self.stop.is_set():
                self.header[HEADER["HEARTBEAT"]] = time.monotonic_ns()
                if not self._step():
                    time.sleep(POLL_SECONDS)  # each wake-up takes the GIL from the dream worker: poll gently
                try:
                    if self.conn.recv(64) == b"":
                        break  # the plugin closed its socket: detached
                except BlockingIOError:
                    pass
                except OSError:
                    break
                if self.stream.error() is not None:
                    self.server.report(f"plugin session {self.session}: the dream worker stopped: "
                                       f"{first_line(self.stream.error())}")
                    break
        finally:
            self.close()
            self.server.detach(self)

    def close(self) -> None:
        self.stop.set()
        self.stream.close()
        try:
            self.conn.close()
        except OSError:
            pass


class EngineServer:
    """The engine process: accept plugins on ``socket_path``, dream each on its own stream.

    Parameters
    ----------
    dreamer : Dreamer
        Shared by every instance (one excerpt dreamed at a time); its parameters at time 0 fix
        the excerpt layout, and so the latency.
    socket_path : path
    margin_ms : float
        Time for a block to cross the rings (part of the latency), 1..1000 ms.
    out, err : file
        ``ready`` / ``latency`` lines and attachments go to ``out``; refusals and faults to ``err``.
    """

    def __init__(self, dreamer, socket_path, *, margin_ms: float = 40.0, out=sys.stdout, err=sys.stderr):
        if not 1 <= margin_ms <= 1000:
            raise ParameterError(f"--margin-ms {margin_ms:g} is outside 1..1000")
        self.dreamer_full = dreamer
        self.params = dreamer.params_at(0.0)
        self.dreamer = _SharedDreamer(dreamer, threading.Lock())
        self.socket_path = Path(socket_path)
        self.margin_ms = float(margin_ms)
        self.out, self.err = out, err
        self.host_params = host_parameters()
        self.instances: dict[int, _Instance] = {}
        self._lock = threading.Lock()
        self._sessions = 0
        self.n_refused = 0
        self._listener = None

    def margin_samples(self, sample_rate: int) -> int:
        return int(round(self.margin_ms * sample_rate / 1000))

    def latency_samples(self, sample_rate: int = 44100) -> int:
        n_excerpt, n_fade, _ = self.dreamer_full.layout(sample_rate)
        return n_excerpt + (n_excerpt - n_fade) + self.margin_samples(sample_rate)

    def check(self, params: DreamParams) -> None:
        """Validate ``params`` against the model (no lock: the dreamer's check is a pure, cached lookup, and
        waiting for the excerpt being dreamed would stall this instance's audio)."""
        self.dreamer_full._check(params)

    def report(self, line: str) -> None:
        print(line, file=self.err, flush=True)

    # -- the socket ----------------------------------------------------------------------------
    def listen(self) -> None:
        """Bind the socket; one clear error when another engine already serves it."""
        path = self.socket_path
        check_socket_free(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
        except OSError as exc:
            listener.close()
            raise DeviceError(f"cannot listen on {path} ({first_line(exc)}); pick another --socket") from None
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener

    def serve(self, stop: threading.Event) -> None:
        """Accept plugins until ``stop`` is set."""
        try:
            while not stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except (TimeoutError, socket.timeout):
                    continue
                self._accept(conn)
        finally:
            self.close()

    def _accept(self, conn) -> None:
        conn.settimeout(2.0)
        try:
            line = _read_line(conn)
        except OSError:
            line = ""
        if not line:
            conn.close()  # a probe (a second serve checking the socket) or a client that gave up
            return
        try:
            fields = _parse_hello(line)
            with self._lock:
                self._sessions += 1
                session = (os.getpid() << 20) | self._sessions
            instance = _Instance(self, conn, fields["shm"], fields["rate"], fields["channels"], session)
        except Exception as exc:  # a DreamError is expected; anything else is a bug, reported, never fatal
            if not isinstance(exc, DreamError):
                traceback.print_exc(file=self.err)
            self.n_refused += 1
            self.report(f"refused a plugin: {first_line(exc)}")
            try:
                conn.sendall(f"error {first_line(exc)}\n".encode())
            except OSError:
                pass
            conn.close()
            return
        with self._lock:
            self.instances[session] = instance
        instance.thread.start()
        conn.sendall(f"ok latency={instance.latency_samples} margin={self.margin_samples(instance.sample_rate)} "
                     f"session={session}\n".encode())
        print(f"plugin attached: session {session}, {instance.sample_rate} Hz, {instance.stream.n_channels} "
              f"channel(s), latency: {instance.latency_samples} samples", file=self.out, flush=True)

    def detach(self, instance: _Instance) -> None:
        with self._lock:
            self.instances.pop(instance.session, None)
        stats = instance.stream.stats
        dry_blocks = int(instance.header[HEADER["DRY_BLOCKS"]])
        print(f"plugin detached: session {instance.session}; the plugin played {dry_blocks} block(s) (partly) dry, "
              f"the engine {stats.dropout_samples} late sample(s) dry, "
              f"{stats.excerpts_dreamed} excerpt(s) dreamed", file=self.out, flush=True)

    def set_param(self, name: str, value) -> None:
        """Set a parameter on every attached instance and for those to come (OSC)."""
        check_live_change(name)
        candidate = self.params.replace(**{name: value})  # unknown names and bad values: one ParameterError
        self.check(candidate)
        with self._lock:
            instances = list(self.instances.values())
        for instance in instances:
            instance.set_param(instance.now(), name, value)
        self.params = candidate

    def close(self) -> None:
        with self._lock:
            instances = list(self.instances.values())
        for instance in instances:
            instance.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self.socket_path.unlink(missing_ok=True)


def _read_line(conn, limit: int = 1024) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


def _parse_hello(line: str) -> dict:
    words = line.split()
    if not words or words[0] != "hello":
        raise ParameterError(f"not a dreambridge plugin greeting: {line[:60]!r}")
    fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    protocol = fields.get("protocol", "?")
    if protocol != str(PROTOCOL_VERSION):
        raise ParameterError(f"a plugin of protocol {protocol} connected, but this engine speaks protocol "
                             f"{PROTOCOL_VERSION}; rebuild and reinstall the plugin with 'dreambridge plugin build' "
                             "from this dreambridge")
    try:
        rate, channels = int(fields["rate"]), int(fields["channels"])
        shm = fields["shm"]
    except (KeyError, ValueError):
        raise ParameterError(f"plugin greeting lacks shm=, rate= or channels=: {line[:80]!r}") from None
    if not 8000 <= rate <= 384000 or not 1 <= channels <= 2 or "/" in shm.lstrip("/"):
        raise ParameterError(f"plugin greeting has rate={rate}, channels={channels}, shm={shm!r}; "
                             "expected 8000..384000 Hz, 1..2 channels, a shared memory name")
    return {"rate": rate, "channels": channels, "shm": shm}


def run_serve(dreamer, socket_path, *, margin_ms: float = 40.0, osc_port: int | None = None,
              duration: float | None = None, out=sys.stdout, err=sys.stderr) -> dict:
    """Run the engine until SIGINT/SIGTERM or ``duration`` seconds; return counters."""
    server = EngineServer(dreamer, socket_path, margin_ms=margin_ms, out=out, err=err)
    server.listen()
    osc = None
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if osc_port is not None:
            from .osc import OscControl

            osc = OscControl(osc_port, server.set_param, err=err)
        for s in previous:
            signal.signal(s, lambda *_: stop.set())
        if duration is not None:
            threading.Timer(duration, stop.set).start()
        latency = server.latency_samples(44100)
        print(f"latency: {latency} samples ({1000 * latency / 44100:.1f} ms) at 44100 Hz "
              f"(dream {latency - server.margin_samples(44100)} + margin {server.margin_samples(44100)}); "
              "the plugin reports it to the host", file=out, flush=True)
        print(f"ready: dreambridge serve on {server.socket_path} (protocol {PROTOCOL_VERSION}"
              f"{f', OSC on UDP {osc.port}' if osc else ''}); Ctrl-C stops", file=out, flush=True)
        server.serve(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if osc is not None:
            osc.close()
        server.close()
    return {"refused": server.n_refused, "sessions": server._sessions,
            "osc_messages": osc.n_messages if osc else 0, "osc_malformed": osc.n_malformed if osc else 0}

