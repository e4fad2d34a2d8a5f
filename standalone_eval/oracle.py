"""A plain-Python implementation of the official evaluator's rules (docs/fidelity.md, 'Evaluation'), one query
at a time.

It is the test oracle for the vectorised evaluator (tests/test_eval_properties.py) and the slow baseline of
scripts/bench_eval.py. It implements the official (compat) semantics for submissions that the official
evaluator can score, and favours being obviously right over being fast. Not used by the evaluator itself.
"""
import math

AP_THRESHOLDS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
R1_THRESHOLDS = [0.3, 0.35, 0.4, 0.45] + AP_THRESHOLDS
BUCKETS = [("short", 0, 10), ("middle", 10, 30), ("long", 30, 150), ("full", 0, 150)]
HL_LEVELS = [("Fair", 2), ("Good", 3), ("VeryGood", 4)]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def percent(fraction: float) -> float:
    return float(f"{100 * fraction:.2f}")


def cross_iou(a, b) -> float:
    """intersection / (len a + len b - intersection); NaN when that union is 0 (`compute_temporal_iou_batch_cross`)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union != 0 else math.nan


def paired_iou(a, b) -> float:
    """intersection / hull; 0 when the hull is 0 (the authors' utils.py `compute_temporal_iou_batch_paired`)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull != 0 else 0.0


def greedy_tp(preds: list, gts: list, threshold: float) -> list:
    """True-positive flags of the predictions (already in score order) at one threshold (the authors' utils.py
    `compute_average_precision_detection`).

    GT windows are visited by descending IoU, NaN first, ties to the higher index (the official
    argsort()[::-1]). Below the threshold: stop, false positive. Taken: try the next one.
    """
    taken = [False] * len(gts)
    flags = []
    for p in preds:
        ious = [cross_iou(p, g) for g in gts]
        order = sorted(range(len(gts)), key=lambda j: (math.inf if math.isnan(ious[j]) else ious[j], j),
                       reverse=True)
        hit = False
        for j in order:
            if ious[j] < threshold:
                break
            if taken[j]:
                continue
            taken[j] = hit = True
            break
        flags.append(hit)
    return flags


def voc_ap(flags: list, n_gt: int) -> float:
    """All-points interpolated AP of a ranked list of true/false positives (`interpolated_precision_recall`)."""
    precision, recall, tp = [], [], 0
    for k, hit in enumerate(flags, 1):
        tp += hit
        precision.append(tp / k)
        recall.append(tp / n_gt)
    precision, recall = [0.0] + precision + [0.0], [0.0] + recall + [1.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum((recall[i] - recall[i - 1]) * precision[i] for i in range(1, len(recall)) if recall[i] != recall[i - 1])


def detection_ap(preds: list, gts: list, thresholds=AP_THRESHOLDS) -> list:
    """AP of one query at each threshold: preds [[start, end, score], ...] as listed, gts [[start, end], ...]."""
    preds = sorted(preds, key=lambda w: -w[2])  # stable: equal scores keep their listed order
    return [voc_ap(greedy_tp(preds, gts, t), len(gts)) for t in thresholds]


def top1_iou(window, gts: list) -> float:
    """Paired IoU of the first listed window with the GT window of highest cross IoU (first on ties / NaN)."""
    ious = [cross_iou(window, g) for g in gts]
    nan = [j for j, x in enumerate(ious) if math.isnan(x)]
    ref = nan[0] if nan else ious.index(max(ious))
    return paired_iou(window, gts[ref])


def tie_aware_ap(pred: list, labels: list) -> float:
    """The authors' utils.py `get_ap` + precision_recall_curve: one point per distinct score, interpolated precision
    averaged over the distinct recall levels > 0; all-negative labels give 0, all-positive 1."""
    if all(x == 0 for x in labels):
        return 0.0
    if all(x == 1 for x in labels):
        return 1.0
    n_pos = sum(labels)
    points = []  # (recall, precision); recall levels k / n_pos are distinct in float32 too (n_pos < 2**24)
    for threshold in sorted(set(pred), reverse=True):
        chosen = [y for s, y in zip(pred, labels) if s >= threshold]
        points.append((sum(chosen) / n_pos, sum(chosen) / len(chosen)))
    levels = sorted({r for r, _ in points if r > 0})
    return mean(max(p for r, p in points if r >= level) for level in levels)


def eval_submission(submission: list, ground_truth: list) -> dict:
    """The official (compat) evaluator for submissions it can score: same layout as standalone_eval.eval."""
    gt = {row["qid"]: row for row in ground_truth}
    pooled, last = {}, {}
    for row in submission:
        pooled.setdefault(row["qid"], []).extend(row.get("pred_relevant_windows", [])[:10])
        last[row["qid"]] = row
    metrics, brief = {}, {}
    if "pred_relevant_windows" in submission[0]:
        for name, lo, hi in BUCKETS:
            in_bucket = {}
            for qid in last:
                windows = gt[qid]["relevant_windows"]
                kept = windows if (lo, hi) == (0, 150) else [w for w in windows if lo < w[1] - w[0] <= hi]
                if kept:
                    in_bucket[qid] = kept
            if not in_bucket:
                zero = {str(float(k)): 0.0 for k in _linspace(0.5, 0.95, 19)}
                zero["average"] = 0.0
                metrics[name] = {"MR-mAP": zero, "MR-R1": zero}
                continue
            aps = [detection_ap(pooled[q], g) for q, g in in_bucket.items()]
            per_thd = [mean(ap[k] for ap in aps) for k in range(len(AP_THRESHOLDS))]
            ious = [top1_iou(last[q]["pred_relevant_windows"][0], g) for q, g in in_bucket.items()]
            metrics[name] = {
                "MR-mIoU": percent(mean(ious)),
                "MR-mAP": {**{str(t): percent(v) for t, v in zip(AP_THRESHOLDS, per_thd)},
                           "average": percent(mean(per_thd))},
                "MR-R1": {str(t): percent(mean(x >= t for x in ious)) for t in R1_THRESHOLDS}}
        full = metrics["full"]
        brief.update(sorted({"MR-full-mAP": full["MR-mAP"]["average"], "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
                             "MR-full-mAP@0.75": full["MR-mAP"]["0.75"], "MR-full-mIoU": full["MR-mIoU"],
                             **{f"MR-{b}-mAP": metrics[b]["MR-mAP"]["average"] for b in ("short", "middle", "long")},
                             **{f"MR-full-R1@{t}": full["MR-R1"][str(t)] for t in (0.3, 0.5, 0.7)}}.items()))
    if "pred_saliency_scores" in submission[0]:
        for name, level in HL_LEVELS:
            aps, hits = [], []
            for qid, row in last.items():
                n = int(gt[qid]["duration"] / 2)
                rater = [[0, 0, 0] for _ in range(n)]
                for clip, scores in zip(gt[qid]["relevant_clip_ids"], gt[qid]["saliency_scores"]):
                    rater[clip] = scores
                raw = row["pred_saliency_scores"]
                fitted = (raw + [0.0] * n)[:n]
                for r in range(3):
                    aps.append(tie_aware_ap(fitted, [float(s[r] >= level) for s in rater]))
                top = raw.index(max(raw))
                hits.append(top < n and any(s >= level for s in rater[top]))
            metrics[f"HL-min-{name}"] = {"HL-mAP": percent(mean(aps)), "HL-Hit1": percent(mean(hits))}
            brief[f"HL-min-{name}-mAP"] = percent(mean(aps))
            brief[f"HL-min-{name}-Hit1"] = percent(mean(hits))
    return {"brief": brief, **dict(sorted(metrics.items()))}


def _linspace(start: float, stop: float, num: int) -> list:
    """numpy.linspace's values: start + i * step, the last one exactly stop."""
    step = (stop - start) / (num - 1)
    return [start + i * step for i in range(num - 1)] + [stop]


def tvsum_ap(pred: list, label: list) -> list:
    """Top-5 trapezoid AP of one video for each annotator (the authors' `compute_hl_results`); equal scores rank in
    clip order."""
    n = len(label)
    pred = pred[:n]
    ranked = sorted(range(len(pred)), key=lambda i: -pred[i])[:5]
    aps = []
    for a in range(len(label[0])):
        column = [row[a] for row in label]
        median = sorted(column)[(n - 1) // 2]
        top = [1.0 if column[i] > median else 0.0 for i in ranked]
        num_gt = sum(top)
        if num_gt == 0:
            aps.append(0.0)
            continue
        hits = ap = rec = 0
        prc = 1
        for j, gt in enumerate(top):
            hits += gt
            _rec, _prc = hits / num_gt, hits / (j + 1)
            ap += (_rec - rec) * (prc + _prc) / 2
            rec, prc = _rec, _prc
        aps.append(ap)
    return aps
