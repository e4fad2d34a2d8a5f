"""Dataset specs: the registry keeps every dataset's published behaviour, spec files are checked field by field,
and a new dataset trains, predicts, checks and scores from a spec file alone (no code edit)."""
import json
import os

import numpy as np
import pytest

from conftest import TINY_MODEL
from video_lights.config import parse_args
from video_lights.data import REGISTRY, DataError, load_spec
from video_lights.data.specs import MR_SELECTION, QVHL_SELECTION


def test_registry_holds_the_published_behaviour():
    q, c, t, tv = REGISTRY["qvhighlights"], REGISTRY["charades_sta"], REGISTRY["tacos"], REGISTRY["tvsum"]
    assert (q.tag, q.label_kind, q.clip_length, q.max_v_l, q.snap_max_ts, q.saliency_in_submission) == \
        ("hl", "qvhighlights", 2, 75, 150, True)
    assert q.selection == QVHL_SELECTION and q.save_every == 50 and q.text_stem(7) == "qid7"
    assert (c.tag, c.label_kind, c.clip_length, c.snap_max_ts, c.saliency_in_submission, c.selection) == \
        ("charadesSTA", "window", 1, 150, False, MR_SELECTION)
    assert (t.tag, t.clip_length, t.max_v_l, t.snap_max_ts, t.saliency_in_submission, t.text_stem(7), t.selection) \
        == ("tacos", 2, -1, 50000, False, "7", MR_SELECTION)
    assert (tv.label_kind, tv.max_v_l, tv.moments, tv.text_key, tv.text_stem("v1"), tv.save_every, tv.domains,
            tv.metrics, tv.selection) == ("tvsum", 1000, False, "token", "v1", 0, True, "tvsum", {"mAP": 1.0})
    for name in ("pretrain_captions", "asr_pretrain"):  # evaluated on QVHighlights: runs named "hl"
        assert (REGISTRY[name].label_kind, REGISTRY[name].tag) == ("window", "hl")
    assert REGISTRY["asr_pretrain"].save_every == 10 and REGISTRY["pretrain_captions"].save_every == 50
    y = REGISTRY["youtube_highlights"]
    assert (y.tag, y.label_kind, y.moments, y.domains, y.max_v_l, y.metrics, y.text_stem("v")) == \
        ("youtube_uni", "youtube", False, True, 1000, "youtube", "v")
    assert y.clip_length == pytest.approx(5 / 3)  # one label per 50 frames at 30 fps (the rows' `clip` field)


def test_youtube_labels_come_every_50_frames(shared_data):
    """The evidence for YouTube Highlights' clip length: one label per 100-frame segment taken every 50 frames."""
    rows = [json.loads(x) for x in open(shared_data / "youtube_uni" / "youtube_train.jsonl") if x.strip()]
    assert all(len(r["label"]) == len(r["clip"]) for r in rows)
    hops = [(r["clip"][1][0] - r["clip"][0][0]) / r["fps"] for r in rows]
    assert abs(float(np.median(hops)) - REGISTRY["youtube_highlights"].clip_length) < 0.01
    assert 1.6 < float(np.median([r["duration"] / len(r["label"]) for r in rows])) < 1.8


@pytest.mark.parametrize("content,message", [
    ({"label_kind": "scores"}, "field 'label_kind' = 'scores' is not one of"),
    ({}, "field 'label_kind' is missing"),
    ({"label_kind": "window", "clip_seconds": 1}, "unknown field(s) clip_seconds"),
    ({"label_kind": "window", "clip_length": 0}, "field 'clip_length' must be a positive number"),
    ({"label_kind": "window", "text_file": "q.npz"}, "field 'text_file' must contain {qid}"),
    ({"label_kind": "tvsum", "moments": True}, "unknown field(s) moments"),  # derived from the label kind
    ([1, 2], "a dataset spec must be a mapping"),
    ({"label_kind": "window", "name": 5}, "field 'name' = 5 has the wrong type"),
    ({"label_kind": "window", "snap_max_ts": "x"}, "field 'snap_max_ts' = 'x' has the wrong type"),
    ({"label_kind": "window", "text_key": 3}, "field 'text_key' = 3 has the wrong type"),
    ({"label_kind": "window", "save_every": -3}, "'save_every' (>= 0)"),
    ({"label_kind": "window", "selection": {"MR-full-R1@9": 1}}, "field 'selection' names MR-full-R1@9"),
    ({"label_kind": "tvsum", "selection": {"MR-full-mIoU": 1}}, "not metrics of 'tvsum'"),
])
def test_bad_spec_files_name_the_field(tmp_path, content, message):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=None) as e:
        load_spec(str(path))
    assert str(e.value).startswith(str(path)) and message in str(e.value)


