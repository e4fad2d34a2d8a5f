"""Linear layers through oneDNN's matrix product on the CPU (the same products; a faster kernel than MKL's on AMD).

torch computes a float32 F.linear on the CPU with MKL's sgemm, which on the AMD EPYC (Zen 4) hosts this project runs on
reaches 100-170 GFLOP/s on the model's shapes; oneDNN's product (torch.ops.mkldnn._linear_pointwise, the kernel
torch.compile's CPU backend emits) runs the same shapes at 160-200 (scripts/bench_linear.py prints both per shape).
`linear` uses it, forward and input gradient, for float32 CPU tensors outside autocast (bfloat16 autocast already goes
to oneDNN), with both operands made contiguous (oneDNN's path for a padded weight, such as a column slice, is ~1000x
slower); elsewhere, under torch.compile, and where torch has no oneDNN, it is F.linear. The weight gradient stays a
plain torch.mm, which is as fast or faster there. Results equal F.linear's to float32 rounding (~1e-6 relative).
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _onednn_product():
    try:
        return torch.ops.mkldnn._linear_pointwise.default if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):  # a torch build without the op
        return None


_PRODUCT = _onednn_product()


def _product(x, weight, bias):
    """x (..., in) @ weight (out, in)^T + bias (out,) or None, by oneDNN; x and weight contiguous."""
    return _PRODUCT(x, weight, bias, "none", [], "")


def _weight_grad(grad_2d, x_2d):
    """grad_2d (N, out)^T @ x_2d (N, in) -> (out, in): oneDNN's product where the layer narrows (in > out), MKL's
    otherwise, whichever was faster for the model's shapes (scripts/bench_linear.py)."""
    if x_2d.shape[1] > grad_2d.shape[1]:
        return _product(grad_2d.t(), x_2d.t(), None)
    return grad_2d.t() @ x_2d


class _OneDnnLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x, weight = x.contiguous(), weight.contiguous()
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _product(x, weight, bias)

    @staticmethod
    @once_differentiable  # the products are oneDNN calls without derivatives of their own
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _product(grad, weight.t(), None) if ctx.needs_input_grad[0] else None  # weight.t(): oneDNN's "ba"
        grad_2d = grad.reshape(-1, grad.shape[-1])
        grad_w = _weight_grad(grad_2d, x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        grad_b = grad_2d.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def linear(x, weight, bias=None):
    """F.linear(x, weight, bias): x (..., in), weight (out, in), bias (out,) or None -> (..., out); by oneDNN as the
    module docstring says."""
    if (_PRODUCT is None or x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
            or x.dim() < 2 or x.numel() == 0 or not torch.backends.mkldnn.enabled
            or torch.is_autocast_enabled("cpu") or torch.compiler.is_compiling()):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _OneDnnLinear.apply(x, weight, bias)
    return _product(x.contiguous(), weight.contiguous(), bias)


class Linear(nn.Linear):
    """nn.Linear (same parameters, names and initialisation) through linear() above."""

    def forward(self, x):
        return linear(x, self.weight, self.bias)
