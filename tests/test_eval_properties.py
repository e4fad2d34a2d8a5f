"""Property tests: the vectorised IoU / AP code against the plain-Python implementation of the official rules in
standalone_eval/oracle.py, on small random inputs full of ties, inverted windows and padding."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standalone_eval import oracle
from standalone_eval.eval import eval_submission
from standalone_eval.highlight import tie_aware_ap
from standalone_eval.iou import cross_iou, paired_iou
from standalone_eval.moment_retrieval import AP_THRESHOLDS, R1_THRESHOLDS, Predictions, mr_ap, pack_gt_windows, top1_iou
from standalone_eval.tvsum import top5_ap

SETTINGS = settings(max_examples=150, deadline=None)

grid = st.integers(0, 20).map(lambda x: 2.0 * x)  # a coarse grid makes equal IoUs and equal lengths common
window = st.tuples(grid, grid).map(list)  # may be inverted or empty
proper_window = st.tuples(st.integers(0, 19), st.integers(1, 8)).map(lambda t: [2.0 * t[0], 2.0 * min(20, sum(t))])
score = st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0])  # ties


@SETTINGS
@given(st.lists(window, min_size=1, max_size=6), st.lists(window, min_size=1, max_size=6))
def test_iou_matches_spec(a, b):
    expected = [[oracle.cross_iou(x, y) for y in b] for x in a]
    np.testing.assert_array_equal(cross_iou(np.array(a), np.array(b)), np.array(expected))  # NaN == NaN here
    pairs = list(zip(a, b))
    np.testing.assert_array_equal(paired_iou(np.array([p for p, _ in pairs]), np.array([g for _, g in pairs])),
                                  np.array([oracle.paired_iou(p, g) for p, g in pairs]))


query = st.tuples(st.lists(st.tuples(grid, grid, score).map(list), min_size=1, max_size=12),  # predictions
                  st.lists(proper_window, min_size=1, max_size=7))  # GT windows
queries = st.lists(query, min_size=1, max_size=8)


@SETTINGS
@given(queries)
def test_mr_ap_and_top1_match_spec(qs):
    row_qids = list(range(len(qs)))
    qids, preds = Predictions.pack(row_qids, [p for p, _ in qs])
    gt = pack_gt_windows(qids, {q: {"relevant_windows": g} for q, (_, g) in enumerate(qs)})
    mask = ~np.isnan(gt[..., 0])
    expected = [oracle.detection_ap(p[:10], g) for p, g in qs]
    np.testing.assert_allclose(mr_ap(preds, gt, mask), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(top1_iou(preds.top1, gt, mask), [oracle.top1_iou(p[0], g) for p, g in qs])


def test_voc_ap_hand_example():
    # TP, FP, TP against 2 GT windows: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> 1/2 * 1 + 1/2 * 2/3
    preds = [[0, 10, 0.9], [20, 30, 0.8], [40, 50, 0.7]]
    gts = [[0, 10], [40, 50]]
    assert oracle.detection_ap(preds, gts)[0] == pytest.approx(0.5 + 1 / 3)
    qids, packed = Predictions.pack([0], [preds])
    gt = pack_gt_windows(qids, {0: {"relevant_windows": gts}})
    assert mr_ap(packed, gt, ~np.isnan(gt[..., 0]))[0, 0] == pytest.approx(0.5 + 1 / 3)


def test_greedy_matching_passes_a_taken_window_on():
    # both predictions overlap GT 0 best; the second falls back to GT 1 (IoU 0.6) up to threshold 0.6
    preds = [[0, 10, 0.9], [0, 10, 0.8]]
    gts = [[0, 10], [0, 6]]
    assert oracle.detection_ap(preds, gts)[:4] == [1.0, 1.0, 1.0, 0.5]
    qids, packed = Predictions.pack([0], [preds])
    gt = pack_gt_windows(qids, {0: {"relevant_windows": gts}})
    np.testing.assert_array_equal(mr_ap(packed, gt, ~np.isnan(gt[..., 0]))[0, :4], [1.0, 1.0, 1.0, 0.5])


labelled_scores = st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0]), min_size=n, max_size=n),  # heavy ties
    st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=3, max_size=3), min_size=n, max_size=n)))


@SETTINGS
@given(st.lists(labelled_scores, min_size=1, max_size=5))
def test_tie_aware_ap_matches_spec(batch):
    n_max = max(len(p) for p, _ in batch)
    pred = np.zeros((len(batch), n_max))
    labels = np.zeros((len(batch), n_max, 3))
    valid = np.zeros((len(batch), n_max), bool)
    for i, (p, y) in enumerate(batch):
        pred[i, :len(p)], labels[i, :len(p)], valid[i, :len(p)] = p, y, True
    expected = [[oracle.tie_aware_ap(p, [row[c] for row in y]) for c in range(3)] for p, y in batch]
    np.testing.assert_allclose(tie_aware_ap(pred, labels, valid), expected, rtol=1e-12)


def test_tie_aware_ap_hand_examples():
    one = np.ones((1, 4), bool)
    # a constant prediction scores the positive rate
    assert tie_aware_ap(np.zeros((1, 4)), np.array([[[1.0], [0.0], [0.0], [1.0]]]), one)[0, 0] == 0.5
    # without ties it is the usual AP: positives at ranks 1 and 3 -> (1 + 2/3) / 2
    assert tie_aware_ap(np.array([[4.0, 3.0, 2.0, 1.0]]), np.array([[[1.0], [0.0], [1.0], [0.0]]]), one)[0, 0] == \
        pytest.approx(5 / 6)
    # all-negative columns score 0, all-positive 1, without ranking
    np.testing.assert_array_equal(tie_aware_ap(np.array([[4.0, 3.0, 2.0, 1.0]]), np.array([[[0.0, 1.0]] * 4]), one),
                                  [[0.0, 1.0]])


tvsum_video = st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=1, max_size=n + 2),  # any length, ties
    st.lists(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0]), min_size=4, max_size=4), min_size=n, max_size=n)))


@SETTINGS
@given(tvsum_video)
def test_tvsum_top5_ap_matches_spec(video):
    pred, label = video
    assert top5_ap(np.array(pred), np.array(label)).tolist() == oracle.tvsum_ap(pred, label)


@pytest.mark.parametrize("hits,ap", [([1, 0, 0, 0, 0], 1.0), ([0, 1, 0, 0, 0], 0.25), ([0, 0, 0, 0, 1], 0.1)])
def test_tvsum_trapezoid_examples(hits, ap):
    """The authors' `compute_hl_results` trapezoid AP: one annotator whose top-5 labels are `hits` (positive = above
    the lower median 1)."""
    label = np.array([[1.0 + 4 * h] for h in hits] + [[1.0]] * 6)  # 11 clips, median 1
    pred = np.arange(11, 0, -1, dtype=float)  # rank in clip order
    assert top5_ap(pred, label)[0] == pytest.approx(ap)


def qvh_gt(windows_per_query: list) -> list:
    rows = []
    for i, windows in enumerate(windows_per_query):
        clips = sorted({c for s, e in windows for c in range(int(s) // 2, int(e) // 2)})
        rows.append({"qid": i, "duration": 40, "relevant_windows": windows, "relevant_clip_ids": clips,
                     "saliency_scores": [[(c * 7 + k) % 5 for k in range(3)] for c in clips]})
    return rows


full_query = st.tuples(st.lists(st.tuples(grid, grid, score).map(list), min_size=1, max_size=12),
                       st.lists(proper_window, min_size=1, max_size=4),
                       st.lists(st.sampled_from([0.0, 0.5, 1.0, -2.0]), min_size=1, max_size=24),
                       st.booleans())  # a duplicate row


@settings(max_examples=60, deadline=None)
@given(st.lists(full_query, min_size=1, max_size=6))
def test_whole_evaluation_matches_spec(qs):
    """eval_submission (compat, so inverted windows, duplicates and any saliency length are in play) against
    the plain-Python oracle, on every key. Values may differ by one rounding step (0.01) because the two
    add floats in different orders; in practice they are equal."""
    gt = qvh_gt([g for _, g, _, _ in qs])
    sub = []
    for i, (p, _, s, dup) in enumerate(qs):
        sub.append({"qid": i, "pred_relevant_windows": p, "pred_saliency_scores": s})
        if dup:
            sub.append({"qid": i, "pred_relevant_windows": p[::-1], "pred_saliency_scores": s[::-1]})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = eval_submission(sub, gt, verbose=False, compat=True)
    expected = oracle.eval_submission(sub, gt)
    assert list(result) == list(expected) and list(result["brief"]) == list(expected["brief"])
    flat = lambda d, p="": {k2: v2 for k, v in d.items() for k2, v2 in  # noqa: E731
                            (flat(v, f"{p}{k}/") if isinstance(v, dict) else {f"{p}{k}": v}).items()}
    got, want = flat(result), flat(expected)
    assert got.keys() == want.keys()
    assert all(math.isclose(got[k], want[k], abs_tol=0.0100001) for k in want)


def test_threshold_keys():
    assert [str(t) for t in AP_THRESHOLDS] == ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9",
                                               "0.95"]
    assert [str(t) for t in R1_THRESHOLDS][:4] == ["0.3", "0.35", "0.4", "0.45"] and len(R1_THRESHOLDS) == 14
