"""Effect chains before and after the dream: pedalboard built-ins and VST3 plugins.

Built from a preset's ``[[fx.pre]]`` / ``[[fx.post]]`` entries. Chains keep their state
across blocks (``reset=False``), so the same chain gives the same result on a whole file
and on a live stream cut into blocks.

Effect parameters are named ``fx.<chain>.<index>.<name>`` (``presets.schema``). They are set
once from ``--set`` (:func:`build_chains`), by live MIDI control before each audio block,
and, offline, by :class:`AutomatedChain` from a schedule's effect lanes before each
``FX_BLOCK`` samples: the same values at the same times as live.
"""

from __future__ import annotations

import os

import numpy as np

from dreambridge.presets import schema
from dreambridge.presets.errors import ParameterError, first_line

__all__ = ["FxChain", "AutomatedChain", "build_chain", "build_chains", "apply_fx_values", "BUILTINS", "FX_BLOCK"]

FX_BLOCK = 512  # samples between effect-parameter updates offline: the live callback's default block size

_SKIP = {"Plugin", "Pedalboard", "Chain", "Mix", "ExternalPlugin", "VST3Plugin", "AudioUnitPlugin", "PluginContainer",
         "AudioProcessorParameter", "ExternalPluginReloadType", "ClearsAudioOnReset", "PersistsAudioOnReset"}


def _builtins() -> dict:
    import pedalboard

    out = {}
    for name in dir(pedalboard):
        obj = getattr(pedalboard, name)
        if name[0].isupper() and name not in _SKIP and isinstance(obj, type) and issubclass(obj, pedalboard.Plugin):
            out[name] = obj
    return out


BUILTINS = None  # filled lazily: pedalboard is imported only when a chain is built


