"""bridge/live/osc.py: OSC messages set live parameters with the MIDI smoothing."""

import os
import time

import numpy as np
import pytest


def test_osc_sets_live_parameters_with_midi_smoothing(tmp_path):
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    from dreambridge.bridge.engine.schedule import SMOOTHING_MS
    from dreambridge.bridge.live.midi import LiveControl
    from dreambridge.bridge.live.osc import OscControl
    from dreambridge.presets import DreamParams

    clock = [0.0]
    control = LiveControl(None, DreamParams(mix=1.0), clock=lambda: clock[0])
    errors = tmp_path / "err.txt"
    with open(errors, "w") as err:
        osc = OscControl(19050 + os.getpid() % 40, control.set_param, err=err)
        try:
            client = SimpleUDPClient("127.0.0.1", osc.port)
            client.send_message("/dreambridge/mix", 0.0)
            client.send_message("/dreambridge/layer", 3)
            client.send_message("/dreambridge/lowpass_hz", "loud")  # refused: not a number
            deadline = time.time() + 5
            while osc.n_messages + osc.n_malformed < 3 and time.time() < deadline:
                time.sleep(0.01)
        finally:
            osc.close()
    assert (osc.n_messages, osc.n_malformed) == (2, 1)
    assert "lowpass_hz" in errors.read_text()
    assert control.params_now().layer == 3  # discrete: a step
    clock[0] = SMOOTHING_MS / 1000  # one time constant later: 1/e of the way left, like a learned MIDI knob
    assert control.params_now().mix == pytest.approx(np.exp(-1), abs=1e-6)  # float64 exp: exact to rounding
    clock[0] = 1.0
    assert control.params_now().mix == pytest.approx(0.0, abs=1e-6)
