"""model/dropout.py: F.dropout's contract with the CPU's faster mask."""
import torch

from video_lights.model.dropout import Dropout, dropout


def test_keeps_one_minus_p_and_scales_kept_values():
    x = torch.ones(400_000)
    for p in (0.1, 0.5):
        y = dropout(x, p)
        kept = y != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 3e-3
        assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))


def test_reproducible_under_manual_seed_and_different_per_call():
    x = torch.randn(64, 33)
    torch.manual_seed(3)
    a, b = dropout(x, 0.3), dropout(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.3), a) and torch.equal(dropout(x, 0.3), b)
    assert not torch.equal(a, b)


def test_identity_when_not_training_or_p_zero_and_zero_at_p_one():
    x = torch.randn(5, 7)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    module = Dropout(0.5).eval()
    assert module(x) is x


def test_gradient_is_the_mask_and_dtype_is_kept():
    x = torch.randn(1000, requires_grad=True)
    y = dropout(x, 0.25)
    y.sum().backward()
    assert torch.equal(x.grad.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert torch.equal(x.grad != 0, y.detach() != 0)
    assert dropout(torch.randn(10, dtype=torch.bfloat16), 0.5).dtype == torch.bfloat16


def test_lanes_of_one_raw_draw_are_independent():
    """Four mask values come from each 64-bit draw: every lane drops p, and neighbours drop independently."""
    torch.manual_seed(0)
    dropped = (dropout(torch.ones(400_003), 0.5) == 0)[:400_000].view(-1, 4).float()  # odd length: a partial draw
    assert torch.allclose(dropped.mean(0), torch.full((4,), 0.5), atol=5e-3)
    both = (dropped[:, :3] * dropped[:, 1:]).mean(0)  # lanes (0, 1), (1, 2), (2, 3)
    assert torch.allclose(both, torch.full((3,), 0.25), atol=5e-3)
