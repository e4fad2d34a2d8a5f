"""TACoS: the real annotation files validate in full, and a model trains and evaluates end to end on a subset of
them (small random features, the tiny model) with the preset's settings: every clip kept, windows rounded to 2-s
clips, Charades-style metrics (R1@0.3/0.5/0.7, mIoU; no saliency), scored like the standalone evaluator."""
import json
import os

import pytest

from conftest import TINY_MODEL
from random_features import clips_of, write_random_features
from standalone_eval.eval import main as eval_main
from video_lights.config import parse_args
from video_lights.data import StartEndDataset, build_dataset

DIMS = {"slowfast_features": 12, "clip_features": 8}  # the preset's folders, tiny widths
TEXT = {"clip_text_features": 12}


@pytest.fixture(scope="module")
def tacos(shared_data):
    return shared_data / "tacos"


@pytest.mark.parametrize("split,n", [("train", 9790), ("val", 4436), ("test", 4001)])
def test_real_files_validate_in_full(tacos, split, n, tmp_path):
    ds = StartEndDataset("tacos", str(tacos / f"{split}.jsonl"), [], [], check_files=False, use_video=False)
    assert len(ds) == n and ds.load_labels and all(len(r["relevant_windows"]) == 1 for r in ds.data)


def _subset(src, dst):
    """12 queries each of src's shortest video and of its shortest video over 200 s (over 100 clips)."""
    rows = [json.loads(x) for x in open(src) if x.strip()]
    by_length = sorted({r["vid"]: r["duration"] for r in rows}.items(), key=lambda kv: kv[1])
    vids = [by_length[0][0], next(v for v, d in by_length if d > 200)]
    keep = [r for v in vids for r in rows if r["vid"] == v][:12] + [r for r in rows if r["vid"] == vids[1]][:12]
    dst.write_text("\n".join(json.dumps(r) for r in keep))
    return keep


def test_trains_and_evaluates_end_to_end(tacos, tmp_path):
    from video_lights.data.check import main as check_main
    from video_lights.train import main as train_main
    train = _subset(tacos / "train.jsonl", tmp_path / "train.jsonl")
    test = _subset(tacos / "test.jsonl", tmp_path / "test.jsonl")
    write_random_features(tmp_path / "feats", train + test, DIMS, TEXT, clips_of(2))
    flags = ["--preset", "tacos", "--feat_root", str(tmp_path / "feats"), "--train_path", str(tmp_path / "train.jsonl"),
             "--eval_path", str(tmp_path / "test.jsonl"), "--v_feat_dim", "20", "--t_feat_dim", "12",
             "--device", "cpu", "--num_workers", "0"]
    assert check_main(flags + ["--no_progress"]) == 0
    opt = parse_args(flags)
    ds = build_dataset(opt, opt.eval_path)
    longest = max(test, key=lambda r: r["duration"])
    assert len(ds.video_feat(longest["vid"])) == clips_of(2)(longest) > 75  # every clip kept (max_v_l -1)
    assert train_main(flags + ["--results_root", str(tmp_path / "res"), "--bsz", "4", "--eval_bsz", "4",
                               "--n_epoch", "2", "--eval_epoch", "2", *TINY_MODEL]) == 0
    (run,) = [tmp_path / "res" / d for d in os.listdir(tmp_path / "res")]
    assert run.name.startswith("tacos-video_tef-")
    saved = json.loads((run / "opt.json").read_text())
    assert (saved["clip_length"], saved["max_v_l"], saved["lr"], saved["lw_saliency"]) == (2, -1, 2e-4, 4.0)
    rows = [json.loads(x) for x in open(run / "hl_test_submission.jsonl")]
    assert [r["qid"] for r in rows] == [r["qid"] for r in test]
    for r in rows:
        assert "pred_saliency_scores" not in r
        assert all(w[0] % 2 == 0 and w[1] % 2 == 0 and 0 <= w[0] for w in r["pred_relevant_windows"])
    metrics = json.loads((run / "hl_test_submission_metrics.json").read_text())
    assert {"MR-full-R1@0.3", "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mIoU"} <= set(metrics["brief"])
    assert not [k for k in metrics["brief"] if k.startswith("HL")]
    out = tmp_path / "m.json"
    assert eval_main(["--submission_path", str(run / "hl_test_submission.jsonl"), "--gt_path",
                      str(tmp_path / "test.jsonl"), "--save_path", str(out), "--not_verbose"]) == 0
    assert json.loads(out.read_text())["brief"] == metrics["brief"]


FAKE_CURL = """#!/usr/bin/env bash
# curl stand-in: serves lighthouse's raw file names from the shared copies, records every URL asked for
for a in "$@"; do [[ "$a" == -sfI ]] && exit 0; done
while [[ $# -gt 1 ]]; do [[ "$1" == -o ]] && dest="$2"; shift; done
echo "$1" >> "$URL_LOG"
name=$(basename "$1")
case "$name" in
  tacos_*_release.jsonl) src="$SHARED/tacos/${name#tacos_}"; src="${src%_release.jsonl}.jsonl" ;;
  youtube_highlight_train_release.jsonl) src="$SHARED/youtube_uni/youtube_train.jsonl" ;;
  youtube_highlight_val_release.jsonl) src="$SHARED/youtube_uni/youtube_valid.jsonl" ;;
  *) exit 22 ;;
esac
cp "$src" "$dest"
"""


def test_download_script_fetches_tacos_and_youtube_where_the_presets_read_them(shared_data, tmp_path):
    """No network: a curl stand-in on PATH serves the files; the script's URLs and destinations are what is tested."""
    import subprocess
    from pathlib import Path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DATA_DIR": str(tmp_path / "data"),
           "SHARED": str(shared_data), "URL_LOG": str(tmp_path / "urls.txt")}
    r = subprocess.run(["bash", str(repo / "scripts" / "download_data.sh"), "tacos", "youtube_uni"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for preset in ("tacos", "youtube_highlights"):
        opt = parse_args(["--preset", preset])
        for path in (opt.train_path, opt.eval_path):
            assert (tmp_path / path).read_text() == (shared_data / path.replace("data/", "", 1)).read_text()
    assert (tmp_path / "data" / "tacos" / "val.jsonl").is_file()
    urls = (tmp_path / "urls.txt").read_text().split()
    assert all(u.startswith("https://raw.githubusercontent.com/line/lighthouse/main/data/") for u in urls)
    r = subprocess.run(["bash", str(repo / "scripts" / "download_data.sh"), "activitynet"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "unknown dataset 'activitynet'" in r.stderr and "tacos youtube_uni" in r.stderr
