"""bridge/engine/schedule.py: parameters over time: preset sequences, the resolution order and the
CC smoothing."""

import numpy as np
import pytest

from dreambridge.bridge.engine.schedule import CcState
from dreambridge.presets import DreamParams
from dreambridge.presets.midimap import load_midi_map


def test_sequence_preset_changes_parameters_over_time():
    from dreambridge.bridge.engine.schedule import schedule_for_preset
    from dreambridge.presets import load_preset

    schedule = schedule_for_preset(load_preset("bisig-exp2-sequence"))
    assert schedule.at(0).lowpass_hz == 12000 and schedule.at(25).lowpass_hz == 2000
    assert (schedule.at(35).layer, schedule.at(35).channel) == (3, 4)
    assert schedule.at(105).lowpass_hz == 16000


def test_resolve_is_preset_then_set_then_seed_then_schedule():
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.presets import DreamParams

    r = resolve("bisig-exp2-sequence", ["seed=5", "lowpass_hz=9000", "fx.post.0.gain_db=-3"], seed=7)
    assert r.params.seed == 7  # --seed comes after --set
    assert r.fx == {"fx.post.0.gain_db": -3.0}
    assert r.schedule.at(25).lowpass_hz == 9000  # an override holds in every step of the sequence
    assert (r.schedule.at(35).layer, r.schedule.at(35).channel) == (3, 4)  # the steps still move the rest
    base = resolve(DreamParams(init="noise"), ["iterations=3"], seed=1).params
    assert (base.init, base.iterations, base.seed) == ("noise", 3, 1)
    from dreambridge.bridge.engine.schedule import ConstantSchedule
    from dreambridge.presets import load_preset

    bases = []
    r = resolve("default", ["mix=0.5"], automation=lambda base: bases.append(base) or ConstantSchedule(base))
    assert bases == [load_preset("default").params.replace(mix=0.5)]  # the automation starts from the resolved base
    assert r.schedule.fx_at(1.0) == {}


def test_cc_smoothing_glides_continuous_and_steps_discrete(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('schema = 1\n[[cc]]\ncc = 1\nparam = "lowpass_hz"\nrange = [1000.0, 9000.0]\nsmoothing_ms = 100.0\n'
                    '[[cc]]\ncc = 2\nparam = "layer"\nrange = [0, 7]\n')
    state = CcState(load_midi_map(path), DreamParams())
    state.control_change(0.0, 1, 1, 0)
    state.control_change(1.0, 1, 1, 127)
    glide = [state.params_at(1.0 + dt).lowpass_hz for dt in (0.0, 0.05, 0.1, 0.3, 1.0)]
    assert glide[0] == pytest.approx(1000) and glide[-1] == pytest.approx(9000, rel=1e-3)
    assert all(a < b for a, b in zip(glide, glide[1:]))  # no jump: a one-pole glide
    assert glide[2] == pytest.approx(9000 - 8000 * np.exp(-1), rel=1e-6)  # one time constant
    state.control_change(2.0, 1, 2, 127)
    assert state.params_at(2.0).layer == 7  # discrete: steps at once
