"""bridge/live/devices.py: ``dreambridge live`` on a real JACK server: a player feeds it, a
recorder captures it, a MIDI client moves a parameter at a known sample; it reports its start-up
real-time check beside what its worker then measured."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from live_harness import (BLOCK, HAVE_JACK_CLIENT, HAVE_JACKD, RATE, JackTester, estimate_delay, jack_server,
                          residual_db, torn)
from signals import music_like

pytestmark = [
    pytest.mark.jack,
    pytest.mark.skipif(not (HAVE_JACKD and HAVE_JACK_CLIENT), reason="jackd / JACK-Client not installed (apt-get install jackd2)"),
]

EXCERPT = 0.5


def _live_cmd(model_dir, midi_map, *extra):
    exe = shutil.which("dreambridge")
    return [exe, "live", "--input", "system", "--output", "system", "--virtual-midi", "dbin", "--midi-map", str(midi_map),
            "--model", str(model_dir), "--block-size", str(BLOCK), "--channels", "1", "--sample-rate", str(RATE),
            "--preset", "bisig-exp2", "--set", "layer=2", "--set", "channel=-1", "--set", "method=excerpt",  # pinned
            "--set", "iterations=2", "--set", "learning_rate=0.4", "--set", f"excerpt_seconds={EXCERPT}", "--set", "crossfade_seconds=0.05", *map(str, extra)]


def _run_live(tmp_path, tiny_model_dir, *extra):
    with jack_server() as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
        cmd = _live_cmd(tiny_model_dir, tmp_path / "none.toml", *extra)
        cmd[cmd.index("--midi-map") : cmd.index("--midi-map") + 2] = []
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_live_effect_latency_and_midi_cc(tmp_path, tiny_model_dir):
    rng = np.random.default_rng(3)
    signal_ = music_like(rng, 9.0)[0] * 0.8
    cc_seconds = 4.0
    midi_map = tmp_path / "map.toml"
    midi_map.write_text('schema = 1\n[[cc]]\ncc = 77\nparam = "mix"\nrange = [0.0, 1.0]\ncurve = "lin"\n')
    with jack_server() as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(_live_cmd(tiny_model_dir, midi_map, "--set", "mix=0", "--duration", "60"), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        tester = JackTester(server, signal_, [(int(cc_seconds * RATE), 1, 77, 127)], record_seconds=12)
        try:
            line = proc.stdout.readline()
            match = re.search(r"latency: (\d+) samples", line)
            assert match, line + proc.stderr.read() if proc.poll() is not None else line
            latency = int(match.group(1))
            assert tester.wait_for_ports(["PortAudio:in_0", "PortAudio:out_0", "RtMidiIn Client:dbin"])
            tester.client.activate()
            tester.client.connect(tester.play, "PortAudio:in_0")
            tester.client.connect("PortAudio:out_0", tester.rec)
            tester.client.connect(tester.midi, "RtMidiIn Client:dbin")
            time.sleep(0.2)
            tester.start()
            deadline = time.time() + 60
            while tester.pos < len(tester.recording) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)  # the clean stop path (same as Ctrl-C)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            tester.close()
        assert proc.returncode == 0, err
        stats = json.loads(err.strip().splitlines()[-1])
    rec = tester.recording
    assert np.sqrt(np.mean(rec**2)) > 0.01  # not silent
    delay = estimate_delay(signal_[: 3 * RATE], rec, max_lag=latency + 4 * BLOCK)
    # The reported latency includes the audio device's; JACK's player -> dreambridge ->
    # recorder loop may add at most one period of its own.
    assert 0 <= delay - latency <= BLOCK, (delay, latency)
    aligned = rec[delay : delay + len(signal_)]
    n = min(len(aligned), len(signal_))
    diff = np.abs(aligned[:n] - signal_[:n])
    changed = np.flatnonzero(diff > 1e-3)
    assert len(changed), "the recording never differed from the input: the CC had no effect"
    first = changed[0] / RATE
    # mix jumps 0 -> 1 at 4.0 s of input; the worker reads parameters per excerpt, so the
    # change lands within one excerpt (plus a block) of it.
    assert abs(first - cc_seconds) <= EXCERPT + BLOCK / RATE, first
    after, dry = aligned[int(6 * RATE) : int(8 * RATE)], signal_[int(6 * RATE) : int(8 * RATE)]
    assert np.sqrt(np.mean((after - dry) ** 2)) > 0.1 * np.sqrt(np.mean(dry**2))  # the dream differs from the input
    assert stats["midi_messages"] >= 1 and stats["callback_errors"] == 0
    # a busy 2-core machine may xrun a few times; the stream must not fall apart
    assert stats["dropout_events"] <= 3, stats


def test_live_refuses_a_machine_too_slow(tmp_path, tiny_model_dir):
    with jack_server() as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
        cmd = _live_cmd(tiny_model_dir, tmp_path / "none.toml", "--duration", "2", "--set", "iterations=400")
        cmd[cmd.index("--midi-map") : cmd.index("--midi-map") + 2] = []
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "real time allows" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_live_loop_mode_dreams_round_robin_at_the_pace(tmp_path, tiny_model_dir):
    from dreambridge.bridge.live.stream import ROUND_ROBIN_AHEAD

    pace, seconds = 4.0, 5.0
    proc = _run_live(tmp_path, tiny_model_dir, "--mode", "loop", "--set", "init=noise", "--set", f"excerpts_per_second={pace}",
                     "--set", "buffer_seconds=1", "--duration", seconds)
    assert proc.returncode == 0, proc.stderr
    assert "round-robin pace" in proc.stdout
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    # The pace, not the machine, decides how many excerpts are dreamed: one per 1/pace s of
    # output, plus at most ROUND_ROBIN_AHEAD ahead; the control loop polls every 0.5 s.
    assert pace * (seconds - 0.5) <= stats["excerpts"] <= pace * (seconds + 0.5) + ROUND_ROBIN_AHEAD, stats
    assert stats["dropout_events"] <= 1 and stats["callback_errors"] == 0, stats


def test_live_loop_mode_refuses_a_pace_the_machine_cannot_keep(tmp_path, tiny_model_dir):
    # 2 iterations of a 0.5 s excerpt take milliseconds, more than the 0.8 ms that 1000 excerpts/s leave
    proc = _run_live(tmp_path, tiny_model_dir, "--mode", "loop", "--set", "excerpts_per_second=1000", "--duration", "2")
    assert proc.returncode == 2 and "the round-robin pace of 1000 excerpts/s allows" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_devices_and_midi_learn_over_jack(tmp_path):
    with jack_server() as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
        proc = subprocess.run([shutil.which("dreambridge"), "devices", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        devices = json.loads(proc.stdout)
        assert any(d["name"] == "system" and d["host_api"].startswith("JACK") and d["inputs"] >= 1 for d in devices["audio"])
        map_path = tmp_path / "learned.toml"
        learn = subprocess.Popen([shutil.which("dreambridge"), "midi", "learn", "lowpass_hz", "--map", str(map_path),
                                  "--virtual-midi", "dblearn", "--timeout", "60"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        tester = JackTester(server, np.zeros(RATE, np.float32), [(RATE // 2, 3, 21, 64)], record_seconds=2)
        try:
            assert tester.wait_for_ports(["RtMidiIn Client:dblearn"])
            tester.client.activate()
            tester.client.connect(tester.midi, "RtMidiIn Client:dblearn")
            tester.start()
            out, err = learn.communicate(timeout=60)
        finally:
            if learn.poll() is None:
                learn.kill()
            tester.close()
        assert learn.returncode == 0, err
        assert "CC 21 on channel 3 -> lowpass_hz" in out
        from dreambridge.presets.midimap import load_midi_map

        mapping = load_midi_map(map_path).cc[0]
        assert (mapping.cc, mapping.channel, mapping.param, mapping.curve) == (21, 3, "lowpass_hz", "log")


def test_live_tight_latency_and_osc_mix(tmp_path):
    """``--preset tight`` on the shipped model at 256-frame blocks: the printed latency is <= 150 ms
    and is the measured delay; an OSC message moving mix to 0 is heard within half a second."""
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    block = 256
    osc_port = 19060 + os.getpid() % 30
    rng = np.random.default_rng(11)
    signal_ = music_like(rng, 9.0)[0] * 0.8
    send_at = int(4.0 * RATE)
    exe = shutil.which("dreambridge")
    cmd = [exe, "live", "--input", "system", "--output", "system", "--block-size", str(block), "--channels", "1",
           "--sample-rate", str(RATE), "--preset", "tight", "--osc-port", str(osc_port), "--duration", "60",
           "--allow-slow"]  # a box shared with other jobs may be too slow; dropouts are then counted, asserted below
    with jack_server(block) as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        tester = JackTester(server, signal_, record_seconds=9)
        try:
            line = proc.stdout.readline()
            match = re.search(r"latency: (\d+) samples", line)
            assert match, line + proc.stderr.read() if proc.poll() is not None else line
            latency = int(match.group(1))
            assert tester.wait_for_ports(["PortAudio:in_0", "PortAudio:out_0"])
            tester.client.activate()
            tester.client.connect(tester.play, "PortAudio:in_0")
            tester.client.connect("PortAudio:out_0", tester.rec)
            time.sleep(0.2)
            tester.start()
            while tester.pos < send_at:
                time.sleep(0.001)
            sent = tester.pos
            SimpleUDPClient("127.0.0.1", osc_port).send_message("/dreambridge/mix", 0.0)
            deadline = time.time() + 60
            while tester.pos < len(tester.recording) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            tester.close()
    assert proc.returncode == 0, err
    stats = json.loads(err.strip().splitlines()[-1])
    assert latency <= 0.150 * RATE, latency
    assert stats["osc_messages"] == 1, stats
    # Dropouts and xruns are measured, not pinned: on this 2-core box shared with other jobs the worker is
    # starved at times (0 dropouts when quiet, see the README's performance table); 5 % dry at most.
    assert stats["dropout_samples"] <= 0.05 * len(signal_), stats
    rec = tester.recording
    # Dreamed or dry, window by window: the residual after the best alignment within four periods of the
    # printed latency (the dummy JACK server's xruns on a busy box shift the loop by whole periods, for good).
    window = 1024
    starts = range(RATE, len(rec) - window, window)
    fits = [residual_db(signal_, rec, t, latency, window, search=4 * block) for t in starts]
    residual = np.array([db for db, _ in fits])
    dry = residual < -40  # the input itself, to float rounding (a dreamed window is within -20 dB of it)
    judged = ~torn(starts, window, tester.xruns, block)  # a busy box's xruns tear windows: not judged
    before = np.array([t + window < sent for t in starts]) & judged
    settled = np.array([t > sent + RATE // 2 for t in starts]) & judged
    assert dry[before].mean() < 0.1, dry[before].mean()  # mix 1: the dream, everywhere
    first_dry = next(t for t, is_dry in zip(starts, dry) if t > sent and is_dry)
    assert (first_dry + window - sent) / RATE <= 0.5, (first_dry - sent) / RATE  # message -> heard, latency included
    # ... and it stays, but for windows torn where PortAudio flagged the stream (an xrun of live's own that the
    # server does not report; on this busy box 5-15 % of the windows)
    assert dry[settled].mean() > 0.6, dry[settled].mean()
    # The delay before any xrun shifted the loop is the shortest of the dry windows' lags. The printed
    # latency includes the device's as PortAudio states it; the loop differs by less than a period (4 samples).
    delay = min(lag for (_, lag), is_dry in zip(fits, dry) if is_dry)
    assert abs(delay - latency) <= block, (delay, latency)
    print(f"live tight: latency {latency}, measured {delay}, heard after {(first_dry + window - sent) / RATE:.3f} s, "
          f"windows judged {judged.mean():.2f}, stats {stats}")


def test_live_reports_the_check_beside_the_measured_excerpt_time(tiny_model_dir, capsys):
    """The check times one excerpt before the stream starts; the run then reports the mean time its worker
    took per excerpt, so a user (and this test's printout) sees whether the estimate held."""
    cmd = [shutil.which("dreambridge"), "live", "--input", "system", "--output", "system", "--model",
           str(tiny_model_dir), "--block-size", str(BLOCK), "--channels", "1", "--sample-rate", str(RATE),
           "--set", "iterations=4", "--set", "excerpt_seconds=0.25", "--set", "crossfade_seconds=0.05",
           "--duration", "60"]
    with jack_server() as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        tester = JackTester(server, music_like(np.random.default_rng(5), 5.0)[0] * 0.8, record_seconds=5.0)
        try:
            line = proc.stdout.readline()
            assert re.search(r"latency: (\d+) samples", line), line + (proc.stderr.read() if proc.poll() else "")
            assert tester.wait_for_ports(["PortAudio:in_0", "PortAudio:out_0"])
            tester.client.activate()
            tester.client.connect(tester.play, "PortAudio:in_0")
            tester.client.connect("PortAudio:out_0", tester.rec)
            tester.start()
            deadline = time.time() + 60
            while tester.pos < len(tester.recording) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            tester.close()
    assert proc.returncode == 0, err
    stats = json.loads(err.strip().splitlines()[-1])
    check, measured, budget = (stats[k] for k in ("check_seconds_per_excerpt", "measured_seconds_per_excerpt",
                                                  "budget_seconds_per_excerpt"))
    assert stats["excerpts"] > 0 and measured is not None and measured > 0
    assert 0 < check <= 0.8 * budget  # the check let the stream start: it promised real time
    with capsys.disabled():
        print(f"\nlive: check {1000 * check:.1f} ms/excerpt, worker measured {1000 * measured:.1f} ms/excerpt, "
              f"budget {1000 * budget:.1f} ms, dropouts {stats['dropout_events']}")
