"""Integrity of an exported graph: a digest of its weights, recorded in its metadata.

``weights_sha256`` in a graph's metadata names the safetensors file it came from; it
cannot be recomputed from the graph. ``graph_weights_sha256`` is a digest of the weights
the graph itself holds (every initializer and ``Constant`` tensor: name, type, shape,
bytes), written at export and checked when a graph file is loaded, so a graph whose
weights were zeroed, scaled or replaced by NaN is refused. onnx and numpy only (no torch).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["DIGEST_KEY", "graph_weights", "weights_digest", "verify_graph"]

DIGEST_KEY = "graph_weights_sha256"


def graph_weights(proto) -> list[tuple[str, np.ndarray]]:
    """``[(name, array)]`` of every weight tensor of an ``onnx.ModelProto``, sorted by name."""
    from onnx import numpy_helper

    found = [(t.name, numpy_helper.to_array(t)) for t in proto.graph.initializer]
    for node in proto.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.HasField("t"):
                    found.append((f"{node.output[0]}:{attr.name}", numpy_helper.to_array(attr.t)))
    return sorted(found, key=lambda item: item[0])


def weights_digest(proto) -> str:
    """sha256 over the graph's weights (name, dtype, shape and bytes of each)."""
    digest = hashlib.sha256()
    for name, array in graph_weights(proto):
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def verify_graph(proto, where: str) -> None:
    """Raise ``ModelLoadError`` unless the recorded digest matches and every weight is finite."""
    from dreambridge.presets.errors import ModelLoadError

    meta = {p.key: p.value for p in proto.metadata_props}
    for name, array in graph_weights(proto):
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ModelLoadError(f"{where}: weight {name!r} holds NaN or Inf; the graph is broken, export it again")
    recorded = meta.get(DIGEST_KEY)
    if not recorded:
        raise ModelLoadError(f"{where}: no {DIGEST_KEY} in the graph's metadata (exported by an older dreambridge, "
                             "or not by dreambridge); export it again with 'dreambridge export MODEL --dream-step'")
    actual = weights_digest(proto)
    if actual != recorded:
        raise ModelLoadError(f"{where}: the graph's weights (sha256 {actual[:12]}...) do not match its metadata "
                             f"({recorded[:12]}...); the file was changed or corrupted, export it again")
