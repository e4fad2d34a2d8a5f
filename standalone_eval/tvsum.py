"""TVSum top-5 mAP per domain (the authors' video_lights/inference.py `compute_hl_results`, UMT's protocol).

Clips rank as in standalone_eval/ranking.py (ties in clip order, the reference's torch.argsort is not stable).
"""
import numpy as np

from standalone_eval.ranking import per_domain_result, rank_clips, saliency_by_qid, trapezoid_ap

TOP_K = 5


def lower_median(label: np.ndarray) -> np.ndarray:
    """torch.median along clips: the lower of the two middle values for an even count. [C, A] -> [A]."""
    return np.sort(label, 0)[(len(label) - 1) // 2]


def top5_ap(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Trapezoid AP over the 5 top-ranked clips, for each annotator of one video.

    Args:
        pred: [L] predicted clip scores; truncated to the C clips, a shorter list leaves clips unranked.
        label: [C, A] annotator scores (1-5).
    Returns:
        [A] AP in [0, 1]; 0 where no top-5 clip is positive (score > the annotator's lower median).
    """
    rank = rank_clips(pred, len(label))[:TOP_K]
    hit = (label > lower_median(label))[rank]  # [k, A]
    ap, num_gt = trapezoid_ap(hit)  # num_gt: positives among the top 5, not in the video
    return np.where(num_gt == 0, 0.0, ap)


def eval_tvsum(submission: list, ground_truth: list, compat: bool = False) -> dict:
    """Score TVSum saliency predictions, one domain or several (e.g. the whole tvsum_val.jsonl).

    Args:
        submission: rows {"qid": <video id as in the GT>, "pred_saliency_scores": [float per clip]};
            other keys are ignored. Strict: one row per GT video and one score per clip; compat: any length.
        ground_truth: rows of tvsum_*.jsonl ({"qid", "domain", "label": [#clips x 20]}).
    Returns:
        {"brief": {"mAP": m}, "<domain>": {"mAP": d}, ...} on the [0, 1] scale, 5 decimals. A domain's
        value is the mean over its videos x 20 annotators (VideoLights's `{"brief": {"mAP": x}}` when the
        GT holds one domain); "brief" is the mean of the unrounded domain values ("Avg." in papers).
    Raises:
        SubmissionError, as eval_submission.
    """
    pred_by_qid = saliency_by_qid(submission, ground_truth, compat)
    per_domain = {}
    for row in ground_truth:
        ap = top5_ap(np.array(pred_by_qid[row["qid"]]), np.array(row["label"], dtype=float))
        per_domain.setdefault(row.get("domain"), []).append(ap)
    return per_domain_result(per_domain)
