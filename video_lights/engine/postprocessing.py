"""Turning model outputs into submission rows, exactly as the authors' compute_mr_results and PostProcessorDETR.

Windows are decoded from normalised (center, width) to seconds with the video's duration, ranked by the
foreground probability, rounded to 4 decimals, then (for datasets whose spec says so) clamped and snapped to clip
multiples. Saliency is written as float16 values of the valid clips. Optional temporal NMS runs on top.
"""
import torch
import torch.nn.functional as F

from video_lights.utils.spans import span_cxw_to_xx

def round4(x: float) -> float:
    return float(f"{x:.4f}")


def decode_moments(pred_logits, pred_spans, durations, sort=True):
    """Rank and scale the predicted moments of a batch.

    Args:
        pred_logits: [B, nq, 2] class logits (index 0 = foreground).
        pred_spans: [B, nq, 2] normalised (center, width).
        durations: B video durations in seconds.
        sort: rank windows by descending foreground probability (the reference default).
    Returns:
        B lists of nq rows [start_sec, end_sec, score], each number rounded to 4 decimals.
    """
    scores = F.softmax(pred_logits.float(), -1)[..., 0].cpu()  # [B, nq]
    spans = span_cxw_to_xx(pred_spans.float().cpu())  # [B, nq, 2]
    rows = []
    for spans_b, scores_b, duration in zip(spans, scores, durations):
        ranked = torch.cat([spans_b * duration, scores_b[:, None]], dim=1).tolist()
        if sort:
            ranked = sorted(ranked, key=lambda r: r[2], reverse=True)
        rows.append([[round4(v) for v in r] for r in ranked])
    return rows


def valid_saliency(saliency_scores, video_mask):
    """Saliency of the valid clips as Python floats, in the dtype given (QVHighlights writes `.half()` values).

    Args:
        saliency_scores: [B, Lv]; video_mask: [B, Lv] float, 1 = valid clip.
    Returns:
        B lists of floats, one per valid clip.
    """
    scores = saliency_scores.detach().cpu()
    lengths = video_mask.sum(1).long().cpu().tolist()
    return [scores[b, :n].tolist() for b, n in enumerate(lengths)]


def snap_windows(rows, clip_length, max_ts):
    """Clamp windows to [0, max_ts] and round them to multiples of clip_length (half to even, in float32).

    Quirk (reproduced): the authors clamp to a fixed max_ts (150 s, the spec's snap_max_ts) for every video, not to
    the video's own duration; it changes numbers for windows past the end of short videos.

    Args:
        rows: list of [start, end, score].
    Returns:
        the same rows, windows snapped, scores re-rounded to 4 decimals.
    """
    windows_and_scores = torch.tensor(rows)  # float32 [n, 3], as the reference
    windows = windows_and_scores[:, :2].clamp(min=0, max=max_ts)
    windows = torch.round(windows / clip_length) * clip_length
    return [w + [round4(s)] for w, s in zip(windows.tolist(), windows_and_scores[:, 2].tolist())]


def _enclosing_iou(a, b):
    """The reference NMS "IoU": intersection over the enclosing span (not the union); 0 for an empty hull."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return 0 if hull == 0 else inter / hull


def temporal_nms(rows, nms_thd, max_after_nms):
    """Greedy temporal NMS as the authors' (Moment-DETR's utils/temporal_nms.py).

    Args:
        rows: list of [start, end, score]; nms_thd: suppress overlaps above this; max_after_nms: keep at most this many.
    """
    if len(rows) <= 1:
        return rows
    pending = sorted(rows, key=lambda r: r[2], reverse=True)
    kept = []
    while len(pending) > 1 and len(kept) < max_after_nms:
        top = pending.pop(0)
        pending = [r for r in pending if _enclosing_iou(top, r) <= nms_thd]
        kept.append(top)
    if len(kept) < max_after_nms and pending:
        kept.append(pending.pop(0))
    return [[r[0], r[1], r[2]] for r in kept]


def apply_nms(submission, nms_thd, max_before_nms, max_after_nms):
    """A copy of the submission with NMS applied to the first `max_before_nms` windows of every row."""
    out = []
    for row in submission:
        row = dict(row)
        row["pred_relevant_windows"] = temporal_nms(row["pred_relevant_windows"][:max_before_nms], nms_thd,
                                                    max_after_nms)
        out.append(row)
    return out
