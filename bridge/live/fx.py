"""Effect chains before and after the dream: pedalboard built-ins and VST3 plugins.

Built from a preset's ``[[fx.pre]]`` / ``[[fx.post]]`` entries. Chains keep their state
across blocks (``reset=False``), so the same chain gives the same result on a whole file
and on a live stream cut into blocks.
"""

from __future__ import annotations

import os

import numpy as np

from dreambridge.presets.errors import ParameterError, first_line

__all__ = ["FxChain", "build_chain", "BUILTINS"]

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
            raise ParameterError(f"{where}: VST3 plugin {path} not found; install it or fix the path (Debian: zam-plugins puts some in /usr/lib/vst3)")
        try:
            plugin = pedalboard.load_plugin(path)
        except Exception as exc:
            raise ParameterError(f"{where}: {path} could not be loaded as a plugin ({first_line(exc)})") from None
        valid = sorted(plugin.parameters.keys())
        for key, value in params.items():
            if key not in plugin.parameters:
                raise ParameterError(f"{where}: {os.path.basename(path)} has no parameter {key!r}; valid: {', '.join(valid)}")
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
