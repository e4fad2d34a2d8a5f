"""The walk-through of data/README.md ("From a folder of videos to a trained model"), end to end: a folder of
synthetic videos and CSVs of queries -> converted annotations (durations probed) -> a spec file -> extracted
features (tiny random extractor weights) -> data.check -> training -> the standalone evaluator -> predictions on a
new video. Every step runs the command the README shows, as a subprocess, with the tiny sizes of a test."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av", reason="the video extra is not installed (pip install -e .[video])")
pytest.importorskip("transformers", reason="the video extra is not installed (pip install -e .[video])")

from conftest import TINY_MODEL  # noqa: E402
from synthetic_videos import make_video  # noqa: E402
from video_lights.features import blip2, clip, slowfast  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
V_DIM, T_DIM = 288 + 16 + 32, 32 + 32  # the tiny random extractors' widths (the real ones: 3584 and 1280)
VIDEOS = {"kitchen1": 6.0, "kitchen2": 4.0, "garden1": 4.0, "kitchen3": 5.0}  # 5 s: a partial last clip
TRAIN = [("kitchen1.mp4", "a man cuts an onion", 0, 2), ("kitchen1.mp4", "a man cuts an onion", 4, 6),
         ("kitchen1.mp4", "he washes the pan", 2, 4.5), ("kitchen2.mp4", "a woman pours water", 0, 2),
         ("kitchen2.mp4", "she stirs the soup", 2, 4), ("garden1.mp4", "a dog runs on the grass", 1, 3)]
VAL = [("kitchen3.mp4", "a man cuts an onion", 0, 2), ("kitchen3.mp4", "he washes the pan", 2, 5)]


def sh(*args, cwd):
    """One README command as a subprocess from the work folder; returns its stdout (fails with its stderr)."""
    r = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, f"{args[:3]}:\n{r.stderr[-3000:]}"
    return r.stdout


def test_from_videos_and_a_csv_to_a_trained_model_and_predictions(tmp_path):
    work = tmp_path / "kitchen"
    (work / "videos").mkdir(parents=True)
    for vid, duration in VIDEOS.items():
        make_video(str(work / "videos" / f"{vid}.mp4"), fps=30, duration=duration, size=(96, 64), codec="libx264")
    make_video(str(work / "new_video.mp4"), fps=25, duration=4.0, size=(96, 64), codec="libx264")
    for name, rows in (("train.csv", TRAIN), ("val.csv", VAL)):
        (work / name).write_text("video,query,start,end\n" + "".join(f"{v},{q},{s},{e}\n" for v, q, s, e in rows))
    w = tmp_path / "weights"
    weights = ["--slowfast", slowfast.save_tiny_random(str(w / "slowfast.safetensors")),
               "--clip", clip.save_tiny_random(str(w / "clip")), "--blip2", blip2.save_tiny_random(str(w / "blip2"))]

    # 1. annotations: durations probed from the videos, saliency derived from the windows
    for split in ("train", "val"):
        out = sh("-m", "video_lights.convert", "csv", f"{split}.csv", "--videos", "videos", "--out",
                 f"annotations/{split}.jsonl", cwd=work)
        assert "durations probed from the videos" in out
    rows = [json.loads(x) for x in (work / "annotations" / "train.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in rows] == ["kitchen1_0", "kitchen1_1", "kitchen2_0", "kitchen2_1", "garden1_0"]
    assert rows[0]["relevant_windows"] == [[0.0, 2.0], [4.0, 6.0]] and rows[0]["relevant_clip_ids"] == [0, 2]
    # 2. the dataset spec
    (work / "kitchen.json").write_text(json.dumps({"name": "kitchen", "label_kind": "qvhighlights"}))
    # 3. features
    out = sh("-m", "video_lights.extract", "--dataset", "kitchen.json", "--out", "features", "--videos", "videos",
             "--annotations", "annotations/train.jsonl", "annotations/val.jsonl", *weights, "--device", "cpu",
             cwd=work)
    assert "extracted 4 videos and 7 queries" in out
    data = ["--preset", "qvhl", "--dataset", "kitchen.json", "--feat_root", "features",
            "--train_path", "annotations/train.jsonl", "--eval_path", "annotations/val.jsonl",
            "--v_feat_dim", V_DIM, "--t_feat_dim", T_DIM, "--device", "cpu", "--num_workers", "0"]
    # 4. check, 5. train
    out = sh("-m", "video_lights.data.check", *data, "--no_progress", cwd=work)
    assert "train: annotations/train.jsonl: OK (5 queries)" in out and "eval: annotations/val.jsonl: OK (2" in out
    sh("-m", "video_lights.train", *data, "--results_root", "results", "--exp_id", "first", "--n_epoch", "2",
       "--eval_epoch", "1", "--bsz", "2", *TINY_MODEL, cwd=work)
    (run,) = (work / "results").iterdir()
    assert run.name.startswith("kitchen-video_tef-first-")
    # 6. evaluation
    sh(REPO / "standalone_eval" / "eval.py", "--submission_path",
       run / "hl_val_submission.jsonl", "--gt_path", "annotations/val.jsonl", "--save_path", "val_metrics.json",
       "--not_verbose", cwd=work)
    metrics = json.loads((work / "val_metrics.json").read_text())
    assert metrics == json.loads((run / "hl_val_submission_metrics.json").read_text())
    assert {"MR-full-R1@0.5", "MR-full-mIoU", "HL-min-VeryGood-mAP"} <= set(metrics["brief"])
    # 7. predictions on a new video
    out = sh("-m", "video_lights.predict", "new_video.mp4", "--query", "a man cuts an onion", "--checkpoint",
             run / "model_best.ckpt", *weights, "--device", "cpu", "--json", "new_video.json", cwd=work)
    assert "a man cuts an onion" in out
    saved = json.loads((work / "new_video.json").read_text())
    (pred,) = saved["predictions"]
    assert saved["clip_length"] == 2 and pred["query"] == "a man cuts an onion" and pred["windows"]
    assert len(pred["saliency"]) == 2  # 4 s of new video
