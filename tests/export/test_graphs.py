"""export/graphs.py: the exported modules, run in torch: the classifier is the model with every tap,
and the hand-written dream step's gradient is autograd's gradient of its own loss."""

import pytest
import torch

from dreambridge.export.graphs import ClassifierGraph, DreamStepGraph
from dreambridge.models.factory import build_model


def _model(arch, n_classes=3):
    torch.manual_seed(0)
    model = build_model(arch, n_classes)
    for block in model.blocks:  # non-trivial batch-norm statistics: the graphs fold them
        block.bn.running_mean.normal_(0, 0.1)
        block.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_classifier_graph_is_the_model_with_every_tap():
    model = _model("model2")
    x = torch.randn(2, 1, 22050)
    with torch.no_grad():
        log_probs, *taps = ClassifierGraph(model)(x)
        ref_taps, ref_log_probs = model.forward_taps(x)
    assert len(taps) == model.n_layers
    # folded batch norm: float32 rounding of the folded weights, ~1e-6 relative per layer
    for a, b in zip(taps, ref_taps):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert torch.allclose(log_probs, ref_log_probs, rtol=1e-4, atol=1e-5)


def _inputs(model, n=20000):
    torch.manual_seed(1)
    x = 0.3 * torch.randn(2, 1, n)
    layer_weights = torch.rand(sum(model.layer_channels))
    class_weights = torch.tensor([0.5, 0.0, 1.0])
    return x, layer_weights, class_weights, torch.tensor([0.1]), torch.tensor([0.2]), torch.tensor([0.1])


@pytest.mark.parametrize("arch", ["model2", "ardila6"])
def test_dream_step_gradient_is_autograd_of_its_loss(arch):
    model = _model(arch)
    graph = DreamStepGraph(model)
    x, *rest = _inputs(model)
    xa = x.clone().requires_grad_(True)
    updated, gradient, loss = graph(xa, *rest)
    (reference,) = torch.autograd.grad(loss.sum(), xa)
    # the same chain rule in another order (polyphase convolutions, pooling by indices): float32 rounding
    assert (gradient - reference).abs().max() <= 1e-4 * reference.abs().max()
    step = x + 0.1 * gradient / gradient.abs().amax(dim=-1, keepdim=True)
    assert torch.allclose(updated, step)


def test_a_shallow_step_is_the_full_step_for_shallow_weights():
    model = _model("model2")
    x, layer_weights, class_weights, *rest = _inputs(model)
    layer_weights[sum(model.layer_channels[:2]):] = 0  # only layers 0 and 1 dreamed, no class target
    class_weights = torch.zeros_like(class_weights)
    full, full_loss = DreamStepGraph(model, with_update=False)(x, layer_weights, class_weights, *rest)
    shallow, shallow_loss = DreamStepGraph(model, max_layer=1, with_update=False)(x, layer_weights, class_weights, *rest)
    # the deeper layers contribute exact zeros; only the order of float32 sums differs
    assert torch.allclose(shallow, full, rtol=1e-5, atol=1e-6 * full.abs().max())
    assert torch.allclose(shallow_loss, full_loss, rtol=1e-5)
