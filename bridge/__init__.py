"""The bridge between the dream engine and the world (see README, "Architecture").

Sub-packages: ``engine`` (``Dreamer``, the excerpt scheduler, the dream loop, selection,
torch and onnx backends, parameters over time), ``io`` (audio files, file rendering,
batch), ``live`` (streaming, audio devices, MIDI, effect chains), ``lab`` (atlas, sweep,
reports, analysis, bench, plots, style) and ``cli`` (the ``dreambridge`` command). The
engine imports none of the others; nothing outside ``bridge`` imports it.
"""

__all__: list[str] = []
