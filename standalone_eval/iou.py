"""Temporal IoU of (start, end) windows in seconds, numpy only.

Two formulas, both reproduced operation for operation from the authors' standalone_eval/utils.py
(`compute_temporal_iou_batch_cross`, `compute_temporal_iou_batch_paired`), because they differ on malformed
windows:

* ``cross_iou``: intersection / (len1 + len2 - intersection). Used to match predictions in mAP and to pick
  the reference GT window in R1. It is NaN when the union is 0 (an inverted prediction whose negative
  length cancels a GT length), and nothing is clipped or reordered.
* ``paired_iou``: intersection / hull. Used for the R1 and mIoU values. It is 0 when the hull is 0.
"""
import numpy as np


def cross_iou(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of every pair, batched over leading dimensions.

    Args:
        spans1: [..., N, 2] (start, end); spans2: [..., M, 2] (start, end), float64.
    Returns:
        [..., N, M] float64; NaN where the union is 0 (the official "NaN IoU" bug, docs/fidelity.md, 'Evaluation').
    """
    areas1 = spans1[..., 1] - spans1[..., 0]  # [..., N]
    areas2 = spans2[..., 1] - spans2[..., 0]  # [..., M]
    left = np.maximum(spans1[..., :, None, 0], spans2[..., None, :, 0])  # [..., N, M]
    right = np.minimum(spans1[..., :, None, 1], spans2[..., None, :, 1])  # [..., N, M]
    inter = np.clip(right - left, 0, None)  # [..., N, M]
    union = areas1[..., :, None] + areas2[..., None, :] - inter  # [..., N, M]
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def paired_iou(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of row i of spans1 with row i of spans2, with the hull as denominator.

    Args:
        spans1, spans2: [..., 2] (start, end), float64, same shape.
    Returns:
        [...] float64; 0 where the hull is 0. Equals the true IoU for well-formed overlapping windows.
    """
    inter = np.maximum(0, np.minimum(spans1[..., 1], spans2[..., 1]) - np.maximum(spans1[..., 0], spans2[..., 0]))
    hull = np.maximum(spans1[..., 1], spans2[..., 1]) - np.minimum(spans1[..., 0], spans2[..., 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)
