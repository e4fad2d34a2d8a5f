"""What the TVSum and YouTube Highlights scorers share (the authors' video_lights/inference.py
`compute_hl_results`, after UMT): ranking the clips of a video by predicted score, the trapezoid AP of the ranked
binary labels, the saliency rows of a submission, and the per-domain layout of the result.

Ranking ties: the reference ranks clips with torch.argsort(descending=True), which is not stable, so its numbers
depend on torch's CPU sort when predicted scores tie. This numpy-only scorer breaks ties deterministically: equal
scores rank in clip order (numpy stable sort of the negated scores). Without ties both agree exactly.
"""
import numpy as np

from standalone_eval.submission import SALIENCY, Offenders, check_ground_truth, check_saliency, select_rows


def rank_clips(pred: np.ndarray, n_clips: int) -> np.ndarray:
    """Clip indices by descending score of pred truncated to n_clips (a shorter pred leaves clips unranked)."""
    return np.argsort(-np.asarray(pred, dtype=float)[:n_clips], kind="stable")  # ties in clip order


def trapezoid_ap(hit: np.ndarray) -> tuple:
    """The reference's AP of binary labels in rank order, over the whole given list.

    Start with recall 0 and previous precision 1; at rank j: hits += label, r = hits / num_gt, p = hits / j,
    ap += (r - r_prev) * (p_prev + p) / 2, then r_prev, p_prev = r, p (the previous precision moves on at misses
    too). num_gt = the positives of the list.

    Args:
        hit: [k] or [k, A] 0/1 labels of the ranked clips (A annotators scored at once).
    Returns:
        (ap, num_gt): scalars or [A]; ap is NaN where num_gt is 0 (each scorer decides what that means).
    """
    hit = np.asarray(hit, dtype=float)
    num_gt = hit.sum(0)
    hits, ap, rec, prc = np.zeros(hit.shape[1:]), 0.0, 0.0, 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(len(hit)):
            hits = hits + hit[j]
            _rec, _prc = hits / num_gt, hits / (j + 1)
            ap = ap + (_rec - rec) * (prc + _prc) / 2
            rec, prc = _rec, _prc
    return np.where(num_gt == 0, np.nan, ap), num_gt


def saliency_by_qid(submission: list, ground_truth: list, compat: bool) -> dict:
    """{qid: [float per clip]} of a submission checked against ground-truth rows that carry `label`
    ([#clips x columns]). Strict: one row per GT video, one score per clip; compat: any length.
    Raises SubmissionError naming the first offending lines and qids."""
    check_ground_truth(ground_truth)
    submission, ground_truth = select_rows(submission, ground_truth, match_number=True, compat=compat)
    lacking = Offenders()
    for i, row in enumerate(submission):
        if SALIENCY not in row:
            lacking.add(f"no '{SALIENCY}'", i, row["qid"])
    lacking.raise_first()
    gt_by_qid = {r["qid"]: r for r in ground_truth}
    scores = check_saliency(submission, [len(gt_by_qid[r["qid"]]["label"]) for r in submission], compat)
    return dict(zip((r["qid"] for r in submission), scores))  # compat duplicates: the last row wins


def per_domain_result(per_domain: dict) -> dict:
    """{domain: [AP values]} -> {"brief": {"mAP": m}, "<domain>": {"mAP": d}, ...}, [0, 1] scale, 5 decimals.

    A domain's value is the mean of its AP values (VideoLights's `{"brief": {"mAP": x}}` when the ground truth
    holds one domain); "brief" is the mean of the unrounded domain values ("Avg." in papers). Domains are sorted
    by name."""
    domain_map = {d: np.mean(aps) for d, aps in sorted(per_domain.items(), key=lambda item: str(item[0]))}
    return {"brief": {"mAP": round5(np.mean(list(domain_map.values())))},
            **{str(d): {"mAP": round5(m)} for d, m in domain_map.items()}}


def round5(x: np.float64) -> float:
    """The reference's round(np.mean(...), 5): numpy's rounding of a float64 (scale, rint, unscale)."""
    return float(round(np.float64(x), 5))
