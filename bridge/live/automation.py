"""Parameters over time from a MIDI file: the CC lanes and program changes a DAW exports,
mapped by a MIDI map through the same ``CcState`` that live MIDI control feeds."""

from __future__ import annotations

import bisect

from dreambridge.bridge.engine.schedule import CcState
from dreambridge.presets import DreamParams
from dreambridge.presets.errors import ParameterError, first_line
from dreambridge.presets.midimap import MidiMap

__all__ = ["MidiAutomation", "read_midi_events"]


def read_midi_events(path) -> list[tuple[float, object]]:
    """``[(seconds, mido.Message)]`` of a MIDI file, ticks converted with the tempo in
    force at each tick (mido merges the tracks and follows every tempo change)."""
    import mido

    try:
        mid = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise ParameterError(f"automation file {path} does not exist") from None
    except Exception as exc:
        raise ParameterError(f"{path}: not a readable MIDI file ({first_line(exc)})") from None
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

    def fx_at(self, seconds: float) -> dict:
        """Effect-parameter values of the mapped ``fx.*`` lanes at ``seconds`` (as live control gives them)."""
        i = bisect.bisect_right(self._times, seconds)
        if i == 0:
            return {}
        _, base, lanes = self._snapshots[i - 1]
        state = CcState(self.map, base)
        state.lanes = lanes
        return state.fx_at(seconds)

    @property
    def moves_fx(self) -> bool:
        """Whether the map binds any effect parameter (then the chains follow ``fx_at``)."""
        return any(m.is_fx for m in self.map.cc)

    def distinct(self) -> list[DreamParams]:
        out = [self.base]
        for _, base, lanes in self._snapshots:
            state = CcState(self.map, base)
            state.lanes = lanes
            out.append(state.targets())
        return list(dict.fromkeys(out))