def _make(entry: dict, where: str):
    import pedalboard

    global BUILTINS
    params = {k: v for k, v in entry.items() if k not in ("plugin", "vst3")}
    if "vst3" in entry:
        path = entry["vst3"]
        if not os.path.exists(path):
            raise ParameterError(
                f"{where}: VST3 plugin {path} not found; install it or fix the path (Debian: zam-plugins puts some in "
                "/usr/lib/vst3)"
            )
        try:
            plugin = pedalboard.load_plugin(path)
        except Exception as exc:
            raise ParameterError(f"{where}: {path} could not be loaded as a plugin ({first_line(exc)})") from None
        valid = sorted(plugin.parameters.keys())
        for key, value in params.items():
            if key not in plugin.parameters:
                raise ParameterError(
                    f"{where}: {os.path.basename(path)} has no parameter {key!r}; valid: {', '.join(valid)}"
                )
            _set(plugin, key, value, where)
        return plugin
    BUILTINS = BUILTINS or _builtins()
    name = entry["plugin"]
    if name not in BUILTINS:
        raise ParameterError(f"{where}: unknown pedalboard plugin {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
    valid = _parameter_names(BUILTINS[name])
    for key in params:
        if key not in valid:
            raise ParameterError(f"{where}: {name} has no parameter {key!r}; valid: {', '.join(valid)}")
    try:
        return BUILTINS[name](**params)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ParameterError(f"{where}: {name} does not take these settings ({first_line(exc)}); "
                             f"parameters: {', '.join(valid)}") from None


def _parameter_names(plugin) -> list[str]:
    """The settable parameters of a pedalboard plugin (a class or an instance): a VST3's reported
    parameters, or a built-in's properties."""
    if not isinstance(plugin, type) and getattr(plugin, "parameters", None):
        return sorted(plugin.parameters.keys())
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return sorted(n for n in dir(cls) if not n.startswith("_") and isinstance(getattr(cls, n, None), property)
                  and n not in ("is_effect", "is_instrument", "reset"))


def _set(plugin, key: str, value, where: str) -> None:
    try:
        setattr(plugin, key, value)
    except Exception as exc:
        raise ParameterError(f"{where}: cannot set {key}={value!r} ({first_line(exc)})") from None


class FxChain:
    """A pedalboard chain as ``(block (C, n), sample_rate) -> block``; state persists."""

    def __init__(self, entries: list[dict], side: str):
        import pedalboard

        self.side = side
        self.plugins = [_make(e, f"[[fx.{side}]] entry {i + 1}") for i, e in enumerate(entries)]
        self.board = pedalboard.Pedalboard(self.plugins)

    def __len__(self) -> int:
        return len(self.plugins)

    def __call__(self, block: np.ndarray, sample_rate: int) -> np.ndarray:
        if not self.plugins:
            return block
        out = self.board(np.ascontiguousarray(block, dtype=np.float32), sample_rate, reset=False)
        if out.shape != block.shape:
            raise ParameterError(f"fx.{self.side}: the chain turned {block.shape[0]} channels into {out.shape[0]} "
                                 "(a mono plugin on stereo audio?); use a plugin with the stream's channel count")
        return out.astype(np.float32, copy=False)

    def check_param(self, index: int, name: str) -> None:
        """Raise a clear error unless plugin ``index`` has a parameter ``name``."""
        if not 0 <= index < len(self.plugins):
            raise ParameterError(f"fx.{self.side}.{index}: the chain has {len(self.plugins)} plugins")
        valid = _parameter_names(self.plugins[index])
        if name not in valid:
            raise ParameterError(f"fx.{self.side}.{index} has no parameter {name!r}; valid: {', '.join(valid)}")

    def set_param(self, index: int, name: str, value) -> None:
        self.check_param(index, name)
        _set(self.plugins[index], name, value, f"fx.{self.side}.{index}")

    def reset(self) -> None:
        self.board.reset()


def build_chain(preset, side: str) -> FxChain | None:
    """The ``pre`` or ``post`` chain of a loaded preset (None when empty)."""
    entries = preset.fx.get(side, [])
    return FxChain(entries, side) if entries else None


def apply_fx_values(values: dict, chains: dict) -> None:
    """Set effect parameters (``{"fx.post.0.threshold_db": value}``) on ``{"pre": chain, "post": chain}``
    (a chain that is ``None`` or absent is skipped)."""
    for name, value in values.items():
        side, index, param = schema.split_fx(name)
        chain = chains.get(side)
        if chain is not None:
            chain.set_param(index, param, value)


class AutomatedChain:
    """A chain whose parameters follow effect lanes over time, offline.

    Before every ``block`` samples it sets the lanes' values at that piece's start time
    (``fx_at(seconds)``), as the live audio callback sets them before each audio block.

    Parameters
    ----------
    chain : FxChain
    fx_at : callable
        ``seconds -> {"fx.<side>.<index>.<name>": value}`` (lanes of the other chain are ignored).
    block : int
        Samples between updates (default ``FX_BLOCK``).
    """

    def __init__(self, chain: FxChain, fx_at, block: int = FX_BLOCK):
        self.chain, self.fx_at, self.block = chain, fx_at, int(block)
        self.n_done = 0  # samples processed so far: the clock of the lanes

    def __call__(self, block: np.ndarray, sample_rate: int) -> np.ndarray:
        pieces = []
        for i in range(0, block.shape[1], self.block):
            values = {k: v for k, v in self.fx_at(self.n_done / sample_rate).items()
                      if schema.split_fx(k)[0] == self.chain.side}
            apply_fx_values(values, {self.chain.side: self.chain})
            piece = block[:, i : i + self.block]
            pieces.append(self.chain(piece, sample_rate))
            self.n_done += piece.shape[1]
        return np.concatenate(pieces, axis=1) if pieces else block


def build_chains(preset, fx_values: dict | None = None, schedule=None):
    """``(pre, post)``: a preset's chains (``None`` when empty), with ``fx_values`` (``--set
    fx...``) applied, following ``schedule.fx_at`` when the schedule moves effect parameters.

    Raises
    ------
    ParameterError
        When a value names a chain the preset does not have, or a parameter its plugin lacks.
    """
    chains = {side: build_chain(preset, side) for side in ("pre", "post")}
    for name in fx_values or {}:
        side, index, _ = schema.split_fx(name)
        if chains[side] is None:
            raise ParameterError(f"{name}: the preset has no [[fx.{side}]] chain; add one or drop this --set")
    apply_fx_values(fx_values or {}, chains)
    if schedule is not None and getattr(schedule, "moves_fx", False):
        chains = {
            side: chain if chain is None else AutomatedChain(chain, schedule.fx_at) for side, chain in chains.items()
        }
    return chains["pre"], chains["post"]
