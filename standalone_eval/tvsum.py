"""TVSum top-5 mAP per domain (the authors' video_lights/inference.py `compute_hl_results`, UMT's protocol).

Ranking ties: the reference ranks clips with torch.argsort(descending=True), which is not stable, so its
numbers depend on torch's CPU sort when predicted scores tie. This numpy-only scorer breaks ties
deterministically: equal scores rank in clip order (numpy stable sort of the negated scores). Without
ties both agree exactly.
"""
import numpy as np

from standalone_eval.submission import (SALIENCY, Offenders, check_ground_truth, check_saliency,
                                        select_rows)

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
    rank = np.argsort(-pred[:len(label)], kind="stable")[:TOP_K]  # descending score, ties in clip order
    hit = (label > lower_median(label))[rank].astype(float)  # [k, A]
    num_gt = hit.sum(0)  # positives among the top 5, not in the video
    hits, ap, rec, prc = np.zeros(label.shape[1]), 0.0, 0.0, 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(len(rank)):
            hits = hits + hit[j]
            _rec, _prc = hits / num_gt, hits / (j + 1)
            ap = ap + (_rec - rec) * (prc + _prc) / 2  # the previous precision moves on at misses too
            rec, prc = _rec, _prc
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
    check_ground_truth(ground_truth)
    submission, ground_truth = select_rows(submission, ground_truth, match_number=True, compat=compat)
    lacking = Offenders()
    for i, row in enumerate(submission):
        if SALIENCY not in row:
            lacking.add(f"no '{SALIENCY}'", i, row["qid"])
    lacking.raise_first()
    gt_by_qid = {r["qid"]: r for r in ground_truth}
    scores = check_saliency(submission, [len(gt_by_qid[r["qid"]]["label"]) for r in submission], compat)
    pred_by_qid = dict(zip((r["qid"] for r in submission), scores))  # compat duplicates: the last row wins
    per_domain = {}
    for row in ground_truth:
        ap = top5_ap(np.array(pred_by_qid[row["qid"]]), np.array(row["label"], dtype=float))
        per_domain.setdefault(row.get("domain"), []).append(ap)
    domain_map = {d: np.mean(aps) for d, aps in sorted(per_domain.items(), key=lambda item: str(item[0]))}
    return {"brief": {"mAP": _round5(np.mean(list(domain_map.values())))},
            **{str(d): {"mAP": _round5(m)} for d, m in domain_map.items()}}


def _round5(x: np.float64) -> float:
    """The reference's round(np.mean(...), 5): numpy's rounding of a float64 (scale, rint, unscale)."""
    return float(round(np.float64(x), 5))
