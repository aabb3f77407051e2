"""Parameters over time: functions ``t -> DreamParams`` read by the excerpt scheduler.

Implementations of one idea: ``ConstantSchedule`` (a preset), ``SequenceSchedule`` (a
preset's ``[[sequence]]`` steps) and, in ``bridge.live.automation``, ``MidiAutomation``
(CC lanes and program changes of a MIDI file exported by the DAW). ``CcState`` maps and
smooths CC values through a MIDI map; live MIDI control and ``MidiAutomation`` both feed
it, so both map and smooth alike.

A schedule answers ``at(seconds) -> DreamParams``, ``distinct()`` (every parameter set it
can produce, validated before a render starts) and ``fx_at(seconds)`` (effect-parameter
values, ``{"fx.post.0.gain_db": -6.0}``; empty when it moves none).

:func:`resolve` is the one resolution path of every command: preset -> ``--set`` ->
seed (and ``--init``) -> schedule.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from dreambridge.presets import DreamParams, Preset, load_preset, parse_assignment, schema
from dreambridge.presets.midimap import MidiMap

__all__ = ["ConstantSchedule", "SequenceSchedule", "CcState", "schedule_for_preset", "Resolved", "resolve"]


class ConstantSchedule:
    """The same parameters at every time (a preset without a sequence)."""

    def __init__(self, params: DreamParams):
        self.params = params

    def at(self, seconds: float) -> DreamParams:
        return self.params

    def distinct(self) -> list[DreamParams]:
        return [self.params]

    def fx_at(self, seconds: float) -> dict:
        return {}


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

    def fx_at(self, seconds: float) -> dict:
        return {}


def schedule_for_preset(preset, overrides: dict | None = None):
    """The schedule of a loaded preset, with ``--set`` overrides applied to every step
    (a step never undoes an override)."""
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


@dataclass(frozen=True)
class Resolved:
    """What a command dreams with: the preset, the parameters over time, the effect values.

    Attributes
    ----------
    preset : Preset or None
        The loaded preset (``None`` when the base was given as ``DreamParams``).
    schedule : object
        ``at(seconds) -> DreamParams``, ``distinct()``, ``fx_at(seconds)``.
    fx : dict
        Effect-parameter values from ``--set fx.<chain>.<index>.<name>=value``, set once on the chains.
    """

    preset: Preset | None
    schedule: object
    fx: dict = field(default_factory=dict)

    @property
    def params(self) -> DreamParams:
        """The parameters at time 0 (those that set the excerpt grid)."""
        return self.schedule.at(0.0)


def resolve(preset: str | Preset | DreamParams = "default", sets=(), *, seed: int | None = None,
            init: str | None = None, automation=None) -> Resolved:
    """The one resolution path: preset -> ``--set`` -> seed (and init) -> schedule.

    Parameters
    ----------
    preset : str, Preset or DreamParams
        A factory preset name or TOML path, a loaded preset, or base parameters (the atlas's).
    sets : sequence of str
        ``KEY=VALUE`` overrides (``--set``), applied to every step of the preset's sequence;
        ``fx.<chain>.<index>.<name>=VALUE`` set an effect parameter instead.
    seed, init : optional
        ``--seed`` / ``--init``, applied after ``sets``.
    automation : callable, optional
        ``base DreamParams -> schedule`` (a MIDI file's lanes, ``bridge.live.automation``), which
        then replaces the preset's sequence.

    Raises
    ------
    ParameterError
        For any bad name or value, before anything is dreamed.
    """
    overrides = dict(parse_assignment(s) for s in sets)
    overrides.update({k: v for k, v in (("seed", seed), ("init", init)) if v is not None})
    fx = {k: v for k, v in overrides.items() if schema.is_fx(k)}
    dream = {k: v for k, v in overrides.items() if k not in fx}
    if isinstance(preset, DreamParams):
        loaded, schedule = None, ConstantSchedule(preset.replace(**dream))
    else:
        loaded = preset if isinstance(preset, Preset) else load_preset(preset)
        schedule = schedule_for_preset(loaded, dream)
    if automation is not None:
        schedule = automation(schedule.at(0.0))
    return Resolved(loaded, schedule, fx)
