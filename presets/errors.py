"""The one error hierarchy of dreambridge.

Every expected failure (bad parameter, unreadable audio, a model whose hash does not
match, ...) raises a subclass of :class:`DreamError`. The CLI turns these into one line
on stderr and a non-zero exit; anything else is a bug and keeps its traceback.

This module lives in ``presets/`` because it is pure standard library: every other
room (``dsp`` excepted, which raises plain ``ValueError``) may import it.
"""

__all__ = [
    "DreamError",
    "ParameterError",
    "AudioIOError",
    "ModelLoadError",
    "ExportError",
    "DeviceError",
    "first_line",
]


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


class DreamError(Exception):
    """Base class of every expected dreambridge error."""


class ParameterError(DreamError, ValueError):
    """A parameter value, name or preset is invalid."""


class AudioIOError(DreamError):
    """An audio file is missing, unreadable, empty or holds non-finite samples."""


class ModelLoadError(DreamError):
    """A model directory is missing, corrupt, or its weights do not match the card."""


class ExportError(DreamError):
    """Export to ONNX failed or did not validate."""


class DeviceError(DreamError):
    """An audio/MIDI/compute device is missing or cannot be opened."""
