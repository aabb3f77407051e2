"""The dream engine: ``Dreamer``, the one excerpt scheduler, the dream loop, the layer and
class selection, the torch and onnxruntime backends, and parameters over time.

The engine imports none of the front-ends (``io``, ``live``, ``lab``, ``cli``); they all
drive it. Heavy modules (torch, onnxruntime) load only when a backend is built; before they
do, OpenMP is told to let waiting threads sleep (``pool.calm_openmp``, unless the
environment says otherwise), so a render beside a busy DAW takes its share, not 5x longer.
"""

from dreambridge.bridge.engine.pool import calm_openmp

calm_openmp()

from dreambridge.bridge.engine.dreamer import NOISE_PEAK_DB, SILENCE_PEAK, Dreamer  # noqa: E402 (after calm_openmp)
from dreambridge.bridge.engine.scheduler import (CEILING_DB, BlockStream, ExcerptScheduler,  # noqa: E402
                                                  OverlapAdd, RenderStats)

__all__ = ["Dreamer", "ExcerptScheduler", "BlockStream", "OverlapAdd", "RenderStats", "CEILING_DB", "NOISE_PEAK_DB",
           "SILENCE_PEAK"]
