"""A real JACK server (dummy driver) and a test client that plays, records and sends
MIDI with sample-accurate timing. Every process started here is stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

import numpy as np

HAVE_JACKD = shutil.which("jackd") is not None and shutil.which("jack_wait") is not None
try:
    import jack  # noqa: F401

    HAVE_JACK_CLIENT = True
except Exception:  # ImportError, or OSError when libjack is missing
    HAVE_JACK_CLIENT = False

BLOCK = 512
RATE = 44100


@contextmanager
def jack_server(period: int = BLOCK):
    name = f"dbtest{os.getpid()}_{int(time.time() * 1000) % 100000}"
    proc = subprocess.Popen(["jackd", "-n", name, "-r", "-d", "dummy", "-r", str(RATE), "-p", str(period)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ok = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"], capture_output=True, timeout=20)
        if ok.returncode != 0:
            raise RuntimeError("jackd did not start")
        yield name
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class JackTester:
    """Plays ``signal`` (mono) from the moment ``start()`` is called, records its input,
    and sends ``cc_events`` [(frame, channel, control, value)] at exact frames."""

    __test__ = False

    def __init__(self, server: str, signal_: np.ndarray, cc_events=(), record_seconds: float = 30.0):
        import jack

        self.client = jack.Client("dbtester", servername=server, no_start_server=True)
        self.play = self.client.outports.register("play")
        self.rec = self.client.inports.register("rec")
        self.midi = self.client.midi_outports.register("midi")
        self.signal = signal_.astype(np.float32)
        self.recording = np.zeros(int(record_seconds * RATE), dtype=np.float32)
        self.cc_events = sorted(cc_events)
        self.pos = -1  # -1: not started
        self.xruns = []  # the tester's position at each xrun the server reports
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(lambda _delay: self.xruns.append(self.pos))

    def _process(self, frames):
        self.midi.clear_buffer()
        if self.pos < 0:
            self.play.get_array()[:] = 0
            return
        out = self.play.get_array()
        chunk = self.signal[self.pos : self.pos + frames]
        out[: len(chunk)] = chunk
        out[len(chunk) :] = 0
        end = min(self.pos + frames, len(self.recording))
        if end > self.pos:
            self.recording[self.pos : end] = self.rec.get_array()[: end - self.pos]
        for frame, channel, control, value in self.cc_events:
            if self.pos <= frame < self.pos + frames:
                self.midi.write_midi_event(frame - self.pos, bytes([0xB0 | (channel - 1), control, value]))
        self.pos += frames

    def start(self):
        self.pos = 0

    def wait_for_ports(self, names, timeout=60.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            have = {p.name for p in self.client.get_ports()}
            if all(n in have for n in names):
                return True
            time.sleep(0.1)
        return False

    def close(self):
        self.client.deactivate()
        self.client.close()


def torn(starts, window: int, xruns, block: int) -> "np.ndarray":
    """Which analysis windows an xrun may have torn (within two periods of one): left out of judgements."""
    xruns = np.asarray(xruns, dtype=np.int64)
    return np.array([bool(np.any((xruns > t - 2 * block) & (xruns < t + window + 2 * block))) for t in starts])


def estimate_delay(reference: np.ndarray, recording: np.ndarray, max_lag: int) -> int:
    """Lag (samples) at which ``recording`` best matches ``reference`` (FFT cross-correlation)."""
    n = len(reference) + max_lag
    spec = np.fft.rfft(recording[:n], 2 * n) * np.conj(np.fft.rfft(reference, 2 * n))
    corr = np.fft.irfft(spec, 2 * n)[: max_lag + 1]
    return int(np.argmax(corr))


def residual_db(reference, recording, t, delay, window, search=512):
    """``(dB, lag)``: the energy of ``recording[t:t+window]`` minus ``reference`` at its best lag within
    ``delay`` +-``search``, relative to the reference (-200: identical)."""
    piece = recording[t : t + window].astype(np.float64)
    lo = t - delay - search
    if lo < 0:
        return 0.0, delay
    seg = reference[lo : t - delay + search + window].astype(np.float64)
    corr = np.correlate(seg, piece, "valid")
    energy = np.convolve(seg**2, np.ones(window), "valid")
    k = int(np.argmax(corr / np.sqrt(np.maximum(energy, 1e-12))))
    ref = seg[k : k + window]
    db = 10 * np.log10(max(float(np.sum((piece - ref) ** 2) / max(np.sum(ref**2), 1e-12)), 1e-20))
    return db, delay + search - k
