"""torchrun with gloo on CPU (2 processes): ranks stay identical, evaluation equals one process's file for file, a
run resumes exactly, rank 0 alone writes, and a changed world size is refused on resume."""
import filecmp
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, synthetic_run_args
from video_lights.data.synthetic import generate

EPOCHS = 2


def torchrun(*args, nproc=2, check=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def run_args(data, results, *extra):
    # 40 train rows at 2 x 8 per step: 3 steps per epoch; 20 val rows at eval_bsz 8: 3 batches, the last one short
    return synthetic_run_args(data, results, "--eval_epoch", "1", "--num_workers", "0", *extra)


def only_run_dir(results):
    (name,) = os.listdir(results)
    return results / name


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), seed=5, n_train=40, n_val=20, n_test=6)
    return root


@pytest.fixture(scope="module")
def two_process_run(data, tmp_path_factory):
    """A 2-process run of EPOCHS epochs; returns (run folder, folder of the per-rank parameter dumps)."""
    base = tmp_path_factory.mktemp("ddp")
    dumps = base / "dumps"
    dumps.mkdir()
    torchrun("tests/dist_worker.py", str(dumps), *run_args(data, base / "results", "--n_epoch", str(EPOCHS)))
    return only_run_dir(base / "results"), dumps


def test_ranks_hold_identical_parameters(two_process_run):
    run, dumps = two_process_run
    for epoch in range(EPOCHS):
        a, b = (torch.load(dumps / f"rank{r}_epoch{epoch}.pt") for r in (0, 1))
        assert torch.equal(a, b), f"ranks differ after epoch {epoch}"
    first, last = (torch.load(dumps / f"rank0_epoch{e}.pt") for e in (0, EPOCHS - 1))
    assert not torch.equal(first, last)  # the steps did change the weights
    saved = torch.load(run / "model_latest.ckpt", weights_only=False)["model"]
    assert torch.equal(torch.cat([v.flatten() for k, v in saved.items() if not k.endswith("num_batches_tracked")]),
                       last)


def test_rank_zero_alone_writes_with_the_global_batch(two_process_run):
    run, _ = two_process_run
    opt = json.loads((run / "opt.json").read_text())
    assert (opt["world_size"], opt["bsz"], opt["global_bsz"]) == (2, 8, 16)
    assert len(os.listdir(run / "tensorboard_log")) == 1  # one event file: rank 1 opened no writer
    lines = (run / "train.log.txt").read_text().splitlines()
    assert [line.split("[Epoch] ")[1][:3] for line in lines] == ["001", "002"]  # one line per epoch, not per rank
    assert len((run / "eval.log.txt").read_text().splitlines()) == EPOCHS
    ckpt = torch.load(run / "model_latest.ckpt", weights_only=False)
    assert ckpt["world_size"] == 2 and len(ckpt["rank_rng_states"]) == 2
    # every val query predicted exactly once, in file order
    rows = [json.loads(x) for x in open(run / "best_hl_val_preds.jsonl")]
    gt = [json.loads(x) for x in open(os.path.join(opt["eval_path"]))]
    assert [r["qid"] for r in rows] == [g["qid"] for g in gt]


def test_two_process_inference_equals_one_process_file_for_file(two_process_run, data, tmp_path):
    run, _ = two_process_run
    common = ["--resume", str(run / "model_best.ckpt"), "--eval_split_name", "val", "--eval_bsz", "8",
              "--num_workers", "0", "--device", "cpu"]
    one, two = tmp_path / "one", tmp_path / "two"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "video_lights.inference", *common, "--eval_results_dir", str(one)],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    torchrun("-m", "video_lights.inference", *common, "--eval_results_dir", str(two))
    names = sorted(os.listdir(one))
    assert names == sorted(os.listdir(two)) and "hl_val_submission.jsonl" in names
    for name in names:
        assert filecmp.cmp(one / name, two / name, shallow=False), name


def test_two_process_run_resumes_exactly(two_process_run, data, tmp_path):
    run, _ = two_process_run
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    torchrun("tests/dist_worker.py", str(dumps), *run_args(data, tmp_path / "resumed", "--n_epoch", str(EPOCHS + 1),
                                                           "--resume", str(run / "model_latest.ckpt"),
                                                           "--resume_all"))
    torchrun("tests/dist_worker.py", str(dumps / ".."), *run_args(data, tmp_path / "straight", "--n_epoch",
                                                                  str(EPOCHS + 1)))
    resumed = torch.load(dumps / f"rank0_epoch{EPOCHS}.pt")
    straight = torch.load(tmp_path / f"rank0_epoch{EPOCHS}.pt")
    assert torch.equal(resumed, straight)
    assert torch.equal(resumed, torch.load(dumps / f"rank1_epoch{EPOCHS}.pt"))


def test_resuming_with_another_world_size_is_refused(two_process_run, data, tmp_path):
    run, _ = two_process_run
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "video_lights.train",
                           *run_args(data, tmp_path / "r", "--n_epoch", "3", "--resume",
                                     str(run / "model_latest.ckpt"), "--resume_all")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "saved by a run of 2 process(es), resumed with 1" in proc.stderr
    assert "--allow_new_world_size" in proc.stderr
    assert not (tmp_path / "r").exists()  # refused before the run folder exists


def test_gather_waits_hours_for_the_slowest_rank_not_gloos_default(monkeypatch):
    """A sharded extraction's ranks reach gather() when their share is done, hours apart on a large dataset: the
    process group it starts must not time out after gloo's default 30 minutes."""
    import torch.distributed as dist

    from video_lights.utils import distributed
    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: seen.update(backend=backend, **kw))
    monkeypatch.setattr(dist, "all_gather_object", lambda out, obj: out.__setitem__(slice(None), [obj, "other"]))
    assert distributed.gather("mine") == ["mine", "other"]
    assert seen["backend"] == "gloo" and seen["timeout"].total_seconds() >= 24 * 3600
