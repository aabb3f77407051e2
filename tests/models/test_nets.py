"""models/nets.py: architectures, taps and BN folding."""

import numpy as np
import pytest
import torch
from signals import SR

from dreambridge.models.factory import build_model
from dreambridge.models.nets import conv_macs, fold_batchnorm


@pytest.mark.parametrize(
    "arch, frames, n_params",
    [
        ("model1", [900, 36, 4, 1], (380_000, 420_000)),  # paper: ~400k
        ("model2", [6300, 900, 180, 36, 12, 4, 2, 1], (280_000, 340_000)),  # paper: ~300k
        ("ardila6", [100, 50, 25, 13, 7, 4], (600_000, 800_000)),
    ],
)
def test_layer_shapes_and_parameter_counts(arch, frames, n_params):
    model = build_model(arch, 128).eval()
    taps, log_probs = model.forward_taps(torch.zeros(2, 1, SR))
    assert [t.shape[-1] for t in taps] == frames
    assert [t.shape[1] for t in taps] == model.layer_channels
    assert log_probs.shape == (2, 128)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2))
    assert n_params[0] <= model.n_parameters() <= n_params[1]


def test_table1_strides_cover_one_second():
    # Bisig Table 1: the product of Model2's strides is 44100, so layer 7 has 1 frame per second.
    assert np.prod([s.stride for s in build_model("model2", 2).specs]) == 44100
    assert np.prod([s.stride for s in build_model("model1", 2).specs]) == 44100


def test_upto_stops_early():
    model = build_model("model2", 3)
    taps, log_probs = model.forward_taps(torch.zeros(1, 1, 4410), upto=2)
    assert len(taps) == 3 and log_probs is None
    assert len(conv_macs(model, SR, upto=2)) == 3


def test_fold_batchnorm_is_the_same_function():
    torch.manual_seed(0)
    model = build_model("model2", 5)
    for block in model.blocks:  # non-trivial running statistics
        block.bn.running_mean.normal_()
        block.bn.running_var.uniform_(0.5, 2.0)
        block.bn.weight.data.uniform_(0.5, 1.5)
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(2, 1, 8000)
    a, b = model.forward_taps(x), folded.forward_taps(x)
    for ta, tb in zip(a[0], b[0]):
        # float32 rounding of the folded weights: ~1e-6 relative per layer
        assert torch.allclose(ta, tb, rtol=1e-4, atol=1e-5)
    assert not any(p.requires_grad for p in folded.parameters())
