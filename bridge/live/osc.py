"""OSC control: ``/dreambridge/<parameter> value`` over UDP sets any ``DreamParams`` field.

One listener thread per ``--osc-port`` (``live`` and ``serve``). Datagrams are parsed with
python-osc; each valid message calls ``apply(name, value)``, which sets the parameter with the
same smoothing as a learned MIDI control (``engine.schedule.SMOOTHING_MS``). A malformed message
(not OSC, another address, no or several arguments, an unknown parameter, a value the
parameters refuse) is counted and reported in one line on ``err``; it is never fatal.
"""

from __future__ import annotations

import socket
import sys
import threading

from dreambridge.presets import schema
from dreambridge.presets.errors import DeviceError, DreamError, first_line

__all__ = ["OSC_PREFIX", "OscControl"]

OSC_PREFIX = schema.OSC_PREFIX + "/"  # the schema's addresses: /dreambridge/<parameter>


class OscControl:
    """Listen on UDP ``host:port`` and apply ``/dreambridge/<parameter> value`` messages.

    Parameters
    ----------
    port : int
        UDP port, 1..65535.
    apply : callable
        ``apply(name, value)``; raises ``DreamError`` (usually ``ParameterError``) to refuse a value.
    host : str
        Address to bind (default: loopback only).
    err : file
        Where each malformed message is reported (one line).
    """

    def __init__(self, port: int, apply, *, host: str = "127.0.0.1", err=sys.stderr):
        try:
            from pythonosc.osc_message import OscMessage
        except ImportError:
            raise DeviceError("--osc-port needs python-osc; pip install python-osc") from None
        if not 0 < int(port) < 65536:
            raise DeviceError(f"--osc-port {port} is outside 1..65535")
        self._parse = OscMessage
        self.apply, self.err = apply, err
        self.n_messages = 0
        self.n_malformed = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, int(port)))
        except OSError as exc:
            self._sock.close()
            raise DeviceError(f"cannot listen for OSC on UDP {host}:{port} ({first_line(exc)}); "
                              "pick a free --osc-port") from None
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dreambridge-osc", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65536)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.handle(data, peer)

    def handle(self, data: bytes, peer=None) -> bool:
        """Parse and apply one datagram; ``False`` (counted, reported) when it is malformed."""
        try:
            name, value = self._decode(data)
            self.apply(name, value)
        except (DreamError, ValueError, TypeError, IndexError) as exc:
            self.n_malformed += 1
            where = f" from {peer[0]}:{peer[1]}" if peer else ""
            print(f"osc: ignored a malformed message{where}: {first_line(exc)} ({self.n_malformed} so far)",
                  file=self.err, flush=True)
            return False
        self.n_messages += 1
        return True

    def _decode(self, data: bytes):
        try:
            message = self._parse(data)
        except Exception as exc:  # python-osc raises its own ParseError, or struct/index errors on garbage
            raise ValueError(f"not an OSC message ({first_line(exc)})") from None
        address = message.address
        if not address.startswith(OSC_PREFIX):
            raise ValueError(f"address {address!r} is not {OSC_PREFIX}<parameter>")
        name = address[len(OSC_PREFIX):]
        if name not in schema.names():
            raise ValueError(f"unknown parameter {name!r} in {address}; valid: {', '.join(schema.names())}")
        params = list(message.params)
        if len(params) != 1 or isinstance(params[0], (bytes, bool, type(None))):
            raise ValueError(f"{address} takes exactly one number or text argument (got {params!r})")
        return name, params[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
