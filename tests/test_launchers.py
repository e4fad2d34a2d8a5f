"""The launchers in video_lights/scripts pass every extra flag through to Python (PYTHON=echo shows the call)."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "video_lights" / "scripts"


def run(script, *args, **env):
    return subprocess.run(["bash", str(SCRIPTS / script), *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": "echo", **env})


@pytest.mark.parametrize("script,positional", [
    ("qvhl/train.sh", []), ("qvhl/train_from_pretrain.sh", ["pre.ckpt"]), ("qvhl/inference.sh", ["m.ckpt", "test"]),
    ("pretrain/pretrain.sh", []), ("charades_sta/train.sh", []), ("charades_sta/inference.sh", ["m.ckpt"]),
    ("tvsum/train.sh", []), ("tacos/train.sh", []),
    ("youtube_uni/train.sh", [])])
def test_extra_flags_reach_python(script, positional):
    r = run(script, *positional, "--n_epoch", "3", "--exp_id", "mine", DOMAINS="BK" if "tvsum" in script else "dog",
            SEEDS="1")
    assert r.returncode == 0, r.stderr
    calls = [line for line in r.stdout.splitlines() if "video_lights." in line and "domain_report" not in line]
    assert calls, r.stdout
    for call in calls:
        assert call.rstrip().endswith("--n_epoch 3 --exp_id mine"), call


def test_feat_root_override_and_positional_args():
    r = run("qvhl/train.sh", FEAT_ROOT="/data/qv")
    assert "--feat_root /data/qv" in r.stdout
    r = run("qvhl/inference.sh", "m.ckpt", "val")  # the repository's data/, wherever it is called from
    assert f"--resume m.ckpt --eval_split_name val --eval_path {REPO}/data/highlight_val_release.jsonl" in r.stdout
    assert "--feat_root" not in r.stdout
    r = run("qvhl/inference.sh", "m.ckpt", "test", FEAT_ROOT="/data/qv", DATA_DIR="/ann")
    assert "--eval_path /ann/highlight_test_release.jsonl --feat_root /data/qv" in r.stdout
    r = run("charades_sta/inference.sh", "m.ckpt", FEAT_ROOT="/data/ch")
    assert f"--eval_split_name test --eval_path {REPO}/data/charades_sta/charades_sta_test_tvr_format.jsonl " \
           f"--feat_root /data/ch" in r.stdout
    r = run("qvhl/train_from_pretrain.sh", "pre.ckpt")
    assert "--resume pre.ckpt" in r.stdout
    r = run("tacos/train.sh", FEAT_ROOT="/data/ta")
    assert "--preset tacos --feat_root /data/ta" in r.stdout


def test_missing_positional_is_usage_error():
    r = run("qvhl/inference.sh", "m.ckpt")
    assert r.returncode == 2 and "usage" in r.stderr
    r = run("qvhl/train_from_pretrain.sh", "--n_epoch", "3")
    assert r.returncode == 2 and "usage" in r.stderr


def test_tvsum_runs_every_domain_and_seed():
    r = run("tvsum/train.sh", DOMAINS="BK BT", SEEDS="1 2")
    calls = [line for line in r.stdout.splitlines() if "video_lights.train" in line]
    assert len(calls) == 4
    assert any("--dset_domain BT" in c and "--seed 2" in c for c in calls)
    assert "video_lights.domain_report" in r.stdout


def test_youtube_runs_one_model_per_domain_and_seed_evaluated_once():
    r = run("youtube_uni/train.sh", N_EPOCH="7")
    calls = [line for line in r.stdout.splitlines() if "video_lights.train" in line]
    assert len(calls) == 6 * 5  # the authors' six domains and five seeds
    assert any("--dset_domain surfing" in c and "--seed 1009" in c for c in calls)
    assert all("--preset youtube_highlights" in c and "--n_epoch 7 --eval_epoch 7" in c for c in calls)
    (report,) = [line for line in r.stdout.splitlines() if "domain_report" in line]
    assert report.endswith("results/youtubeuni --domains dog gymnastics parkour skating skiing surfing")
