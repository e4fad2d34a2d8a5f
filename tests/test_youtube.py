"""YouTube Highlights (the authors' youtube_uni): the evaluator against a literal torch transcription of the
authors' scoring loop on the real valid file, its drop-the-video-without-positives bug, strict input checks and the
CLI; then one model per domain trained and scored end to end on the real annotation files with small random
features, the launcher and the mean-and-std report over seeds."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL
from random_features import write_random_features
from standalone_eval.eval import main as eval_main
from standalone_eval.submission import SubmissionError, read_jsonl
from standalone_eval.youtube import eval_youtube

REPO = Path(__file__).resolve().parents[1]
DOMAINS = ("dog", "gymnastics", "parkour", "skating", "skiing", "surfing")


@pytest.fixture(scope="module")
def youtube_valid(shared_data):
    return read_jsonl(shared_data / "youtube_uni" / "youtube_valid.jsonl")


def authors_map(submission, ground_truth):
    """The authors' compute_hl_results for dset_name youtube_uni, transcribed with torch (argsort and all):
    {domain: mAP} on the [0, 1] scale, rounded to 5 decimals like their round(np.mean(...), 5)."""
    pred_by_qid = {r["qid"]: torch.tensor(r["pred_saliency_scores"]) for r in submission}
    collected = {}
    for meta in ground_truth:
        label = meta["label"]
        cur_pred = pred_by_qid[meta["qid"]][:len(label)]
        inds = torch.argsort(cur_pred, descending=True, dim=-1)
        cur_label = torch.Tensor(label).squeeze()[inds].tolist()
        num_gt = sum(cur_label)
        if num_gt == 0:
            continue  # their `continue` skips the append: the video is dropped
        hits = ap = rec = 0
        prc = 1
        for j, gt in enumerate(cur_label):
            hits += gt
            _rec = hits / num_gt
            _prc = hits / (j + 1)
            ap += (_rec - rec) * (prc + _prc) / 2
            rec, prc = _rec, _prc
        collected.setdefault(meta["domain"], []).append([float(ap)])
    return {d: round(float(np.mean(v)), 5) for d, v in collected.items()}


def random_submission(gt, seed=0):
    rng = np.random.default_rng(seed)  # continuous scores: no ties, so any sort agrees
    return [{"qid": r["qid"], "pred_saliency_scores": rng.random(len(r["label"])).tolist()} for r in gt]


def test_matches_the_authors_loop_on_the_real_valid_file(youtube_valid):
    for seed in range(3):
        sub = random_submission(youtube_valid, seed)
        result = eval_youtube(sub, youtube_valid)
        expected = authors_map(sub, youtube_valid)
        assert list(result) == ["brief", *DOMAINS]
        assert {d: result[d]["mAP"] for d in DOMAINS} == expected
        assert abs(result["brief"]["mAP"] - np.mean(list(expected.values()))) <= 1e-5  # "Avg." of the domains
    by_domain = [r for r in youtube_valid if r["domain"] == "dog"]
    one = eval_youtube(random_submission(by_domain), by_domain)
    assert one == {"brief": {"mAP": one["dog"]["mAP"]}, "dog": {"mAP": one["dog"]["mAP"]}}


def test_perfect_and_inverted_rankings(youtube_valid):
    perfect = [{"qid": r["qid"], "pred_saliency_scores": [x[0] + 0.001 * i for i, x in enumerate(r["label"])]}
               for r in youtube_valid]
    assert all(v["mAP"] == 1.0 for v in eval_youtube(perfect, youtube_valid).values())
    inverted = [{"qid": r["qid"], "pred_saliency_scores": [-s for s in p["pred_saliency_scores"]]}
                for r, p in zip(youtube_valid, perfect)]
    worst = eval_youtube(inverted, youtube_valid)
    chance = eval_youtube(random_submission(youtube_valid), youtube_valid)
    assert worst["brief"]["mAP"] < chance["brief"]["mAP"] < 1.0
    positives = np.mean([np.mean(np.array(r["label"])[:, 0]) for r in youtube_valid])
    assert abs(chance["brief"]["mAP"] - positives) < 0.12  # random ranking: AP near the positive rate


def test_the_full_list_trapezoid_by_hand():
    gt = [{"qid": "a", "domain": "dog", "label": [[1], [0], [0], [1]]}]
    sub = [{"qid": "a", "pred_saliency_scores": [0.9, 0.8, 0.7, 0.6]}]  # ranks: 1 0 0 1
    # rank 1: r=.5 p=1 -> .5; ranks 2, 3: r stays; rank 4: r=1 p=.5, previous p=1/3 -> .5 * (1/3 + .5) / 2
    assert eval_youtube(sub, gt)["dog"]["mAP"] == round(0.5 + 0.5 * (1 / 3 + 0.5) / 2, 5)


def test_a_video_without_positives_is_dropped_not_scored_zero(youtube_valid):
    """The authors' bug, reproduced: such a video leaves the average instead of counting as AP 0."""
    gt = [dict(r) for r in youtube_valid if r["domain"] == "parkour"]
    sub = random_submission(gt)
    before = eval_youtube(sub, gt)["parkour"]["mAP"]
    gt.append(dict(gt[0], qid="no_positive", vid="no_positive", label=[[0]] * 12))
    sub.append({"qid": "no_positive", "pred_saliency_scores": list(np.linspace(1, 0, 12))})
    assert eval_youtube(sub, gt)["parkour"]["mAP"] == before == authors_map(sub, gt)["parkour"]
    with pytest.raises(SubmissionError, match="no video of domain.s. parkour has a positive clip"):
        eval_youtube(sub[-1:], gt[-1:])


