"""``live`` reports its start-up real-time check beside what its worker then measured."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from live_harness import BLOCK, HAVE_JACK_CLIENT, HAVE_JACKD, RATE, JackTester, jack_server
from signals import music_like

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(not (HAVE_JACKD and HAVE_JACK_CLIENT), reason="needs jackd and the JACK-Client")]


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
