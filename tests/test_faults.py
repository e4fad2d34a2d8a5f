"""Nothing trained is lost, every fault is one line: each case tried as a new user would, on tiny synthetic runs.

Every command line prints one `error: ...` line naming the file and (when training) the last good checkpoint,
exits non-zero (2; 130 for Ctrl-C), leaves no temporary file and no half-made run folder.
"""
import errno
import glob
import json
import os
import stat

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL, synthetic_run_args
from video_lights import load_checkpoint
from video_lights.config import parse_args
from video_lights.data.check import main as check_main
from video_lights.data.pack import main as pack_main
from video_lights.data.synthetic import generate
from video_lights.engine import trainer as trainer_module
from video_lights.engine.trainer import Trainer
from video_lights.inference import main as inference_main
from video_lights.model import checkpoint as checkpoint_module
from video_lights.train import main as train_main
from video_lights.utils.io import atomic_open, save_json



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), seed=5, n_train=16, n_val=8, n_test=4)
    return root


args = synthetic_run_args


def only_run(results):
    (d,) = glob.glob(os.path.join(results, "*"))
    return d


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def no_tmp_files(root):
    return not [p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True) if p.endswith(".tmp")]


@pytest.mark.parametrize("extra", [["--n_epoch", "2"],  # default --eval_epoch 5: no evaluation at all
                                   ["--n_epoch", "2", "--eval_path", ""],  # no eval split
                                   ["--n_epoch", "2", "--eval_epoch", "2"]])  # TVSum launcher style
def test_short_run_leaves_a_resumable_latest_checkpoint(data, tmp_path, extra):
    assert train_main(args(data, tmp_path / "a", *extra)) == 0
    run = only_run(tmp_path / "a")
    model, ckpt = load_checkpoint(os.path.join(run, "model_latest.ckpt"))
    assert ckpt["epoch"] == 1 and {"optimizer", "lr_scheduler", "rng_state"} <= set(ckpt)
    assert train_main(args(data, tmp_path / "b", "--n_epoch", "3", "--eval_path", "", "--resume",
                           os.path.join(run, "model_latest.ckpt"), "--resume_all")) == 0
    assert load_checkpoint(os.path.join(only_run(tmp_path / "b"), "model_latest.ckpt"))[1]["epoch"] == 2


def test_divergence_is_a_non_finite_error_not_a_matcher_assertion(data, tmp_path, capsys):
    assert train_main(args(data, tmp_path, "--n_epoch", "20", "--eval_epoch", "1", "--lr", "1e4",
                           "--grad_clip", "0")) == 2
    err = one_error_line(capsys)
    assert err.startswith("error: non-finite ") and "epoch" in err and "batch" in err
    assert "last good checkpoint" in err or "no checkpoint was written yet" in err


def test_checkpoint_with_nan_weights(data, tmp_path, capsys):
    assert train_main(args(data, tmp_path, "--n_epoch", "1", "--eval_epoch", "1")) == 0
    run = only_run(tmp_path)
    ckpt = torch.load(os.path.join(run, "model_best.ckpt"), weights_only=False)
    ckpt["model"]["span_embed.layers.0.weight"].fill_(float("nan"))
    torch.save(ckpt, os.path.join(run, "model_best.ckpt"))
    assert inference_main(["--resume", os.path.join(run, "model_best.ckpt"), "--eval_results_dir",
                           str(tmp_path / "inf")]) == 2
    err = one_error_line(capsys)
    assert err.startswith("error: non-finite model outputs (") and "evaluation batch 0" in err


def test_disk_full_during_a_checkpoint_write(data, tmp_path, monkeypatch, capsys):
    real_save, calls = torch.save, []

    def save_until_full(obj, f, *a, **k):
        calls.append(f.name)
        if len(calls) > 1:  # the first checkpoint is written, the second finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name)
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_full)
    assert train_main(args(data, tmp_path, "--n_epoch", "3", "--eval_path", "")) == 2
    err = one_error_line(capsys)
    run = only_run(tmp_path)
    assert "no space left on device" in err and f"last good checkpoint: {run}/model_latest.ckpt (epoch 1" in err
    assert no_tmp_files(tmp_path)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert load_checkpoint(os.path.join(run, "model_latest.ckpt"))[1]["epoch"] == 0