def test_strict_input_checks(youtube_valid):
    gt = youtube_valid[:3]
    sub = random_submission(gt)
    short = [dict(sub[0], pred_saliency_scores=sub[0]["pred_saliency_scores"][:-2])] + sub[1:]
    with pytest.raises(SubmissionError, match="line 1 .*scores for"):
        eval_youtube(short, gt)
    with pytest.warns(UserWarning):  # compat: the two last clips are never ranked, as the authors' slicing
        assert eval_youtube(short, gt, compat=True)[gt[0]["domain"]]["mAP"] == authors_map(short, gt)[gt[0]["domain"]]
    with pytest.raises(SubmissionError, match="missing|extra|qid"):
        eval_youtube(sub[:2], gt)
    tvsum_like = [dict(gt[0], label=[[1, 5]] * len(gt[0]["label"]))] + gt[1:]
    with pytest.raises(SubmissionError, match="ground truth: 'label' is not one 0/1 value per clip"):
        eval_youtube(sub, tvsum_like)


def test_cli_youtube(youtube_valid, shared_data, tmp_path, capsys):
    sub = random_submission(youtube_valid)
    sub_path = tmp_path / "preds.jsonl"
    sub_path.write_text("\n".join(json.dumps(r) for r in sub))
    gt_path = str(shared_data / "youtube_uni" / "youtube_valid.jsonl")
    out = tmp_path / "m.json"
    assert eval_main(["--youtube", "--submission_path", str(sub_path), "--gt_path", gt_path, "--save_path",
                      str(out), "--not_verbose"]) == 0
    assert json.loads(out.read_text()) == eval_youtube(sub, youtube_valid)
    assert eval_main(["--submission_path", str(sub_path), "--gt_path", gt_path, "--save_path",
                      str(tmp_path / "x.json"), "--not_verbose"]) == 2
    assert "add --tvsum (TVSum) or --youtube" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit) as e:
        eval_main(["--youtube", "--tvsum", "--submission_path", str(sub_path), "--gt_path", gt_path])
    assert e.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ---- one model per domain, end to end ------------------------------------------------------------------------

VIDEO = {"vid_clip": 8, "vid_slowfast": 12}  # the preset's folders, tiny widths
TEXT = {"txt_clip": 12}


def _subset(src, dst, n_dog):
    """n_dog short dog videos and two gymnastics videos (which the domain filter must leave out)."""
    rows = sorted((json.loads(x) for x in open(src) if x.strip()), key=lambda r: len(r["label"]))
    keep = [r for r in rows if r["domain"] == "dog"][:n_dog] + [r for r in rows if r["domain"] == "gymnastics"][:2]
    dst.write_text("\n".join(json.dumps(r) for r in keep))
    return keep