def test_spec_file_forms(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'qvhl'"):
        load_spec("qvhl")
    (tmp_path / "bad.json").write_text('{"label_kind": "window",\n "clip_length": }')
    with pytest.raises(DataError, match=r"bad.json:2: not valid JSON"):
        load_spec(str(tmp_path / "bad.json"))
    (tmp_path / "tv.json").write_text(json.dumps({"label_kind": "tvsum", "metrics": "tvsum"}))
    spec = load_spec(str(tmp_path / "tv.json"))
    assert (spec.name, spec.tag, spec.moments, spec.selection) == ("tv", "tv", False, {"mAP": 1.0})
    yaml = pytest.importorskip("yaml")
    (tmp_path / "y.yaml").write_text(yaml.safe_dump({"name": "cooking", "label_kind": "window", "clip_length": 1}))
    assert load_spec(str(tmp_path / "y.yaml")).clip_length == 1


# ---- a new dataset from a spec file alone ------------------------------------------------------------------


def _own_dataset(root, rng):
    """A cooking-style dataset in its own layout: 1-s clips, 40 clips max, text files named {qid}.npz."""
    spec = {"name": "kitchen", "label_kind": "window", "clip_length": 1, "max_v_l": 40, "text_file": "{qid}",
            "snap_max_ts": 60, "saliency_in_submission": False}
    (root / "kitchen.json").write_text(json.dumps(spec))
    for d in ("video", "text"):
        (root / d).mkdir()
    splits = {}
    for split, n in (("train", 12), ("val", 6)):
        rows = []
        for i in range(n):
            dur = float(rng.integers(20, 60))
            st = float(rng.integers(0, int(dur) - 8))
            rows.append(dict(qid=f"{split}{i}", query=f"cut the onion {i}", vid=f"{split}_v{i}", duration=dur,
                             relevant_windows=[[st, st + 6.5]]))
            np.savez(root / "video" / f"{split}_v{i}.npz",
                     features=rng.normal(size=(int(dur), 16)).astype(np.float32))
            np.savez(root / "text" / f"{split}{i}.npz", last_hidden_state=rng.normal(size=(6, 8)).astype(np.float32))
        splits[split] = root / f"{split}.jsonl"
        splits[split].write_text("\n".join(json.dumps(r) for r in rows))
    return splits


def test_new_dataset_trains_one_epoch_from_a_spec_file(tmp_path):
    from standalone_eval.eval import main as eval_main
    from video_lights.data.check import main as check_main
    from video_lights.inference import main as inference_main
    from video_lights.train import main as train_main
    splits = _own_dataset(tmp_path, np.random.default_rng(0))
    flags = ["--dataset", str(tmp_path / "kitchen.json"), "--train_path", str(splits["train"]),
             "--eval_path", str(splits["val"]), "--v_feat_dirs", str(tmp_path / "video"), "--v_feat_dim", "16",
             "--t_feat_dirs", str(tmp_path / "text"), "--t_feat_dim", "8", "--device", "cpu", "--num_workers", "0"]
    assert check_main(flags + ["--no_progress"]) == 0
    assert train_main(flags + ["--results_root", str(tmp_path / "res"), "--n_epoch", "1", "--eval_epoch", "1",
                               "--bsz", "4", "--ctx_mode", "video_tef", "--contrastive_align_loss",
                               "--mr_to_hd_loss", "--hard_pos_neg_loss", *TINY_MODEL]) == 0
    (run,) = [os.path.join(tmp_path / "res", d) for d in os.listdir(tmp_path / "res")]
    assert os.path.basename(run).startswith("kitchen-video_tef-")
    opt = json.load(open(os.path.join(run, "opt.json")))
    assert (opt["clip_length"], opt["max_v_l"]) == (1, 40)  # from the spec
    rows = [json.loads(x) for x in open(os.path.join(run, "hl_val_submission.jsonl"))]
    assert len(rows) == 6 and "pred_saliency_scores" not in rows[0]
    for r in rows:  # snapped to 1-s clips inside [0, 60]
        assert all(w[0] == int(w[0]) and w[1] == int(w[1]) and 0 <= w[0] <= w[1] <= 60
                   for w in r["pred_relevant_windows"])
    metrics = json.load(open(os.path.join(run, "hl_val_submission_metrics.json")))
    assert "MR-full-mIoU" in metrics["brief"] and os.path.isfile(os.path.join(run, "model_best.ckpt"))
    assert inference_main(["--resume", os.path.join(run, "model_best.ckpt"), "--eval_results_dir",
                           str(tmp_path / "inf")]) == 0
    assert eval_main(["--submission_path", str(tmp_path / "inf" / "hl_val_submission.jsonl"), "--gt_path",
                      str(splits["val"]), "--save_path", str(tmp_path / "m.json"), "--not_verbose"]) == 0
    assert json.load(open(tmp_path / "m.json"))["brief"] == metrics["brief"]


def test_a_relative_spec_file_is_saved_as_an_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "kitchen.json").write_text(json.dumps({"name": "kitchen", "label_kind": "window", "clip_length": 1}))
    monkeypatch.chdir(tmp_path)
    opt = parse_args(["--dataset", "kitchen.json", "--device", "cpu"])
    assert opt.dataset == opt.eval_dataset == str(tmp_path / "kitchen.json")
    monkeypatch.chdir("/")
    assert load_spec(opt.dataset).name == "kitchen"  # opt.json read from another folder still finds it
