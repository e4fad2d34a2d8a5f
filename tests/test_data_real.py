"""The real annotation files in ../shared/data validate in full, and a few rows of each load and collate with
random features of the real dimensions (the released features are not available here)."""
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from video_lights.config import parse_args
from video_lights.data import StartEndDataset, build_dataset, prepare_batch_inputs, start_end_collate

RECORDS = {"qvhighlights/highlight_train_release.jsonl": 7218, "qvhighlights/highlight_val_release.jsonl": 1550,
           "qvhighlights/highlight_test_release.jsonl": 1542,
           "charades_sta/charades_sta_train_tvr_format.jsonl": 12404,
           "charades_sta/charades_sta_test_tvr_format.jsonl": 3720, "charades_sta/pre_train_blip.jsonl": 673,
           "tvsum/tvsum_train.jsonl": 40, "tvsum/tvsum_val.jsonl": 10}


def _subset(src, dst, n, pred=lambda r: True):
    rows = [r for r in (json.loads(line) for line in open(src)) if pred(r)][:n]
    dst.write_text("\n".join(json.dumps(r) for r in rows))
    return rows


def _write_features(opt, rows, n_rows, rng, tvsum=False):
    """Random features with the dims of the preset (n_rows(row) clips), in the released file layout."""
    v_dims = {"slowfast_features": 2304, "clip_features": 512, "blip_video_features": 768}
    t_dims = {"clip_text_features": 512, "blip_aug_text_features_openai": 768, "blip_text_features": 768,
              "clip_query_features": 512, "blip_query_features": 768, "query_features": 512}
    for d in opt.v_feat_dirs:
        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        for r in rows:
            n = n_rows(r)
            if tvsum:
                np.save(d / f"{r['vid']}_rgb.npy", rng.normal(size=(n, 1024)).astype(np.float32))
                np.save(d / f"{r['vid']}_opt.npy", rng.normal(size=(n, 1024)).astype(np.float32))
            else:
                np.savez(d / f"{r['vid']}.npz", features=rng.normal(size=(n, v_dims[d.name])).astype(np.float32))
    for d in opt.t_feat_dirs:
        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        for r in rows:
            x = rng.normal(size=(int(rng.integers(5, 40)), t_dims[d.name])).astype(np.float32)
            if tvsum:
                np.savez(d / f"{r['qid']}.npz", token=x)
            else:
                np.savez(d / f"qid{r['qid']}.npz", last_hidden_state=x, pooler_output=x[-1])


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_full_files_validate(shared_data, name, tmp_path):
    """Every record of every real annotation file passes validation (features are not checked: empty folders)."""
    path = shared_data / name
    preset = "tvsum" if "tvsum" in name else "charades_sta" if "charades_sta_t" in name else \
        "pretrain" if "pre_train" in name else "qvhl"
    opt = parse_args(["--preset", preset, "--feat_root", str(tmp_path), "--device", "cpu"])
    for d in opt.v_feat_dirs + opt.t_feat_dirs:
        os.makedirs(d)
    domains = [None]
    if preset == "tvsum":
        domains = ["BK", "BT", "DS", "FM", "GA", "MS", "PK", "PR", "VT", "VU"]
    n = 0
    for dom in domains:
        ds = StartEndDataset(opt.dataset, str(path), opt.v_feat_dirs, opt.t_feat_dirs, clip_length=opt.clip_length,
                             max_v_l=opt.max_v_l, dset_domain=dom, check_files=False)
        assert ds.load_labels == ("test_release" not in name)
        n += len(ds)
    assert n == RECORDS[name]


def _batch(ds, idx):
    random.seed(0)
    metas, batched = start_end_collate([ds[i] for i in idx])
    return metas, prepare_batch_inputs(batched, torch.device("cpu"))


