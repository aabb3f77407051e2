"""The dream engine: ``Dreamer``, the one excerpt scheduler, the dream loop, the layer and
class selection, the torch and onnxruntime backends, and parameters over time.

The engine imports none of the front-ends (``io``, ``live``, ``lab``, ``cli``); they all
drive it. Heavy modules (torch, onnxruntime) load only when a backend is built.
"""

from dreambridge.bridge.engine.dreamer import NOISE_PEAK_DB, SILENCE_PEAK, Dreamer
from dreambridge.bridge.engine.scheduler import CEILING_DB, BlockStream, ExcerptScheduler, OverlapAdd, RenderStats

__all__ = ["Dreamer", "ExcerptScheduler", "BlockStream", "OverlapAdd", "RenderStats", "CEILING_DB", "NOISE_PEAK_DB",
           "SILENCE_PEAK"]
