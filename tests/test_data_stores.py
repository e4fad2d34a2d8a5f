"""npz folders, packed HDF5 stores and the in-memory cache give identical tensors."""
import os
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from video_lights.config import parse_args
from video_lights.data import DataError, build_dataset, start_end_collate
from video_lights.data.pack import main as pack_main
from video_lights.data.pack import pack_folder
from video_lights.data.synthetic import generate


def _items(ds, seed=0):
    out = []
    for i in range(len(ds)):
        random.seed(seed + i)
        out.append(ds[i])
    return out


def _assert_same(a, b):
    assert a["meta"] == b["meta"]
    for k, v in a["model_inputs"].items():
        w = b["model_inputs"][k]
        if isinstance(v, torch.Tensor):
            assert v.dtype == w.dtype and torch.equal(v, w), k
        elif isinstance(v, np.ndarray):
            assert np.array_equal(v, w), k
        else:
            assert v == w, k


@pytest.mark.parametrize("real_dims,n", [(False, 10), (True, 2)])
def test_npz_h5_cache_identical(tmp_path, real_dims, n):
    info = generate(tmp_path, seed=2, n_train=n, n_val=1, n_test=1, real_dims=real_dims)
    opt = parse_args(info["flags"] + ["--device", "cpu"])
    for d in opt.v_feat_dirs + opt.t_feat_dirs:
        pack_folder(d)
    ref = _items(build_dataset(opt, opt.train_path))
    h5_opt = parse_args(info["flags"] + ["--device", "cpu", "--feat_store", "h5"])
    assert all(d.endswith(".h5") for d in h5_opt.v_feat_dirs + h5_opt.t_feat_dirs)
    cache_opt = parse_args(info["flags"] + ["--device", "cpu", "--feat_store", "h5", "--feat_cache"])
    cached = build_dataset(cache_opt, cache_opt.train_path)
    for variant in (build_dataset(h5_opt, h5_opt.train_path), cached, cached):  # cached twice: 2nd from memory
        for a, b in zip(ref, _items(variant)):
            _assert_same(a, b)
    assert len(cached.cache) > 0


def test_h5_with_workers_and_npy(tmp_path):
    """.npy sources (TVSum I3D layout) pack too; an HDF5 store works in forked DataLoader workers."""
    info = generate(tmp_path, seed=5, n_train=6, n_val=1, n_test=1)
    opt = parse_args(info["flags"] + ["--device", "cpu"])
    sf = opt.v_feat_dirs[0]
    for f in os.listdir(sf):  # turn one folder into .npy files: same arrays must come back
        with np.load(os.path.join(sf, f)) as z:
            np.save(os.path.join(sf, f[:-4] + ".npy"), z["features"])
        os.remove(os.path.join(sf, f))
    ref = _items(build_dataset(opt, opt.train_path))
    for d in opt.v_feat_dirs + opt.t_feat_dirs:
        pack_folder(d)
    h5_opt = parse_args(info["flags"] + ["--device", "cpu", "--feat_store", "h5"])
    ds = build_dataset(h5_opt, h5_opt.train_path)
    for a, b in zip(ref, _items(ds)):
        _assert_same(a, b)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=start_end_collate)
    batches = list(loader)
    assert sum(len(m) for m, _ in batches) == len(ds)
    assert batches[0][1]["video_feat"][0].shape[-1] == 130


def test_pack_cli_errors(tmp_path, capsys):
    info = generate(tmp_path, seed=1, n_train=2, n_val=1, n_test=1)
    d = info["flags"][info["flags"].index("--v_feat_dirs") + 1]
    assert pack_main([d]) == 0
    assert pack_main([d]) == 2
    assert "already exists (pass --overwrite" in capsys.readouterr().err
    assert pack_main([d, "--overwrite", "--compression", "gzip"]) == 0
    assert pack_main([str(tmp_path / "nope")]) == 2
    assert "nope: not a folder" in capsys.readouterr().err
    flags = info["flags"]
    opt = parse_args(["--v_feat_dirs", str(tmp_path / "missing.h5")] + flags[flags.index("--v_feat_dim"):]
                     + ["--train_path", flags[flags.index("--train_path") + 1], "--device", "cpu"])
    with pytest.raises(DataError, match="packed feature store not found"):
        build_dataset(opt, opt.train_path)