def test_launcher_trains_one_model_per_domain_and_reports_mean_and_std(shared_data, tmp_path):
    from video_lights.domain_report import main as report_main
    train = _subset(shared_data / "youtube_uni" / "youtube_train.jsonl", tmp_path / "train.jsonl", 4)
    valid = _subset(shared_data / "youtube_uni" / "youtube_valid.jsonl", tmp_path / "valid.jsonl", 3)
    write_random_features(tmp_path / "feats", train + valid, VIDEO, TEXT, lambda r: len(r["label"]))  # a row a label
    env = {**os.environ, "PYTHON": f"{sys.executable}", "FEAT_ROOT": str(tmp_path / "feats"), "DOMAINS": "dog",
           "SEEDS": "1 2", "N_EPOCH": "2", "RESULTS_ROOT": str(tmp_path / "res"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["bash", str(REPO / "video_lights/scripts/youtube_uni/train.sh"), "--train_path",
                        str(tmp_path / "train.jsonl"), "--eval_path", str(tmp_path / "valid.jsonl"), "--v_feat_dim",
                        "20", "--t_feat_dim", "12", "--device", "cpu", "--num_workers", "0", *TINY_MODEL],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = sorted((tmp_path / "res" / "dog").iterdir())
    assert [p.name.split("-")[:3] for p in runs] == [["youtube_uni", "video_tef", "seed_1"],
                                                     ["youtube_uni", "video_tef", "seed_2"]]
    dog_valid = [v for v in valid if v["domain"] == "dog"]
    (tmp_path / "valid_dog.jsonl").write_text("\n".join(json.dumps(v) for v in dog_valid))
    maps = []
    for run in runs:
        saved = json.loads((run / "opt.json").read_text())
        assert (saved["dset_domain"], saved["eval_epoch"], saved["max_v_l"], saved["lw_saliency"]) == \
            ("dog", 2, 1000, 4.0)
        rows = [json.loads(x) for x in open(run / "hl_val_submission.jsonl")]
        assert [x["qid"] for x in rows] == [v["qid"] for v in dog_valid]  # the domain's videos only
        assert [len(x["pred_saliency_scores"]) for x in rows] == [len(v["label"]) for v in dog_valid]
        metrics = json.loads((run / "hl_val_submission_metrics.json").read_text())
        assert list(metrics) == ["brief", "dog"] and metrics == eval_youtube(rows, dog_valid)
        assert metrics == authors_map_result(rows, dog_valid)
        maps.append(100 * metrics["brief"]["mAP"])
        out = tmp_path / f"{run.name}.json"  # the standalone evaluator scores the same file the same way
        assert eval_main(["--youtube", "--submission_path", str(run / "hl_val_submission.jsonl"), "--gt_path",
                          str(tmp_path / "valid_dog.jsonl"), "--save_path", str(out), "--not_verbose"]) == 0
        assert json.loads(out.read_text()) == metrics
    line = [x for x in r.stdout.splitlines() if x.startswith("dog")][0].split()
    assert line[:2] == ["dog", "2"] and float(line[2]) == pytest.approx(np.mean(maps), abs=0.006)
    assert float(line[3]) == pytest.approx(np.std(maps, ddof=1), abs=0.006)
    assert report_main([str(tmp_path / "res")]) == 0  # the domains found from the folders


def authors_map_result(rows, gt):
    """authors_map in the evaluator's layout (one domain)."""
    (domain, value), = authors_map(rows, gt).items()
    return {"brief": {"mAP": value}, domain: {"mAP": value}}


@pytest.mark.parametrize("split,n", [("train", 233), ("valid", 152)])
def test_real_files_validate_in_full(shared_data, split, n):
    from video_lights.data import StartEndDataset
    ds = StartEndDataset("youtube_highlights", str(shared_data / "youtube_uni" / f"youtube_{split}.jsonl"), [], [],
                         check_files=False, use_video=False)
    assert len(ds) == n and ds.load_labels and {r["domain"] for r in ds.data} == set(DOMAINS)
    eval_youtube(random_submission(ds.data), ds.data)  # every video's labels are binary, every domain scorable
