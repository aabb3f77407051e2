"""models/polyphase.py: the polyphase forms equal torch's strided conv and its autograd input gradient."""

import pytest
import torch
from torch.nn import functional as F

from dreambridge.models.polyphase import (conv1d_input_grad, conv1d_polyphase, polyphase_forward_weight,
                                          polyphase_weight)

# (stride, kernel, padding): Model2's layers 0 and 2, a kernel shorter than its stride, no padding
GEOMETRIES = [(7, 129, 64), (5, 33, 16), (3, 2, 1), (2, 5, 0)]


@pytest.mark.parametrize("stride, kernel, padding", GEOMETRIES)
@pytest.mark.parametrize("n", [997, 1000, 1001])
def test_forward_equals_the_strided_conv(stride, kernel, padding, n):
    torch.manual_seed(0)
    weight, bias = torch.randn(4, 3, kernel), torch.randn(4)
    x = torch.randn(2, 3, n)
    ref = F.conv1d(x, weight, bias, stride=stride, padding=padding)
    got = conv1d_polyphase(x, polyphase_forward_weight(weight, stride), bias, stride, padding, kernel)
    assert got.shape == ref.shape
    # the same products summed in another order: float32 rounding of ~400-term sums
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize("stride, kernel, padding", GEOMETRIES)
@pytest.mark.parametrize("n", [997, 1000, 1001])
def test_input_gradient_equals_autograd(stride, kernel, padding, n):
    torch.manual_seed(1)
    weight = torch.randn(4, 3, kernel)
    x = torch.randn(2, 3, n, requires_grad=True)
    y = F.conv1d(x, weight, stride=stride, padding=padding)
    grad_out = torch.randn_like(y)
    (ref,) = torch.autograd.grad(y, x, grad_out)
    got = conv1d_input_grad(grad_out, polyphase_weight(weight, stride), stride, padding, n)
    assert got.shape == ref.shape
    # float32 rounding only (sums of <= 4 * ceil(129 / 7) products per sample)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
