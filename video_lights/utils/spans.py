"""Span geometry as pure tensor functions.

Spans are either "xx" = (start, end) or "cxw" = (center, width), in the last dimension.
Pairwise functions take spans1 [N, 2] and spans2 [M, 2] and return [N, M].
"""
import torch


def span_xx_to_cxw(xx_spans: torch.Tensor) -> torch.Tensor:
    """(start, end) -> (center, width); works on any [..., 2] tensor."""
    center = xx_spans.sum(-1) * 0.5
    width = xx_spans[..., 1] - xx_spans[..., 0]
    return torch.stack([center, width], dim=-1)


def span_cxw_to_xx(cxw_spans: torch.Tensor) -> torch.Tensor:
    """(center, width) -> (start, end); works on any [..., 2] tensor."""
    x1 = cxw_spans[..., 0] - 0.5 * cxw_spans[..., 1]
    x2 = cxw_spans[..., 0] + 0.5 * cxw_spans[..., 1]
    return torch.stack([x1, x2], dim=-1)


def temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor):
    """IoU of every pair of xx spans.

    Args:
        spans1: [N, 2] (start, end); spans2: [M, 2] (start, end).
    Returns:
        iou [N, M] and union [N, M].
    """
    areas1 = spans1[:, 1] - spans1[:, 0]  # [N]
    areas2 = spans2[:, 1] - spans2[:, 0]  # [M]
    left = torch.max(spans1[:, None, 0], spans2[None, :, 0])  # [N, M]
    right = torch.min(spans1[:, None, 1], spans2[None, :, 1])  # [N, M]
    inter = (right - left).clamp(min=0)  # [N, M]
    union = areas1[:, None] + areas2[None, :] - inter  # [N, M]
    return inter / union, union


def generalized_temporal_iou(spans1: torch.Tensor, spans2: torch.Tensor) -> torch.Tensor:
    """Generalized IoU (Rezatofighi et al. 2019) of every pair of xx spans: [N, 2] x [M, 2] -> [N, M]."""
    assert (spans1[:, 1] >= spans1[:, 0]).all(), "spans1 has end < start"
    assert (spans2[:, 1] >= spans2[:, 0]).all(), "spans2 has end < start"
    iou, union = temporal_iou(spans1, spans2)
    left = torch.min(spans1[:, None, 0], spans2[None, :, 0])  # [N, M]
    right = torch.max(spans1[:, None, 1], spans2[None, :, 1])  # [N, M]
    enclosing = (right - left).clamp(min=0)  # [N, M]
    return iou - (enclosing - union) / enclosing


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """log(x / (1 - x)) with x clamped to [0, 1] and both x and 1 - x clamped below at eps (DAB-DETR)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
