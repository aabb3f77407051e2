"""Parameters over time: functions ``t -> DreamParams`` read by the excerpt scheduler.

Three implementations of one idea: ``ConstantSchedule`` (a preset), ``SequenceSchedule``
(a preset's ``[[sequence]]`` steps) and ``MidiAutomation`` (CC lanes and program changes
of a MIDI file exported by the DAW, mapped by a MIDI map). Live MIDI control (``live``)
feeds the same ``CcState`` as ``MidiAutomation``, so both map and smooth alike.
"""

from __future__ import annotations

import bisect
import math

from dreambridge.presets import DreamParams, load_preset
from dreambridge.presets.errors import DreamError, ParameterError, first_line
from dreambridge.presets.midimap import MidiMap

__all__ = ["ConstantSchedule", "SequenceSchedule", "CcState", "MidiAutomation", "read_midi_events", "schedule_for_preset"]


class ConstantSchedule:
    def __init__(self, params: DreamParams):
        self.params = params

    def at(self, seconds: float) -> DreamParams:
        return self.params

    def distinct(self) -> list[DreamParams]:
        return [self.params]


class SequenceSchedule:
    """Base parameters changed step by step at given times (cumulative)."""

    def __init__(self, base: DreamParams, steps: list[tuple[float, dict]]):
        self.times = [t for t, _ in steps]
        self.states = []
        current = base
        for _, changes in steps:
            current = current.replace(**changes)
            self.states.append(current)
        self.base = base

    def at(self, seconds: float) -> DreamParams:
        i = bisect.bisect_right(self.times, seconds)
        return self.base if i == 0 else self.states[i - 1]

    def distinct(self) -> list[DreamParams]:
        return list(dict.fromkeys([self.base] + self.states))


def schedule_for_preset(preset, overrides: dict | None = None):
    """The schedule of a loaded preset, with ``--set`` overrides applied to every step."""
    base = preset.params.replace(**(overrides or {}))
    if not preset.sequence:
        return ConstantSchedule(base)
    steps = [(t, {k: v for k, v in changes.items() if k not in (overrides or {})}) for t, changes in preset.sequence]
    return SequenceSchedule(base, steps)


class CcState:
    """The mapped, smoothed value of every bound parameter as CC messages arrive.

    Continuous parameters glide towards each new value with a one-pole time constant
    ``smoothing_ms``; discrete ones (int, choice) step. ``params_at(t)`` evaluates the
    state at time ``t`` (seconds, not before the last event applied).
    """

    def __init__(self, midi_map: MidiMap, base: DreamParams):
        self.map = midi_map
        self.base = base
        self.lanes: dict[str, list] = {}  # param -> [time, start value, target, tau_s, discrete]

    def program_change(self, program: int) -> bool:
        name = self.map.programs.get(int(program))
        if name is None:
            return False
        self.base = load_preset(name).params
        return True

    def control_change(self, t: float, channel_1based: int, cc: int, value: float) -> list[str]:
        """Apply a CC at time ``t``; return the parameter names it moved."""
        moved = []
        for m in self.map.mappings_for(channel_1based, cc):
            target = m.value(value)
            lane = self.lanes.get(m.param)
            start = self._lane_value(lane, t) if lane else target
            tau = 0.0 if m.discrete else m.smoothing_ms / 1000.0
            self.lanes[m.param] = [t, start, target, tau, m.discrete]
            moved.append(m.param)
        return moved

    @staticmethod
    def _lane_value(lane, t):
        t0, start, target, tau, discrete = lane
        if discrete or tau <= 0 or t <= t0:
            return target if (discrete or tau <= 0) else start
        return target + (start - target) * math.exp(-(t - t0) / tau)

    def params_at(self, t: float) -> DreamParams:
        changes = {p: self._lane_value(lane, t) for p, lane in self.lanes.items() if not p.startswith("fx.")}
        return self.base.replace(**changes) if changes else self.base

    def fx_at(self, t: float) -> dict:
        """``{"fx.post.0.threshold_db": value, ...}`` for the mapped effect parameters."""
        return {p: self._lane_value(lane, t) for p, lane in self.lanes.items() if p.startswith("fx.")}

    def targets(self) -> DreamParams:
        """Parameters with every glide finished."""
        changes = {p: lane[2] for p, lane in self.lanes.items() if not p.startswith("fx.")}
        return self.base.replace(**changes) if changes else self.base


def read_midi_events(path) -> list[tuple[float, object]]:
    """``[(seconds, mido.Message)]`` of a MIDI file, ticks converted with the tempo in
    force at each tick (mido merges the tracks and follows every tempo change)."""
    import mido

    from .audio_io import check_input_file

    try:
        check_input_file(path, "automation file")
    except DreamError as exc:
        raise ParameterError(str(exc)) from None
    try:
        mid = mido.MidiFile(str(path))
    except Exception as exc:
        raise ParameterError(f"{path}: not a readable MIDI file ({first_line(exc)})") from None
    if mid.type == 2 or not isinstance(mid.ticks_per_beat, int) or mid.ticks_per_beat <= 0:
        raise ParameterError(f"{path}: the MIDI header gives {mid.ticks_per_beat} ticks per beat (type {mid.type}); "
                             "export the automation again as a type 0 or 1 file with a positive resolution")
    for track in mid.tracks:
        for message in track:
            if message.type == "set_tempo" and message.tempo <= 0:
                raise ParameterError(f"{path}: a tempo change to 0 microseconds per beat (infinite tempo); "
                                     "fix the tempo map in the DAW and export again")
    events, now = [], 0.0
    for message in mid:  # message.time: seconds since the previous message
        now += message.time
        if message.type in ("control_change", "program_change"):
            events.append((now, message))
    return events


class MidiAutomation:
    """Parameters over time from a MIDI file's CC lanes and program changes."""

    def __init__(self, base: DreamParams, midi_path, midi_map: MidiMap):
        self.events = read_midi_events(midi_path)
        self.base, self.map = base, midi_map
        self._snapshots = []  # (time, CcState copy) after each event, for random access
        state = CcState(midi_map, base)
        for t, message in self.events:
            if message.type == "control_change":
                state.control_change(t, message.channel + 1, message.control, message.value)
            else:
                state.program_change(message.program)
            self._snapshots.append((t, state.base, {k: list(v) for k, v in state.lanes.items()}))
        self._times = [t for t, *_ in self._snapshots]

    def at(self, seconds: float) -> DreamParams:
        i = bisect.bisect_right(self._times, seconds)
        if i == 0:
            return self.base
        _, base, lanes = self._snapshots[i - 1]
        state = CcState(self.map, base)
        state.lanes = lanes
        return state.params_at(seconds)

    def distinct(self) -> list[DreamParams]:
        out = [self.base]
        for _, base, lanes in self._snapshots:
            state = CcState(self.map, base)
            state.lanes = lanes
            out.append(state.targets())
        return list(dict.fromkeys(out))