def test_qvhighlights_real_dims(shared_data, tmp_path):
    rng = np.random.default_rng(0)
    feat = tmp_path / "f"
    opt = parse_args(["--preset", "qvhl", "--feat_root", str(feat), "--device", "cpu"])
    many = lambda r: len(r["relevant_windows"]) > 5  # noqa: E731  (exercise the >max_windows path too)
    rows = _subset(shared_data / "qvhighlights/highlight_train_release.jsonl", tmp_path / "tr.jsonl", 2) + \
        _subset(shared_data / "qvhighlights/highlight_train_release.jsonl", tmp_path / "tr2.jsonl", 1, many)
    (tmp_path / "tr.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    test_rows = _subset(shared_data / "qvhighlights/highlight_test_release.jsonl", tmp_path / "te.jsonl", 2)
    _write_features(opt, rows + test_rows, lambda r: r["duration"] // 2, rng)
    ds = build_dataset(opt, str(tmp_path / "tr.jsonl"))
    metas, (mi, tg) = _batch(ds, range(3))
    assert mi["src_vid"].shape == (3, 75, 3586) and mi["src_txt"].shape[-1] == 1280
    assert tg["saliency_pos_labels"].shape == (3, 2) and tg["saliency_all_labels"].max() <= 12
    assert [len(s["spans"]) for s in tg["span_labels"]] == [min(5, len(m["relevant_windows"])) for m in metas]
    for m, pos in zip(metas, tg["saliency_pos_labels"].tolist()):
        assert set(pos) <= set(m["relevant_clip_ids"])
    te = build_dataset(opt, str(tmp_path / "te.jsonl"))
    _, (mi, tg) = _batch(te, range(2))
    assert tg is None and mi["src_vid"].shape[-1] == 3586


def test_charades_real_dims(shared_data, tmp_path):
    rng = np.random.default_rng(1)
    opt = parse_args(["--preset", "charades_sta", "--feat_root", str(tmp_path / "f"), "--device", "cpu"])
    rows = _subset(shared_data / "charades_sta/charades_sta_test_tvr_format.jsonl", tmp_path / "c.jsonl", 4)
    _write_features(opt, rows, lambda r: math.ceil(r["duration"]), rng)
    metas, (mi, tg) = _batch(build_dataset(opt, str(tmp_path / "c.jsonl")), range(4))
    assert mi["src_vid"].shape[-1] == 3586 and mi["src_txt"].shape[-1] == 1280
    assert set(tg["saliency_all_labels"].unique().tolist()) <= {0.0, 1.0}
    for b, m in enumerate(metas):
        ctx_l = int(mi["src_vid_mask"][b].sum())
        st, ed = m["relevant_windows"][0]
        assert torch.allclose(tg["span_labels"][b]["spans"], torch.tensor([[(st + ed) / 2, ed - st]]) / ctx_l)
        for p in tg["saliency_pos_labels"][b].tolist():
            assert tg["saliency_all_labels"][b, p] == 1


def test_pretrain_captions_real_dims(shared_data, tmp_path):
    """The pretraining captions spec gives binary labels from the window (saliency_scores ignored)."""
    rng = np.random.default_rng(2)
    opt = parse_args(["--preset", "pretrain", "--feat_root", str(tmp_path / "f"), "--device", "cpu"])
    path = tmp_path / "pre_train_blip.jsonl"
    rows = _subset(shared_data / "charades_sta/pre_train_blip.jsonl", path, 3)
    _write_features(opt, rows, lambda r: max(1, r["duration"] // 2), rng)
    _, (mi, tg) = _batch(build_dataset(opt, str(path)), range(3))
    assert mi["src_vid"].shape[-1] == 3586
    assert set(tg["saliency_all_labels"].unique().tolist()) <= {0.0, 1.0}


def test_tvsum_real_dims(shared_data, tmp_path):
    rng = np.random.default_rng(3)
    opt = parse_args(["--preset", "tvsum", "--feat_root", str(tmp_path / "f"), "--dset_domain", "GA",
                      "--device", "cpu"])
    rows = _subset(shared_data / "tvsum/tvsum_val.jsonl", tmp_path / "v.jsonl", 10)
    _write_features(opt, rows, lambda r: len(r["label"]), rng, tvsum=True)
    ds = build_dataset(opt, str(tmp_path / "v.jsonl"))
    assert len(ds) == 1 and ds.data[0]["domain"] == "GA"
    metas, (mi, tg) = _batch(ds, [0])
    L = len(metas[0]["label"])
    assert mi["src_vid"].shape == (1, L, 2050) and mi["src_txt"].shape[-1] == 512
    assert "label" in metas[0] and tg["saliency_pos_labels"].shape == (1, 1)
    agg = (np.asarray(metas[0]["label"]) - 1).sum(-1)
    assert torch.allclose(tg["saliency_all_labels"][0], torch.tensor(agg / 80 * 12, dtype=torch.float32))
    assert tg["saliency_pos_labels"].item() == int(np.argsort(agg)[-1])
    assert torch.equal(tg["span_labels"][0]["spans"], torch.zeros(1, 2))
