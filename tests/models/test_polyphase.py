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


@pytest.mark.parametrize("stride, kernel, padding, c_in", [(7, 129, 64, 1), (3, 9, 4, 5), (7, 129, 64, 3)])
def test_the_gemm_input_gradient_equals_the_conv(stride, kernel, padding, c_in):
    """Few phase channels (Model2's layer 0: 7) take the GEMM-and-diagonal-sum path eagerly; more (21)
    the conv; both equal autograd, and the traced graph (conv) equals the eager result."""
    from dreambridge.models.polyphase import GEMM_MAX_PHASE_CHANNELS

    torch.manual_seed(2)
    weight = torch.randn(32, c_in, kernel)
    x = torch.randn(2, c_in, 6300, requires_grad=True)
    y = F.conv1d(x, weight, stride=stride, padding=padding)
    grad_out = torch.randn_like(y)
    (ref,) = torch.autograd.grad(y, x, grad_out)
    poly = polyphase_weight(weight, stride)
    got = conv1d_input_grad(grad_out, poly, stride, padding, 6300)
    traced = torch.jit.trace(lambda g: conv1d_input_grad(g, poly, stride, padding, 6300), grad_out,
                             check_trace=False)(grad_out)  # the trace (conv) and eager (GEMM) differ by rounding
    assert (poly.shape[0] <= GEMM_MAX_PHASE_CHANNELS) == (stride * c_in <= 15)
    # float32 rounding of sums of 32 * c_in * ceil(kernel / stride) products, in three orders
    for out in (got, traced):
        assert out.shape == ref.shape and (out - ref).abs().max() <= 1e-5 * ref.abs().max()