def test_ctrl_c_names_the_last_good_checkpoint(data, tmp_path, monkeypatch, capsys):
    real_epoch = trainer_module.train_one_epoch

    def interrupted_at_epoch_2(*a, **k):
        if a[5] == 1:  # epoch_i
            raise KeyboardInterrupt
        return real_epoch(*a, **k)

    monkeypatch.setattr(trainer_module, "train_one_epoch", interrupted_at_epoch_2)
    assert train_main(args(data, tmp_path, "--n_epoch", "3", "--eval_path", "")) == 130
    err = one_error_line(capsys)
    assert err.startswith("error: interrupted: last good checkpoint: ") and "model_latest.ckpt (epoch 1" in err


def test_bad_feature_file_read_by_a_dataloader_worker_is_one_line(tmp_path, capsys):
    data = tmp_path / "d"
    generate(str(data), seed=2, n_train=16, n_val=4, n_test=2)
    rows = [json.loads(x) for x in open(data / "annotations" / "highlight_train_release.jsonl")]
    bad = data / "features" / "clip_features" / f"{rows[-1]['vid']}.npz"
    x = np.load(bad)["features"].copy()
    x[0, 0] = np.nan
    np.savez(bad, features=x)
    assert train_main(args(data, tmp_path / "r", "--n_epoch", "1", "--eval_path", "", "--num_workers", "1")) == 2
    err = one_error_line(capsys)
    assert str(bad) in err and "NaN/inf" in err and "Original Traceback" not in err


