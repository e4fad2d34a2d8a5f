"""Training and inference end to end on a tiny synthetic dataset: resume equality and each bad-input message."""
import json
import os

import pytest
import torch

from conftest import TINY_MODEL, synthetic_run_args
from video_lights.config import parse_args
from video_lights.data.synthetic import generate
from video_lights.engine import trainer as trainer_module
from video_lights.engine.trainer import train
from video_lights.inference import main as inference_main
from video_lights.train import main as train_main



@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), seed=3, n_train=24, n_val=8, n_test=6)
    return root


def tiny_args(data_root, results_root, *extra):
    return synthetic_run_args(data_root, results_root, "--eval_epoch", "1", *extra)


def run_dir(results_root):
    (d,) = [os.path.join(results_root, x) for x in os.listdir(results_root)]
    return d


def test_resume_all_continues_bit_identically(tiny_data, tmp_path):
    train(parse_args(tiny_args(tiny_data, tmp_path / "a", "--n_epoch", "2")))
    train(parse_args(tiny_args(tiny_data, tmp_path / "b", "--n_epoch", "1")))
    b_latest = os.path.join(run_dir(tmp_path / "b"), "model_latest.ckpt")
    train(parse_args(tiny_args(tiny_data, tmp_path / "c", "--n_epoch", "2", "--resume", b_latest, "--resume_all")))
    a = torch.load(os.path.join(run_dir(tmp_path / "a"), "model_latest.ckpt"), weights_only=False)
    c = torch.load(os.path.join(run_dir(tmp_path / "c"), "model_latest.ckpt"), weights_only=False)
    assert a["epoch"] == c["epoch"] == 1
    for k, v in a["model"].items():
        assert torch.equal(v, c["model"][k]), k
    # the run folder holds what the reference writes
    names = set(os.listdir(run_dir(tmp_path / "a")))
    assert {"opt.json", "train.log.txt", "eval.log.txt", "tensorboard_log", "model_best.ckpt", "model_latest.ckpt",
            "best_hl_val_preds.jsonl", "best_hl_val_preds_metrics.json", "hl_val_submission.jsonl",
            "hl_val_submission_metrics.json"} <= names


def test_inference_writes_submission_and_metrics(tiny_data, tmp_path):
    train(parse_args(tiny_args(tiny_data, tmp_path, "--n_epoch", "1")))
    ckpt = os.path.join(run_dir(tmp_path), "model_best.ckpt")
    out = tmp_path / "inf"
    inference_main(["--resume", ckpt, "--eval_split_name", "test", "--eval_path",
                    str(tiny_data / "annotations" / "highlight_test_release.jsonl"), "--eval_results_dir", str(out),
                    "--num_workers", "0"])
    rows = [json.loads(x) for x in open(out / "hl_test_submission.jsonl")]
    assert len(rows) == 6 and not (out / "hl_test_submission_metrics.json").exists()
    assert all(len(r["pred_relevant_windows"]) == 5 for r in rows)
    inference_main(["--resume", ckpt, "--eval_split_name", "val", "--eval_path",
                    str(tiny_data / "annotations" / "highlight_val_release.jsonl"), "--eval_results_dir", str(out),
                    "--num_workers", "0"])
    metrics = json.load(open(out / "hl_val_submission_metrics.json"))
    assert "MR-full-mAP" in metrics["brief"]


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_last_checkpoint(tiny_data, tmp_path, monkeypatch, capsys):
    real_build = trainer_module.build_criterion

    def build_with_nan(opt, moments=True):
        criterion = real_build(opt, moments)
        forward = criterion.forward

        def nan_at_epoch_2(outputs, targets, epoch_i):
            losses = forward(outputs, targets, epoch_i)
            if epoch_i == 1:
                losses["loss_span"] = losses["loss_span"] * float("nan")
            return losses
        criterion.forward = nan_at_epoch_2
        return criterion

    monkeypatch.setattr(trainer_module, "build_criterion", build_with_nan)
    assert train_main(tiny_args(tiny_data, tmp_path, "--n_epoch", "3")) == 2
    msg = capsys.readouterr().err
    assert msg.startswith("error: non-finite loss (nan)") and msg.count("\n") == 1
    assert "epoch 2" in msg and "batch 0" in msg and "loss_span" in msg and "last good checkpoint" in msg
    latest = torch.load(os.path.join(run_dir(tmp_path), "model_latest.ckpt"), weights_only=False)
    assert latest["epoch"] == 0


