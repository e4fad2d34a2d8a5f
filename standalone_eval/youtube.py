"""YouTube Highlights mAP per domain (the authors' video_lights/inference.py `compute_hl_results`, dset_name
youtube_uni, from QD-DETR / UMT).

Per video: the predicted saliency, truncated to the video's clips, ranks the clips (standalone_eval/ranking.py:
ties in clip order); the binary label column in that order gives the trapezoid AP over the whole ranked list (no
top-5 cut, no median). num_gt = the positives among the ranked clips: all of the video's positives when the
prediction covers every clip, as strict scoring requires. A domain's mAP is the mean AP of its videos.
"""
import numpy as np

from standalone_eval.ranking import per_domain_result, rank_clips, saliency_by_qid, trapezoid_ap
from standalone_eval.submission import Offenders, SubmissionError


def video_ap(pred: np.ndarray, label: np.ndarray) -> float:
    """Full-list trapezoid AP of one video; NaN when none of its ranked clips is positive.

    Args:
        pred: [L] predicted clip scores (truncated to the C clips; a shorter list leaves clips unranked).
        label: [C] 0/1 highlight labels.
    """
    ap, _ = trapezoid_ap(label[rank_clips(pred, len(label))])
    return float(ap)


def check_binary_labels(ground_truth: list) -> None:
    """Every GT row needs a non-empty `label` of one 0/1 value per clip ([[0], [1], ...])."""
    bad = Offenders()
    for i, row in enumerate(ground_truth):
        try:
            label = np.asarray(row.get("label"), dtype=float)
        except (TypeError, ValueError):
            label = np.zeros((0, 0))
        if label.ndim != 2 or label.shape[0] == 0 or label.shape[1] != 1 or not np.isin(label, (0, 1)).all():
            bad.add("ground truth: 'label' is not one 0/1 value per clip ([[0], [1], ...])", i, row.get("qid"))
    bad.raise_first()


def eval_youtube(submission: list, ground_truth: list, compat: bool = False) -> dict:
    """Score YouTube Highlights saliency predictions, one domain or several (e.g. the whole youtube_valid.jsonl).

    Args:
        submission: rows {"qid": <video id as in the GT>, "pred_saliency_scores": [float per clip]};
            other keys are ignored. Strict: one row per GT video and one score per clip; compat: any length.
        ground_truth: rows of youtube_*.jsonl ({"qid", "domain", "label": [[0 or 1] per clip]}).
    Returns:
        {"brief": {"mAP": m}, "<domain>": {"mAP": d}, ...} on the [0, 1] scale, 5 decimals, as eval_tvsum;
        "brief" is the mean of the unrounded domain values.
    Raises:
        SubmissionError, as eval_submission; also when every video of a domain lacks positives (its mAP is
        undefined: the reference averages an empty list into NaN).
    """
    check_binary_labels(ground_truth)
    pred_by_qid = saliency_by_qid(submission, ground_truth, compat)
    per_domain = {}
    for row in ground_truth:
        ap = video_ap(np.array(pred_by_qid[row["qid"]]), np.array(row["label"], dtype=float)[:, 0])
        aps = per_domain.setdefault(row.get("domain"), [])
        if not np.isnan(ap):  # the reference's bug, reproduced: a video without positives is dropped, not scored 0
            aps.append(ap)
    empty = sorted(str(d) for d, aps in per_domain.items() if not aps)
    if empty:
        raise SubmissionError(f"ground truth: no video of domain(s) {', '.join(empty)} has a positive clip, so their "
                              f"mAP is undefined")
    return per_domain_result(per_domain)
