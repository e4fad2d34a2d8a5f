"""Moment retrieval metrics (the authors' standalone_eval/eval.py `eval_moment_retrieval`): length buckets,
mAP@[0.5:0.95], R1@[0.3:0.95] and mIoU.

Everything is batched over queries: predictions are packed into [Q, P, 3] arrays and GT windows into
[Q, G, 2] arrays, padded and masked. The only Python loop left is the greedy matching over the P <= 10
predictions of a query (each step depends on which GT windows the previous ones locked), and it runs over
all queries and thresholds at once.
"""
from dataclasses import dataclass

import numpy as np

from standalone_eval.iou import cross_iou, paired_iou
from standalone_eval.rounding import percent

MAX_PRED_WINDOWS = 10  # only the first 10 windows as listed are scored (eval.py `compute_mr_ap`)
# Thresholds are linspace snapped to 2 decimals; their str() is the output key ("0.5", "0.55", ...).
AP_THRESHOLDS = [float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10)]
R1_THRESHOLDS = [float(f"{t:.2f}") for t in np.linspace(0.3, 0.95, 14)]
# GT-window length buckets, open on the left, closed on the right (eval.py `get_data_by_range`). "full" is not
# filtered.
LENGTH_BUCKETS = {"short": (0, 10), "middle": (10, 30), "long": (30, 150), "full": (0, 150)}
# VideoLights/CG-DETR write this for an empty bucket instead of crashing: 19 raw linspace keys + "average",
# the same dict for MR-mAP and MR-R1, and no MR-mIoU (the authors' eval.py `eval_moment_retrieval`).
EMPTY_BUCKET_KEYS = [str(float(t)) for t in np.linspace(0.5, 0.95, 19)] + ["average"]


@dataclass
class Predictions:
    """Predicted windows of Q distinct queries, in order of first appearance in the submission.

    windows: [Q, P, 3] (start, end, score), NaN padding; for mAP. Each row's first 10 windows as listed;
             with duplicate rows (compat mode) the rows of a qid are concatenated (pooled).
    count:   [Q] number of real windows in `windows`.
    top1:    [Q, 2] the first listed window of the query's last row; for R1 and mIoU.
    """
    windows: np.ndarray
    count: np.ndarray
    top1: np.ndarray

    @classmethod
    def pack(cls, row_qids: list, row_windows: list) -> tuple:
        """Rows -> (distinct qids, Predictions). row_windows[i] is a list of [start, end, score] floats."""
        pooled, top1 = {}, {}
        for qid, windows in zip(row_qids, row_windows):
            pooled.setdefault(qid, []).extend(windows[:MAX_PRED_WINDOWS])
            top1[qid] = windows[0][:2]  # the last row wins, as in the official dict comprehension
        qids = list(pooled)
        count = np.array([len(pooled[q]) for q in qids])
        windows = np.full((len(qids), count.max(), 3), np.nan)
        for i, q in enumerate(qids):
            windows[i, :count[i]] = pooled[q]
        return qids, cls(windows, count, np.array([top1[q] for q in qids], dtype=float).reshape(-1, 2))

    def __getitem__(self, keep: np.ndarray) -> "Predictions":
        return Predictions(self.windows[keep], self.count[keep], self.top1[keep])


def pack_gt_windows(qids: list, gt_by_qid: dict) -> np.ndarray:
    """GT windows of each query: [Q, G, 2] (start, end), NaN padding."""
    counts = [len(gt_by_qid[q]["relevant_windows"]) for q in qids]
    gt = np.full((len(qids), max(counts), 2), np.nan)
    for i, q in enumerate(qids):
        gt[i, :counts[i]] = gt_by_qid[q]["relevant_windows"]
    return gt


