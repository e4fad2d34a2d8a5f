"""model/linear.py: F.linear's contract (values and gradients) through oneDNN's product on the CPU."""
import pytest
import torch
import torch.nn.functional as F

import video_lights.model.linear as L
from video_lights.model.linear import Linear, linear

needs_onednn = pytest.mark.skipif(L._PRODUCT is None, reason="this torch build has no oneDNN linear")


def _count_products(monkeypatch):
    calls = []
    real = L._PRODUCT

    def counting(*args):
        calls.append(tuple(args[0].shape))
        return real(*args)

    monkeypatch.setattr(L, "_PRODUCT", counting)
    return calls


def _grads(fn, x, w, b, g):
    leaves = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    out = fn(*leaves)
    out.backward(g)
    return out.detach(), [t.grad for t in leaves]


@needs_onednn
@pytest.mark.parametrize("layout", ["contiguous", "transposed_input", "column_slice_weight", "widening"])
def test_values_and_gradients_match_f_linear(layout, monkeypatch):
    torch.manual_seed(0)
    x, w, b = torch.randn(6, 9, 40), torch.randn(24, 40), torch.randn(24)
    if layout == "widening":  # in < out: the weight gradient by torch.mm rather than oneDNN
        w, b = torch.randn(24, 40).repeat(3, 1), torch.randn(72)
    if layout == "transposed_input":
        x = torch.randn(9, 6, 40).transpose(0, 1)  # (6, 9, 40), not contiguous
    if layout == "column_slice_weight":
        w = torch.randn(24, 100)[:, 30:70]  # padded rows: oneDNN's slow path unless made contiguous
    g = torch.randn(6, 9, len(b)).transpose(0, 1).contiguous().transpose(0, 1)  # a strided output gradient
    calls = _count_products(monkeypatch)
    ours, ours_grads = _grads(linear, x, w, b, g)
    assert len(calls) == (2 if layout == "widening" else 3)  # forward, input gradient [, weight gradient]
    ref, ref_grads = _grads(F.linear, x, w, b, g)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(ours_grads, ref_grads):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_no_grad_and_frozen_parts(monkeypatch):
    x, w = torch.randn(5, 8), torch.randn(3, 8)
    calls = _count_products(monkeypatch)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w), F.linear(x, w))
    assert calls == [(5, 8)]
    w.requires_grad_()
    out = linear(x, w)  # the input needs no gradient: only the weight's is computed
    out.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones(5, 3).t() @ x)


def test_other_dtypes_autocast_and_vectors_are_f_linear(monkeypatch):
    calls = _count_products(monkeypatch) if L._PRODUCT is not None else []
    x, w, b = torch.randn(4, 8), torch.randn(3, 8), torch.randn(3)
    assert torch.equal(linear(x.double(), w.double(), b.double()), F.linear(x.double(), w.double(), b.double()))
    assert torch.equal(linear(x[0], w, b), F.linear(x[0], w, b))
    assert linear(torch.randn(0, 8), w, b).shape == (0, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, w, b).dtype == torch.bfloat16  # autocast still applies
    assert calls == []


def test_module_keeps_nn_linear_parameters():
    torch.manual_seed(1)
    ours = Linear(7, 5)
    torch.manual_seed(1)
    ref = torch.nn.Linear(7, 5)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))
    x = torch.randn(2, 3, 7)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
