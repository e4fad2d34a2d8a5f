"""model/prelu.py: nn.PReLU's values and gradients with the cheaper CPU backward."""
import torch
import torch.nn.functional as F

from video_lights.model.prelu import PReLU, prelu


def _both(x, weight):
    """(ours, F.prelu's) outputs and gradients for the same inputs and upstream gradient."""
    grad = torch.randn_like(x)
    results = []
    for fn in (prelu, F.prelu):
        xi, wi = x.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
        out = fn(xi, wi)
        out.backward(grad)
        results.append((out.detach(), xi.grad, wi.grad))
    return results


def test_values_and_gradients_match_torch():
    torch.manual_seed(0)
    x = torch.randn(6, 7, 33)
    x[0, 0, :5] = 0.0  # the boundary: slope side, as torch's
    for slope in (0.25, -0.3, 1.7):
        (out, gx, gw), (ref, ref_gx, ref_gw) = _both(x, torch.tensor([slope]))
        assert torch.equal(out, ref) and torch.equal(gx, ref_gx)  # bit for bit
        torch.testing.assert_close(gw, ref_gw, rtol=1e-5, atol=1e-5)  # summation order only
    x_t = torch.randn(33, 7).t()  # a non-contiguous input
    (out, gx, gw), (ref, ref_gx, ref_gw) = _both(x_t, torch.tensor([0.1]))
    assert torch.equal(out, ref) and torch.equal(gx, ref_gx)
    torch.testing.assert_close(gw, ref_gw, rtol=1e-5, atol=1e-5)


def test_frozen_slope_no_grad_and_fall_through():
    torch.manual_seed(1)
    module = PReLU()
    assert [n for n, _ in module.named_parameters()] == ["weight"]  # state dicts unchanged
    x = torch.randn(4, 9, requires_grad=True)
    module.weight.requires_grad_(False)
    module(x).sum().backward()
    assert module.weight.grad is None and torch.equal(x.grad, torch.where(x > 0, 1.0, 0.25).detach())
    with torch.no_grad():
        assert torch.equal(module(x), F.prelu(x, module.weight))
    several = torch.tensor([0.1, 0.2, 0.3])  # one slope per channel: torch's own
    y = torch.randn(2, 3, 5)
    assert torch.equal(prelu(y, several), F.prelu(y, several))
    half = torch.randn(3, 4, dtype=torch.bfloat16)
    assert torch.equal(prelu(half, torch.tensor([0.25], dtype=torch.bfloat16)),
                       F.prelu(half, torch.tensor([0.25], dtype=torch.bfloat16)))
    reference = torch.nn.PReLU()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = torch.nn.functional.linear(torch.randn(3, 8), torch.randn(4, 8))  # bfloat16 under autocast
        assert torch.equal(PReLU()(z), reference(z))
