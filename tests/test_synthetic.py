"""The synthetic dataset generator: deterministic, QVHighlights layout, loads through the data pipeline."""
import hashlib
import json

import numpy as np
import pytest
import torch

from video_lights.config import parse_args
from video_lights.data import build_dataset, prepare_batch_inputs, start_end_collate
from video_lights.data.synthetic import generate, main


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.suffix == ".jsonl":  # (dims.json / README.txt hold the output path)
            h.update(p.read_bytes())
        elif p.suffix == ".npz":
            with np.load(p) as z:
                for k in sorted(z.files):
                    h.update(k.encode() + z[k].tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    info = generate(out, seed=3, n_train=12, n_val=5, n_test=3)
    return out, info


def test_layout_and_dims(small):
    out, info = small
    assert info["v_feat_dim"] == 128 and info["t_feat_dim"] == 64
    assert json.loads((out / "dims.json").read_text())["flags"] == info["flags"]
    rows = [json.loads(line) for line in (out / "annotations" / "highlight_train_release.jsonl").open()]
    test = [json.loads(line) for line in (out / "annotations" / "highlight_test_release.jsonl").open()]
    assert len(rows) == 12 and len(test) == 3 and set(test[0]) == {"qid", "query", "duration", "vid"}
    for r in rows:
        assert all(w[0] % 2 == 0 and w[1] % 2 == 0 and 0 <= w[0] < w[1] <= r["duration"] for w in r["relevant_windows"])
        assert len(r["relevant_clip_ids"]) == len(r["saliency_scores"])
        assert all(len(s) == 3 and all(0 <= x <= 4 for x in s) for s in r["saliency_scores"])
    with np.load(out / "features" / "slowfast_features" / f"{rows[0]['vid']}.npz") as z:
        assert z["features"].shape == (rows[0]["duration"] // 2, 64) and z["features"].dtype == np.float32
    with np.load(out / "features" / "clip_text_features" / f"qid{rows[0]['qid']}.npz") as z:
        assert set(z.files) == {"last_hidden_state", "pooler_output"} and z["last_hidden_state"].shape[1] == 32


def test_deterministic(small, tmp_path):
    out, _ = small
    again = tmp_path / "again"
    generate(again, seed=3, n_train=12, n_val=5, n_test=3)
    assert _digest(out) == _digest(again)
    other = tmp_path / "other"
    generate(other, seed=4, n_train=12, n_val=5, n_test=3)
    assert _digest(out) != _digest(other)


def test_loads_and_collates(small):
    out, info = small
    opt = parse_args(info["flags"] + ["--device", "cpu"])
    ds = build_dataset(opt, opt.train_path)
    _, batched = start_end_collate([ds[i] for i in range(4)])
    model_inputs, targets = prepare_batch_inputs(batched, torch.device("cpu"))
    assert model_inputs["src_vid"].shape[-1] == opt.v_feat_dim + 2 == 130  # + tef
    assert model_inputs["src_txt"].shape[-1] == opt.t_feat_dim == 64
    assert targets["saliency_all_labels"].shape == model_inputs["src_vid_mask"].shape
    test = build_dataset(opt, str(out / "annotations" / "highlight_test_release.jsonl"))
    assert len(test) == 3 and test[0]["model_inputs"]["video_feat"].shape[1] == 130
    preset = parse_args(["--preset", "synthetic", "--feat_root", str(out), "--device", "cpu"])
    assert (preset.v_feat_dirs, preset.t_feat_dirs, preset.v_feat_dim, preset.t_feat_dim, preset.train_path) == \
        (opt.v_feat_dirs, opt.t_feat_dirs, opt.v_feat_dim, opt.t_feat_dim, opt.train_path)


def test_signal_zero_is_noise(tmp_path):
    """signal 0: relevant clips are not more similar to the query than other clips (signal 1: clearly more)."""
    gaps = {}
    for signal in (0.0, 1.0):
        info = generate(tmp_path / str(signal), seed=1, n_train=40, n_val=1, n_test=1, signal=signal)
        opt = parse_args(info["flags"] + ["--device", "cpu"])
        ds = build_dataset(opt, opt.train_path)
        # a query->clip linear readout fitted on half the data, evaluated on the other half
        X, Y = [], []
        for i in range(len(ds)):
            mi = ds[i]["model_inputs"]
            t = mi["query_feat"].mean(0).numpy()
            v = mi["video_feat"][:, 64:96].numpy()  # the 32-d "clip" video features keep the solve small
            X.append(np.einsum("i,cj->cij", t, v).reshape(len(v), -1))
            Y.append((mi["saliency_all_labels"] > 0).astype(np.float64))
        half = len(X) // 2
        Xtr, Ytr = np.concatenate(X[:half]), np.concatenate(Y[:half])
        w = np.linalg.solve(Xtr.T @ Xtr + 10 * np.eye(Xtr.shape[1]), Xtr.T @ (Ytr - Ytr.mean()))
        s, y = np.concatenate(X[half:]) @ w, np.concatenate(Y[half:])
        gaps[signal] = (s[y > 0].mean() - s[y == 0].mean()) / s.std()
    assert gaps[1.0] > 0.6 and abs(gaps[0.0]) < 0.3, gaps


def test_cli(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "c"), "--n_train", "2", "--n_val", "1", "--n_test", "1", "--seed", "5"]) == 0
    assert "--v_feat_dim 128" in capsys.readouterr().out