def greedy_match(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The official greedy assignment (the authors' standalone_eval/utils.py `compute_average_precision_detection`),
    for all queries and thresholds at once.

    The official code walks each prediction's GT windows in `argsort(iou)[::-1]` order: descending IoU,
    NaN first, ties to the higher GT index (numpy's argsort is stable on such short rows). It stops at the
    first window below the threshold (false positive) and skips taken ones, so the prediction takes the
    first-visited window that is neither below the threshold nor taken, if any.

    Args:
        iou: [Q, P, G] cross IoU of the score-sorted predictions with the GT windows; -inf marks padding
             (padded predictions match nothing, padded GT windows are never matched). NaN counts as a match.
        thresholds: [T].
    Returns:
        tp: [Q, T, P] bool, true positives.
    """
    Q, P, G = iou.shape
    above = ~(iou[:, :, None, :] < thresholds[:, None])  # [Q, P, T, G]; NaN is never "below"
    priority = np.where(np.isnan(iou), np.inf, iou)[:, :, None, ::-1]  # [Q, P, 1, G], GT index reversed
    taken = np.zeros((Q, T := len(thresholds), G), dtype=bool)  # [Q, T, G]
    tp = np.zeros((Q, T, P), dtype=bool)
    for p in range(P):
        free = above[:, p] & ~taken  # [Q, T, G]
        best = np.where(free[..., ::-1], priority[:, p], -np.inf).argmax(-1)  # [Q, T], on reversed GT index
        hit = free[..., ::-1].any(-1)  # [Q, T]
        taken |= hit[..., None] & (np.arange(G) == G - 1 - best[..., None])
        tp[:, :, p] = hit
    return tp


def voc_ap(tp: np.ndarray, count: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """ActivityNet/VOC all-points interpolated AP of each query and threshold (the authors' utils.py
    `compute_average_precision_detection` and `interpolated_precision_recall`).

    Args:
        tp: [Q, T, P] bool, in score order; positions >= count[q] are padding.
        count: [Q] real predictions per query; n_gt: [Q] GT windows per query.
    Returns:
        [Q, T] AP in [0, 1].
    """
    real = np.arange(tp.shape[-1]) < count[:, None, None]  # [Q, 1, P]
    tp_cum = np.cumsum(tp & real, -1).astype(float)  # [Q, T, P]; padding repeats the last real point
    fp_cum = np.cumsum(~tp & real, -1).astype(float)
    recall = tp_cum / n_gt[:, None, None].astype(float)
    with np.errstate(invalid="ignore"):
        precision = tp_cum / (tp_cum + fp_cum)
    zeros = np.zeros(tp.shape[:2] + (1,))
    m_prec = np.concatenate([zeros, precision, zeros], -1)  # [Q, T, P + 2]
    m_rec = np.concatenate([zeros, recall, zeros + 1], -1)
    m_prec = np.maximum.accumulate(m_prec[..., ::-1], -1)[..., ::-1]  # max precision at any later position
    step = m_rec[..., 1:] - m_rec[..., :-1]
    return np.where(step != 0, step * m_prec[..., 1:], 0).sum(-1)


def mr_ap(preds: Predictions, gt: np.ndarray, gt_mask: np.ndarray) -> np.ndarray:
    """Per-query AP at each of the 10 thresholds: [Q, T]. gt: [Q, G, 2]; gt_mask: [Q, G] windows in the bucket."""
    score = np.where(np.arange(preds.windows.shape[1]) < preds.count[:, None], preds.windows[..., 2], -np.inf)
    by_score = np.argsort(-score, axis=1, kind="stable")  # [Q, P]: descending score, ties keep listed order
    windows = np.take_along_axis(preds.windows, by_score[..., None], 1)  # [Q, P, 3]
    iou = cross_iou(windows[..., :2], gt)  # [Q, P, G]
    real_pred = np.arange(windows.shape[1]) < preds.count[:, None]
    iou = np.where(real_pred[:, :, None] & gt_mask[:, None, :], iou, -np.inf)
    tp = greedy_match(iou, np.array(AP_THRESHOLDS))
    return voc_ap(tp, preds.count, gt_mask.sum(1))


def top1_iou(top1: np.ndarray, gt: np.ndarray, gt_mask: np.ndarray) -> np.ndarray:
    """Paired IoU of each query's first listed window with its reference GT window (eval.py `compute_mr_r1`): [Q].

    The reference is the bucket's GT window of highest cross IoU with it; the first index wins ties and NaN.
    """
    cross = np.where(gt_mask, cross_iou(top1[:, None, :], gt)[:, 0], -np.inf)  # [Q, G]
    ref = np.take_along_axis(gt, cross.argmax(1)[:, None, None], 1)[:, 0]  # [Q, 2]
    return paired_iou(top1, ref)


def bucket_metrics(preds: Predictions, gt: np.ndarray, gt_mask: np.ndarray) -> dict:
    """The block of one length bucket: {"MR-mIoU", "MR-mAP": {thr: ..., "average"}, "MR-R1": {thr: ...}}."""
    ap = mr_ap(preds, gt, gt_mask).mean(0)  # [T], macro over queries
    iou = top1_iou(preds.top1, gt, gt_mask)  # [Q]
    mean_ap = {str(t): percent(v) for t, v in zip(AP_THRESHOLDS, ap)}
    mean_ap["average"] = percent(np.mean(ap))
    return {"MR-mIoU": percent(np.mean(iou)),
            "MR-mAP": mean_ap,
            "MR-R1": {str(t): percent(np.mean(iou >= t)) for t in R1_THRESHOLDS}}


def eval_moment_retrieval(preds: Predictions, gt: np.ndarray, verbose: bool = False) -> dict:
    """All bucket blocks {"short", "middle", "long", "full"} for packed predictions and GT [Q, G, 2]."""
    gt_valid = ~np.isnan(gt[..., 0])  # [Q, G]
    length = gt[..., 1] - gt[..., 0]  # [Q, G]
    blocks = {}
    for name, (lo, hi) in LENGTH_BUCKETS.items():
        if (lo, hi) == (0, 150):  # the official check that selects "full": every query, every window
            mask = gt_valid
        else:
            with np.errstate(invalid="ignore"):
                mask = gt_valid & (length > lo) & (length <= hi)
        keep = mask.any(1)  # [Q]: queries with at least one GT window in the bucket
        if verbose:
            print(f"{name}: [{lo}, {hi}], {keep.sum()}/{len(keep)}={100 * keep.mean():.2f} examples.")
        if keep.any():
            blocks[name] = bucket_metrics(preds[keep], gt[keep], mask[keep])
        else:
            placeholder = dict.fromkeys(EMPTY_BUCKET_KEYS, 0.0)
            blocks[name] = {"MR-mAP": placeholder, "MR-R1": placeholder}
    return blocks
