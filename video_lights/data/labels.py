"""Training targets of one annotation row, exactly as the authors' StartEndDataset computes them
(get_saliency_labels_*).

All randomness comes from Python's global `random` module, like the reference, so seeding `random` reproduces
its draws. Nothing here mutates its inputs (the reference shuffled the cached window list in place).
"""
import random

import numpy as np
import torch

from video_lights.utils.spans import span_xx_to_cxw


def span_labels(windows, ctx_l, clip_length, max_windows):
    """Windows [[st, ed], ...] in seconds -> (n, 2) float32 normalised (center, width).

    At most `max_windows` windows (a random subset, drawn like the reference's random.shuffle, but on a copy).
    Normalised by ctx_l * clip_length (the feature length in seconds), not by the duration.
    """
    if len(windows) > max_windows:
        windows = list(windows)
        random.shuffle(windows)
        windows = windows[:max_windows]
    xx = torch.Tensor(windows) / (ctx_l * clip_length)  # (n, 2) normalised (start, end)
    return span_xx_to_cxw(xx)


def saliency_labels_qvhighlights(rel_clip_ids, scores, ctx_l, max_n=1):
    """QVHighlights 3-rater saliency (`get_saliency_labels_all`).

    Returns pos (2,) [hard, easy], neg (2,) [hard, easy] clip indices and the length-ctx_l float64 array of
    summed rater scores (0..12) at the relevant clips. Relevant ids >= ctx_l (features shorter than the
    annotation) are dropped from the array; the reference grew the array by one there, which gave saliency labels
    longer than the video features.
    """
    agg = np.sum(np.array(scores), 1)  # (#rel,)
    order = np.argsort(agg)  # increasing; ties resolved like the reference (same numpy call)
    score_array = np.zeros(ctx_l)
    for cid, a in zip(rel_clip_ids, agg):
        if cid < ctx_l:
            score_array[cid] = a
    hard_pos = [min(rel_clip_ids[i], ctx_l - 1) for i in order[-max_n:]]
    hard_neg = [min(rel_clip_ids[i], ctx_l - 1) for i in order[:max_n]]
    easy_neg_pool = list(set(range(ctx_l)) - set(rel_clip_ids))
    if len(easy_neg_pool) >= max_n:
        easy_pos = random.sample(rel_clip_ids, k=max_n)
        easy_neg = random.sample(easy_neg_pool, k=max_n)
    else:  # no non-relevant clip: copy the hard pair
        easy_pos, easy_neg = hard_pos, hard_neg
    return hard_pos + easy_pos, hard_neg + easy_neg, score_array


def saliency_labels_window(window, duration, ctx_l, max_n=2):
    """Binary saliency from one window (`get_saliency_labels_sub_as_query`): Charades-STA, TACoS, pretraining, ASR.

    Returns pos (2,), neg (2,) random clip indices inside / outside the window and a 0/1 array of length ctx_l.
    """
    clip_len = duration / ctx_l
    gt_st = int(window[0] / clip_len)
    gt_ed = max(0, min(int(window[1] / clip_len), ctx_l) - 1)
    if gt_st > gt_ed:
        gt_st = gt_ed
    if gt_st != gt_ed:
        pos = random.sample(range(gt_st, gt_ed + 1), k=max_n)
    else:
        pos = [gt_st, gt_st]
    neg_pool = list(range(0, gt_st)) + list(range(gt_ed + 1, ctx_l))
    neg = random.sample(neg_pool, k=max_n) if len(neg_pool) >= max_n else pos
    score_array = np.zeros(ctx_l)
    score_array[gt_st:gt_ed + 1] = 1
    return pos, neg, score_array


def saliency_labels_tvsum(label, ctx_l, max_n=1):
    """TVSum (`get_saliency_labels_all_tvsum`): label (#clips, 20) scores 1..5.

    agg = sum over annotators of (score - 1), cut / zero-padded to ctx_l (0..80); labels = agg / 80 * 12.
    Returns pos [argmax], neg [argmin] (one each) and the label array.
    """
    label = np.asarray(label, dtype=np.float64)
    agg = np.sum(label - np.ones_like(label), axis=-1)[:ctx_l]
    order = np.argsort(agg)
    score = np.zeros(ctx_l)
    score[:len(agg)] = agg
    pos = [min(int(i), ctx_l - 1) for i in order[-max_n:]]
    neg = [min(int(i), ctx_l - 1) for i in order[:max_n]]
    return pos, neg, score / 80 * 12


def saliency_labels_youtube(label, ctx_l):
    """YouTube Highlights: label (#clips, 1) binary. Returns pos [argmax], neg [argmin] and the 0/1 array cut /
    zero-padded to ctx_l."""
    agg = np.asarray(label, dtype=np.float64)[:ctx_l, 0]
    order = np.argsort(agg)
    score = np.zeros(ctx_l)
    score[:len(agg)] = agg
    return [min(int(order[-1]), ctx_l - 1)], [min(int(order[0]), ctx_l - 1)], score


def saliency_labels(kind, row, ctx_l):
    """(pos, neg, saliency_all_labels) of one row for its spec's label kind (see data/specs.py)."""
    if kind == "qvhighlights":
        return saliency_labels_qvhighlights(row["relevant_clip_ids"], row["saliency_scores"], ctx_l)
    if kind == "window":
        return saliency_labels_window(row["relevant_windows"][0], row["duration"], ctx_l)
    if kind == "tvsum":
        return saliency_labels_tvsum(row["label"], ctx_l)
    return saliency_labels_youtube(row["label"], ctx_l)
