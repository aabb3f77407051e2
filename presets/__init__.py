"""Presets and parameters: ``DreamParams``, TOML preset loading, the error hierarchy.

Pure standard library (no numpy, no torch), so every room may import it.
"""

from . import schema
from .errors import AudioIOError, DeviceError, DreamError, ExportError, ModelLoadError, ParameterError
from .loader import Preset, list_presets, load_preset
from .params import PARAM_DOCS, DreamParams, parse_assignment, parse_selection

__all__ = [
    "AudioIOError", "DeviceError", "DreamError", "DreamParams", "ExportError", "ModelLoadError", "PARAM_DOCS",
    "ParameterError", "Preset", "schema", "list_presets", "load_preset", "parse_assignment", "parse_selection",
]
