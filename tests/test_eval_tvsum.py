"""TVSum top-5 mAP per domain (docs/fidelity.md, 'Evaluation') on the real val file, the importable function and
the CLI."""
import json

import numpy as np
import pytest

from standalone_eval import oracle
from standalone_eval.eval import main
from standalone_eval.submission import SubmissionError, read_jsonl
from standalone_eval.tvsum import eval_tvsum


@pytest.fixture(scope="module")
def tvsum_val(shared_data):
    return read_jsonl(shared_data / "tvsum" / "tvsum_val.jsonl")


def annotator_mean(gt):
    return [{"qid": r["qid"], "pred_saliency_scores": np.mean(r["label"], 1).tolist()} for r in gt]


def test_annotator_mean_reference_value(tvsum_val):
    """Predicting the mean of the 20 annotators averages 84.35 over the 10 domains, as the authors'
    `compute_hl_results` scores it."""
    result = eval_tvsum(annotator_mean(tvsum_val), tvsum_val)
    domains = sorted({r["domain"] for r in tvsum_val})
    assert list(result) == ["brief"] + domains
    assert round(100 * result["brief"]["mAP"], 2) == 84.35
    for row in tvsum_val:
        expected = np.mean(oracle.tvsum_ap(np.mean(row["label"], 1).tolist(), row["label"]))
        assert result[row["domain"]]["mAP"] == float(round(expected, 5))


def test_one_domain_is_videolights_brief(tvsum_val):
    gt = [r for r in tvsum_val if r["domain"] == "BK"]
    result = eval_tvsum(annotator_mean(gt), gt)
    assert result == {"brief": {"mAP": result["BK"]["mAP"]}, "BK": {"mAP": 0.91024}}


def test_random_predictions_score_near_chance(tvsum_val):
    rng = np.random.default_rng(0)
    sub = [{"qid": r["qid"], "pred_saliency_scores": rng.random(len(r["label"])).tolist()} for r in tvsum_val]
    assert 0.30 < eval_tvsum(sub, tvsum_val)["brief"]["mAP"] < 0.45  # random scores get about 36-41


def test_strict_length_and_compat(tvsum_val):
    gt = tvsum_val[:2]
    sub = annotator_mean(gt)
    sub[1]["pred_saliency_scores"] = sub[1]["pred_saliency_scores"][:-3]
    with pytest.raises(SubmissionError, match="line 2 .*scores for"):
        eval_tvsum(sub, gt)
    with pytest.warns(UserWarning):
        compat = eval_tvsum(sub, gt, compat=True)  # the 3 last clips are never ranked
    expected = np.mean(oracle.tvsum_ap(sub[1]["pred_saliency_scores"], gt[1]["label"]))
    assert compat[gt[1]["domain"]]["mAP"] == float(round(expected, 5))


def test_cli_tvsum(tvsum_val, shared_data, tmp_path, capsys):
    sub_path = tmp_path / "tvsum_preds.jsonl"
    sub_path.write_text("\n".join(json.dumps(r) for r in annotator_mean(tvsum_val)))
    out = tmp_path / "tvsum_metrics.json"
    gt_path = str(shared_data / "tvsum" / "tvsum_val.jsonl")
    code = main(["--tvsum", "--submission_path", str(sub_path), "--gt_path", gt_path,
                 "--save_path", str(out), "--not_verbose"])
    assert code == 0 and json.loads(out.read_text()) == eval_tvsum(annotator_mean(tvsum_val), tvsum_val)
    code = main(["--submission_path", str(sub_path), "--gt_path", gt_path,
                 "--save_path", str(tmp_path / "x.json"), "--not_verbose"])
    assert code == 2 and "add --tvsum" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
