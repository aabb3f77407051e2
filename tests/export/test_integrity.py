"""export/integrity.py: a graph whose weights changed after export is refused in one line."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from dreambridge.export.integrity import DIGEST_KEY, graph_weights, verify_graph, weights_digest
from dreambridge.presets.errors import ModelLoadError


@pytest.fixture
def step_proto(exported):
    out, _, _ = exported
    return onnx.load(str(out / "step.onnx"))


def test_the_exported_digest_is_the_graphs_own(step_proto):
    meta = {p.key: p.value for p in step_proto.metadata_props}
    assert meta[DIGEST_KEY] == weights_digest(step_proto)
    assert graph_weights(step_proto)  # the weights are in the graph, not outside it
    verify_graph(step_proto, "step.onnx")


def _edit_first_float(proto, how):
    for tensor in proto.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype.kind == "f" and array.size > 1:
            tensor.CopyFrom(numpy_helper.from_array(how(array.copy()), tensor.name))
            return
    raise AssertionError("no float initializer")


def test_changed_weights_are_refused(step_proto):
    _edit_first_float(step_proto, lambda a: a * np.float32(1.001))  # a 0.1 % nudge changes the digest
    with pytest.raises(ModelLoadError, match="^step.onnx: the graph's weights .* do not match its metadata"):
        verify_graph(step_proto, "step.onnx")


def test_non_finite_weights_are_refused_first(step_proto):
    def poison(a):
        a.flat[0] = np.nan
        return a

    _edit_first_float(step_proto, poison)
    with pytest.raises(ModelLoadError, match="holds NaN or Inf"):
        verify_graph(step_proto, "step.onnx")


def test_a_graph_without_the_digest_is_refused(step_proto):
    kept = [p for p in step_proto.metadata_props if p.key != DIGEST_KEY]
    del step_proto.metadata_props[:]
    step_proto.metadata_props.extend(kept)
    with pytest.raises(ModelLoadError, match=f"no {DIGEST_KEY} in the graph's metadata"):
        verify_graph(step_proto, "step.onnx")
