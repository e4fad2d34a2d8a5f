"""Exactness: every key of every reference submission's metrics.json, bit for bit."""
import json
import warnings

import pytest

from standalone_eval.eval import eval_submission
from standalone_eval.submission import read_jsonl

REFERENCES = {  # folder: (prediction file, GT file)
    "moment_detr_sample": ("sample_val_preds.jsonl.gz", "highlight_val_release.jsonl"),
    "qvh_val_qddetr_best": ("preds.jsonl.gz", "highlight_val_release.jsonl"),
    "qvh_val_cgdetr_best": ("preds.jsonl.gz", "highlight_val_release.jsonl"),
    "qvh_test_cgdetr_submission": ("preds.jsonl.gz", "highlight_test_with_gt.jsonl"),
    "qvh_test_trdetr_submission": ("preds.jsonl.gz", "highlight_test_with_gt.jsonl"),
}


@pytest.fixture(scope="module")
def load(shared_data):
    cache = {}

    def get(path):
        if path not in cache:
            cache[path] = read_jsonl(shared_data / path)
        return cache[path]
    return get


def flatten(metrics: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in metrics.items():
        out.update(flatten(value, f"{prefix}{key}/") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize("compat", [False, True], ids=["strict", "compat"])
@pytest.mark.parametrize("folder", REFERENCES)
def test_reference_metrics_reproduced_exactly(folder, compat, load, shared_data):
    preds, gt = REFERENCES[folder]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 13-17 one-clip-short saliency lists, a few windows past the video end
        result = eval_submission(load(f"reference_submissions/{folder}/{preds}"), load(f"qvhighlights/{gt}"),
                                 verbose=False, compat=compat)
    text = (shared_data / "reference_submissions" / folder / "metrics.json").read_text()
    expected = json.loads(text)
    assert flatten(result) == flatten(expected)  # every key, every value
    assert json.dumps(result, indent=4) == text.strip()  # and the file layout: key order, 4-space indent
    # the original Moment-DETR evaluator's keys are a subset with identical values
    moment_detr = flatten(json.loads((shared_data / "reference_submissions" / folder / "metrics_moment_detr.json")
                                     .read_text()))
    assert {k: flatten(result)[k] for k in moment_detr} == moment_detr


def test_published_test_numbers(load):
    """The CG-DETR and TR-DETR papers' Codalab test numbers (reference_submissions/README.md)."""
    gt = load("qvhighlights/highlight_test_with_gt.jsonl")
    columns = ["MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1"]
    for folder, published in [("qvh_test_cgdetr_submission", [65.43, 48.38, 42.86, 40.33, 66.21]),
                              ("qvh_test_trdetr_submission", [64.66, 48.96, 42.62, 39.91, 63.42])]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            brief = eval_submission(load(f"reference_submissions/{folder}/preds.jsonl.gz"), gt, verbose=False)["brief"]
        assert [brief[c] for c in columns] == published


def test_swapped_gt_windows(load):
    """The official NaN-IoU bug (docs/fidelity.md, 'Evaluation'): an inverted window of a GT window's length
    has NaN cross IoU, which the official evaluator counts as a match at every threshold. A file of exactly
    swapped GT windows therefore gets the same mAP as the GT itself under --compat while every R1 / mIoU is 0;
    strict mode refuses it."""
    from standalone_eval.submission import SubmissionError
    gt = load("qvhighlights/highlight_val_release.jsonl")
    swapped = [{"qid": r["qid"], "pred_relevant_windows": [[e, s, 1.0] for s, e in r["relevant_windows"]]}
               for r in gt]
    with pytest.raises(SubmissionError, match="start > end"):
        eval_submission(swapped, gt, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = eval_submission(swapped, gt, verbose=False, compat=True)
    assert result["brief"]["MR-full-mAP"] == 99.76
    assert result["full"]["MR-mIoU"] == 0 and set(result["full"]["MR-R1"].values()) == {0.0}


def test_oracle_upper_bound(load):
    """The GT itself (first 10 windows) scores 99.76 on val, since a few queries have > 10 windows and the authors'
    eval.py `compute_mr_ap` scores 10 predictions per query."""
    gt = load("qvhighlights/highlight_val_release.jsonl")
    oracle_sub = [{"qid": r["qid"], "pred_relevant_windows": [w + [1.0] for w in r["relevant_windows"]][:10]}
                  for r in gt]
    assert eval_submission(oracle_sub, gt, verbose=False)["brief"]["MR-full-mAP"] == 99.76


def test_charades_empty_long_bucket(load):
    """No Charades-STA test window is longer than 30 s, so "long" is the authors' `eval_moment_retrieval`
    zero-filled placeholder:
    19 raw linspace keys + "average", the same dict for MR-mAP and MR-R1, no MR-mIoU."""
    from standalone_eval import oracle
    gt = load("charades_sta/charades_sta_test_tvr_format.jsonl")
    sub = [{"qid": r["qid"], "pred_relevant_windows": [[max(0.0, s - 1), e + 0.5, 0.9], [0.0, r["duration"], 0.2]]}
           for r in gt for s, e in r["relevant_windows"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # windows past the video end
        result = eval_submission(sub, gt, verbose=False)
    assert list(result) == ["brief", "full", "long", "middle", "short"]
    assert list(result["long"]) == ["MR-mAP", "MR-R1"] and result["long"]["MR-mAP"] == result["long"]["MR-R1"]
    assert list(result["long"]["MR-mAP"])[:3] == ["0.5", "0.525", "0.55"]
    assert "0.7749999999999999" in result["long"]["MR-mAP"] and len(result["long"]["MR-mAP"]) == 20
    assert set(result["long"]["MR-mAP"].values()) == {0.0} and result["brief"]["MR-long-mAP"] == 0.0
    assert list(result["brief"]) == ["MR-full-R1@0.3", "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP",
                                     "MR-full-mAP@0.5", "MR-full-mAP@0.75", "MR-full-mIoU", "MR-long-mAP",
                                     "MR-middle-mAP", "MR-short-mAP"]
    assert result == oracle.eval_submission(sub, gt)