def test_write_errors_name_the_file(tmp_path):
    with pytest.raises(OSError) as e:
        with atomic_open(tmp_path / "x.ckpt", "wb"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a write on a full disk raises
    assert e.value.filename == str(tmp_path / "x.ckpt") and os.listdir(tmp_path) == []


def test_interrupted_atomic_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "x.json", "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_unwritable_eval_results_dir_fails_before_predicting(data, tmp_path, capsys):
    assert train_main(args(data, tmp_path / "r", "--n_epoch", "1", "--eval_epoch", "1")) == 0
    ckpt = os.path.join(only_run(tmp_path / "r"), "model_best.ckpt")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    assert inference_main(["--resume", ckpt, "--eval_results_dir", str(blocker / "out")]) == 2
    err = one_error_line(capsys)
    assert str(blocker / "out") in err and "cannot write to this folder" in err


def test_unreadable_feature_folder(data, tmp_path, monkeypatch, capsys):
    folder = str(data / "features" / "clip_features")
    real_listdir = os.listdir

    def listdir(path="."):
        if os.path.normpath(str(path)) == os.path.normpath(folder):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    assert check_main(args(data, tmp_path) + ["--no_progress"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: cannot list the feature folder (Permission denied)" in err and "Traceback" not in err
    assert pack_main([folder]) == 2
    err = one_error_line(capsys)
    assert folder in err and "Permission denied" in err and not os.path.exists(folder + ".h5")


def test_corrupt_h5_store(data, tmp_path, capsys):
    flags = args(data, tmp_path)
    bad = tmp_path / "clip_features.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    v_dirs = [str(data / "features" / "slowfast_features"), str(bad), str(data / "features" / "blip_video_features")]
    assert train_main(flags + ["--v_feat_dirs", *v_dirs, "--n_epoch", "1"]) == 2
    err = one_error_line(capsys)
    assert f"{bad}: cannot open the packed feature store" in err
    assert not (tmp_path / "res").exists() and not glob.glob(str(tmp_path / "hl-*"))


def test_two_runs_in_the_same_second_get_two_folders(data, tmp_path):
    a = parse_args(args(data, tmp_path, "--n_epoch", "1"))
    b = parse_args(args(data, tmp_path, "--n_epoch", "1"))
    b.results_dir = a.results_dir  # as two runs started in the same second compute it
    ta, tb = Trainer(a), Trainer(b)
    assert ta.opt.results_dir != tb.opt.results_dir and tb.opt.results_dir == a.results_dir + "_2"
    for t in (ta, tb):
        saved = json.load(open(os.path.join(t.opt.results_dir, "opt.json")))
        assert saved["results_dir"] == t.opt.results_dir
        assert t.opt.train_log_filepath.startswith(t.opt.results_dir)


def test_written_files_have_the_usual_mode(data, tmp_path):
    old = os.umask(0o022)
    try:
        save_json({"a": 1}, tmp_path / "m.json")
        assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == 0o644
        assert train_main(args(data, tmp_path / "r", "--n_epoch", "1", "--eval_epoch", "1")) == 0
        run = only_run(tmp_path / "r")
        for name in ("model_latest.ckpt", "model_best.ckpt", "opt.json", "hl_val_submission.jsonl"):
            assert stat.S_IMODE(os.stat(os.path.join(run, name)).st_mode) == 0o644, name
        from standalone_eval.eval import main as eval_main
        assert eval_main(["--submission_path", os.path.join(run, "hl_val_submission.jsonl"), "--gt_path",
                          str(data / "annotations" / "highlight_val_release.jsonl"), "--save_path",
                          str(tmp_path / "metrics.json"), "--not_verbose"]) == 0
        assert stat.S_IMODE(os.stat(tmp_path / "metrics.json").st_mode) == 0o644
    finally:
        os.umask(old)


@pytest.mark.parametrize("extra,message", [
    (["--resume", "missing.ckpt"], "missing.ckpt: no such checkpoint file"),
    (["--v_feat_dim", "100"], "but --v_feat_dim is 100"),
    (["--n_epoch", "0"], "--n_epoch must be positive"),
    (["--train_path", "nowhere.jsonl"], "nowhere.jsonl: cannot open annotation file"),
])
def test_bad_start_leaves_no_run_folder(data, tmp_path, capsys, extra, message):
    assert train_main(args(data, tmp_path / "res", *extra)) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "res").exists()


def test_gradient_scaler_state_is_checkpointed_and_restored(data, tmp_path, monkeypatch):
    """The scaler of fp16 autocast on CUDA, emulated by a CPU GradScaler: saved in best/latest, restored by
    --resume_all, so a resumed run continues with the same loss scale."""
    monkeypatch.setattr(trainer_module, "grad_scaler",
                        lambda device, amp: torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1))
    assert train_main(args(data, tmp_path / "a", "--n_epoch", "1", "--eval_path", "")) == 0
    latest = os.path.join(only_run(tmp_path / "a"), "model_latest.ckpt")
    ckpt = load_checkpoint(latest)[1]
    scale = ckpt["scaler"]["scale"]
    assert scale != 1024.0  # it moved during the epoch (grows every finite step)
    t = Trainer(parse_args(args(data, tmp_path / "b", "--n_epoch", "2", "--eval_path", "", "--resume", latest,
                                "--resume_all")))
    assert t.scaler.get_scale() == scale and t.start_epoch == 1


def test_tvsum_style_run_without_periodic_checkpoints_keeps_latest(tmp_path, shared_data):
    """A dataset whose spec has save_every 0 (TVSum) still has model_latest.ckpt after every epoch."""
    rng = np.random.default_rng(0)
    feats = tmp_path / "feats"
    (feats / "video_features").mkdir(parents=True)
    (feats / "query_features").mkdir(parents=True)
    rows = [json.loads(x) for x in open(shared_data / "tvsum" / "tvsum_train.jsonl")]
    rows = [r for r in rows if r["domain"] == "BK"]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    for r in rows:
        for stream in ("rgb", "opt"):
            np.save(feats / "video_features" / f"{r['vid']}_{stream}.npy",
                    rng.normal(size=(len(r["label"]), 8)).astype(np.float32))
        np.savez(feats / "query_features" / f"{r['qid']}.npz", token=rng.normal(size=(7, 8)).astype(np.float32))
    assert train_main(["--preset", "tvsum", "--feat_root", str(feats), "--train_path", str(tmp_path / "train.jsonl"),
                       "--eval_path", "", "--v_feat_dim", "16", "--t_feat_dim", "8", "--results_root",
                       str(tmp_path / "res"), "--device", "cpu", "--num_workers", "0", "--n_epoch", "2",
                       "--eval_epoch", "2", *TINY_MODEL]) == 0
    run = only_run(tmp_path / "res")
    assert os.path.basename(run).startswith("tvsum-") and load_checkpoint(os.path.join(run, "model_latest.ckpt"))
    assert not glob.glob(os.path.join(run, "model_e*.ckpt"))