def test_architecture_mismatch_is_a_clear_error(tiny_data, tmp_path, capsys):
    train(parse_args(tiny_args(tiny_data, tmp_path / "a", "--n_epoch", "1")))
    ckpt = os.path.join(run_dir(tmp_path / "a"), "model_best.ckpt")
    assert train_main(tiny_args(tiny_data, tmp_path / "b", "--n_epoch", "1", "--resume", ckpt,
                                "--hidden_dim", "64")) == 2
    msg = capsys.readouterr().err
    assert msg.startswith("error:") and "does not fit the model" in msg and "shape mismatch" in msg
    assert msg.count("\n") == 1 and "in all)" in msg  # one line: the first keys and the count
    assert not (tmp_path / "b").exists()  # the checkpoint is loaded before the run folder is made


def test_split_without_file(tiny_data, tmp_path, capsys):
    train(parse_args(tiny_args(tiny_data, tmp_path, "--n_epoch", "1")))
    ckpt = os.path.join(run_dir(tmp_path), "model_best.ckpt")
    assert inference_main(["--resume", ckpt, "--eval_split_name", "test", "--eval_path",
                           str(tmp_path / "nope.jsonl")]) == 2
    msg = capsys.readouterr().err
    assert "split 'test'" in msg and "nope.jsonl" in msg


def test_unwritable_results_dir(tiny_data, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert train_main(tiny_args(tiny_data, blocker / "sub", "--n_epoch", "1")) == 2
    msg = capsys.readouterr().err
    assert msg.startswith("error: ") and str(blocker) in msg and "cannot create the results folder" in msg


def test_missing_feature_dir_names_what_to_download(tmp_path, capsys):
    assert train_main(["--preset", "qvhl", "--feat_root", str(tmp_path / "nowhere"), "--results_root",
                       str(tmp_path / "res"), "--device", "cpu"]) == 2
    msg = capsys.readouterr().err
    assert "nowhere" in msg and "download" in msg.lower() and not (tmp_path / "res").exists()


def _rows(path, n, pred=lambda r: True):
    rows = [r for r in (json.loads(line) for line in open(path)) if pred(r)]
    return rows[:n]


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))


def test_charades_sta_trains_and_scores(shared_data, tmp_path):
    """Real Charades-STA annotations (a few rows) with small random features: 1-s clips, no saliency in the output."""
    import numpy as np
    rng = np.random.default_rng(0)
    src = shared_data / "charades_sta"
    train_rows = _rows(src / "charades_sta_train_tvr_format.jsonl", 16)
    test = _rows(src / "charades_sta_test_tvr_format.jsonl", 6)
    _write_jsonl(tmp_path / "train.jsonl", train_rows)
    _write_jsonl(tmp_path / "test.jsonl", test)
    feats = tmp_path / "feats"
    for name in ("slowfast_features", "clip_features", "blip_video_features"):
        (feats / name).mkdir(parents=True)
        for r in train_rows + test:
            n = min(75, int(r["duration"]))
            np.savez(feats / name / f"{r['vid']}.npz", features=rng.normal(size=(n, 8)).astype(np.float32))
    for name in ("clip_text_features", "blip_text_features"):
        (feats / name).mkdir(parents=True)
        for r in train_rows + test:
            np.savez(feats / name / f"qid{r['qid']}.npz", last_hidden_state=rng.normal(size=(9, 8)).astype(np.float32))
    train(parse_args(["--preset", "charades_sta", "--feat_root", str(feats),
                      "--train_path", str(tmp_path / "train.jsonl"),
                      "--eval_path", str(tmp_path / "test.jsonl"), "--v_feat_dim", "24", "--t_feat_dim", "16",
                      "--results_root", str(tmp_path / "results"), "--exp_id", "t", "--device", "cpu",
                      "--num_workers", "0", "--bsz", "8", "--n_epoch", "1", "--eval_epoch", "1", *TINY_MODEL]))
    assert os.path.basename(run_dir(tmp_path / "results")).startswith("charadesSTA-")
    out = run_dir(tmp_path / "results")
    rows = [json.loads(x) for x in open(os.path.join(out, "hl_test_submission.jsonl"))]
    assert len(rows) == 6 and "pred_saliency_scores" not in rows[0]
    assert all(w[0] == int(w[0]) and w[1] == int(w[1]) for r in rows for w in r["pred_relevant_windows"])  # 1-s clips
    brief = json.load(open(os.path.join(out, "hl_test_submission_metrics.json")))["brief"]
    assert "MR-full-mIoU" in brief and brief["MR-long-mAP"] == 0.0  # Charades test has no long window


