"""Highlight detection metrics on QVHighlights (the authors' standalone_eval/eval.py `eval_highlight`): HL-mAP
and HL-Hit1 at Fair / Good / VeryGood.

Queries are padded to the longest video and handled as one [Q, N] batch; the 3 raters x 3 label thresholds
are 9 label columns ranked by the same predicted scores.
"""
import math

import numpy as np

from standalone_eval.rounding import percent

CLIP_LENGTH = 2  # seconds per clip (QVHighlights)
# positive iff rater score >= threshold (inclusive); "VeryGood" is the paper's HD mAP / HIT@1
SALIENCY_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}


def n_clips(gt_row: dict, clip_length=CLIP_LENGTH) -> int:
    """Number of clips of a GT row: ceil(duration / clip_length), a partial last clip included, as the extractor
    and the loader count them. For QVHighlights (durations are even) this is the official floor(duration / 2)."""
    return math.ceil(gt_row["duration"] / clip_length - 1e-9)


def gt_rater_scores(gt_rows: list, clip_length=CLIP_LENGTH) -> tuple:
    """Rater scores of every clip: ([Q, N, 3] float, 0 outside relevant_clip_ids and in padding; [Q] N)."""
    n = np.array([n_clips(r, clip_length) for r in gt_rows])
    scores = np.zeros((len(gt_rows), n.max(), 3))
    for i, r in enumerate(gt_rows):
        scores[i, r["relevant_clip_ids"]] = r["saliency_scores"]
    return scores, n


def tie_aware_ap(pred: np.ndarray, labels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Interpolated AP over distinct scores, as the authors' utils.py `get_ap` (scikit-learn's precision_recall_curve).

    Each distinct predicted score is one point of the precision/recall curve ("score >= threshold"); a
    point's precision is replaced by the best precision at any recall >= its recall, and the AP is the
    plain mean of that over the distinct (float32) recall levels > 0. Columns whose labels are all 0
    score 0 and all 1 score 1, without ranking.

    Args:
        pred: [Q, N] predicted scores; labels: [Q, N, C] binary (0./1.); valid: [Q, N] bool, False = padding.
    Returns:
        [Q, C] AP in [0, 1].
    """
    Q, N, C = labels.shape
    key = np.where(valid, -pred, np.inf)  # padding sorts last
    order = np.argsort(key, axis=1, kind="stable")  # [Q, N], descending score
    s = np.take_along_axis(key, order, 1)  # [Q, N]
    y = np.take_along_axis(labels * valid[..., None], order[..., None], 1)  # [Q, N, C]
    v = np.take_along_axis(valid, order, 1)  # [Q, N]
    pos = np.arange(N)
    is_end = v & np.concatenate([s[:, 1:] != s[:, :-1], np.ones((Q, 1), bool)], 1)  # last clip of a tie group
    is_start = np.concatenate([np.ones((Q, 1), bool), s[:, 1:] != s[:, :-1]], 1)
    start = np.maximum.accumulate(np.where(is_start, pos, 0), 1)  # [Q, N] first position of the tie group

    tps = np.cumsum(y, 1)  # [Q, N, C]
    n_pos = tps[:, -1:, :]  # [Q, 1, C]
    precision = tps / (pos + 1)[None, :, None]  # tps / (tps + fps)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = (tps / n_pos).astype(np.float32)  # get_ap casts recall to float32
    prev_recall = np.where(start[..., None] > 0,
                           np.take_along_axis(recall, np.maximum(start - 1, 0)[..., None], 1), 0)  # previous point
    level = is_end[..., None] & (recall != prev_recall)  # [Q, N, C] first point reaching each recall level
    point_prec = np.where(is_end[..., None], precision, -np.inf)
    interp = np.maximum.accumulate(point_prec[:, ::-1], 1)[:, ::-1]  # best precision at recall >= this point's
    with np.errstate(invalid="ignore"):
        ap = np.where(level, interp, 0).sum(1) / level.sum(1)  # [Q, C]
    n_labels = valid.sum(1)[:, None]  # [Q, 1]
    n_pos = n_pos[:, 0]
    return np.where(n_pos == 0, 0.0, np.where(n_pos == n_labels, 1.0, ap))


def fit_length(scores: list, n: np.ndarray) -> tuple:
    """Predicted scores fitted to N clips: truncated, or zero-padded (eval.py `compute_ap_from_tuple`).

    Returns ([Q, max N] scores, valid [Q, max N])."""
    valid = np.arange(n.max()) < n[:, None]
    fitted = np.zeros(valid.shape)
    for i, s in enumerate(scores):
        k = min(len(s), n[i])
        fitted[i, :k] = s[:k]
    return fitted, valid


def raw_argmax(scores: list) -> np.ndarray:
    """Index of the highest score in each untruncated list, first index on ties: [Q]."""
    width = max(len(s) for s in scores)
    raw = np.full((len(scores), width), -np.inf)
    for i, s in enumerate(scores):
        raw[i, :len(s)] = s
    return raw.argmax(1)


def eval_highlight(scores: list, gt_rows: list, clip_length=CLIP_LENGTH) -> dict:
    """{"HL-min-Fair": {"HL-mAP", "HL-Hit1"}, "HL-min-Good": ..., "HL-min-VeryGood": ...}.

    Args:
        scores: Q lists of predicted clip scores (any length >= 1); gt_rows: the Q matching GT rows;
        clip_length: seconds per clip (the dataset spec's; 2 for QVHighlights).
    """
    rater, n = gt_rater_scores(gt_rows, clip_length)  # [Q, N, 3]
    pred, valid = fit_length(scores, n)
    top = raw_argmax(scores)  # [Q]
    in_video = top < n
    top_rater = np.take_along_axis(rater, np.minimum(top, rater.shape[1] - 1)[:, None, None], 1)[:, 0]  # [Q, 3]
    levels = np.array(list(SALIENCY_LEVELS.values()))  # [L]
    labels = (rater[..., None, :] >= levels[:, None]).astype(float).reshape(*rater.shape[:2], -1)  # [Q, N, L*3]
    ap = tie_aware_ap(pred, labels, valid).reshape(len(scores), len(levels), 3)  # [Q, L, 3]
    blocks = {}
    for k, (name, level) in enumerate(SALIENCY_LEVELS.items()):
        hit = in_video & (top_rater >= level).any(1)  # any rater calls the top clip positive
        blocks[f"HL-min-{name}"] = {"HL-mAP": percent(np.mean(ap[:, k])), "HL-Hit1": percent(np.mean(hit))}
    return blocks