def test_tvsum_domain_trains_and_scores(shared_data, tmp_path):
    """Real TVSum annotations of one domain with small random I3D-layout features: saliency only, top-5 mAP."""
    import numpy as np
    rng = np.random.default_rng(0)
    feats = tmp_path / "feats"
    (feats / "video_features").mkdir(parents=True)
    (feats / "query_features").mkdir(parents=True)
    paths = {}
    for split in ("train", "val"):
        rows = _rows(shared_data / "tvsum" / f"tvsum_{split}.jsonl", 99, lambda r: r["domain"] == "BK")
        paths[split] = tmp_path / f"{split}.jsonl"
        _write_jsonl(paths[split], rows)
        for r in rows:
            for stream in ("rgb", "opt"):
                np.save(feats / "video_features" / f"{r['vid']}_{stream}.npy",
                        rng.normal(size=(len(r["label"]), 8)).astype(np.float32))
            np.savez(feats / "query_features" / f"{r['qid']}.npz", token=rng.normal(size=(7, 8)).astype(np.float32))
    train(parse_args(["--preset", "tvsum", "--feat_root", str(feats), "--dset_domain", "BK",
                      "--train_path", str(paths["train"]), "--eval_path", str(paths["val"]),
                      "--v_feat_dim", "16", "--t_feat_dim", "8", "--results_root", str(tmp_path / "results"),
                      "--exp_id", "t", "--device", "cpu", "--num_workers", "0", "--n_epoch", "2", "--eval_epoch", "2",
                      *TINY_MODEL]))
    out = run_dir(tmp_path / "results")
    metrics = json.load(open(os.path.join(out, "hl_val_submission_metrics.json")))
    assert 0 <= metrics["brief"]["mAP"] <= 1 and "BK" in metrics


def test_resume_all_needs_optimizer_state(tiny_data, tmp_path, capsys):
    train(parse_args(tiny_args(tiny_data, tmp_path / "a", "--n_epoch", "1")))
    ckpt = torch.load(os.path.join(run_dir(tmp_path / "a"), "model_best.ckpt"), weights_only=False)
    del ckpt["lr_scheduler"]  # as in model_eXXXX.ckpt
    torch.save(ckpt, tmp_path / "model_e0000.ckpt")
    assert train_main(tiny_args(tiny_data, tmp_path / "b", "--n_epoch", "2", "--resume",
                                str(tmp_path / "model_e0000.ckpt"), "--resume_all")) == 2
    assert "no optimizer / lr_scheduler state" in capsys.readouterr().err


def test_optimizer_is_fused_and_stays_fused_after_loading_an_unfused_state():
    import argparse

    from video_lights.engine.training import build_optimizer, load_optimizer_state
    model = torch.nn.Linear(3, 2)
    old = torch.optim.AdamW(model.parameters(), lr=1e-3)  # an earlier version's (torch's CPU default: a loop)
    model(torch.randn(4, 3)).sum().backward()
    old.step()
    optimizer = build_optimizer(model, argparse.Namespace(lr=1e-3, wd=1e-4))
    assert optimizer.defaults["fused"]
    load_optimizer_state(optimizer, old.state_dict())
    assert [g["fused"] for g in optimizer.param_groups] == [True]
    assert torch.equal(optimizer.state[model.weight]["exp_avg"], old.state[model.weight]["exp_avg"])
