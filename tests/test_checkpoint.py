"""Checkpoints: the authors' format round trip, strict loading with clear errors, refused pickles."""
import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from video_lights import load_checkpoint
from video_lights.model.checkpoint import CheckpointError, save_checkpoint
from conftest import tiny_opt
from video_lights.model import build_model


def _opt(**overrides):
    return tiny_opt(**overrides)


class _RunsCode:
    """Pickles to a call of os.system: loading it with weights_only=False would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_save_then_load_roundtrip(tmp_path):
    opt = _opt(device=torch.device("cpu"), results_dir=Path("results/x"))
    torch.manual_seed(0)
    model = build_model(opt)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 400)
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()
    scheduler.step()
    path = tmp_path / "model_best.ckpt"
    rng = {"python": (3, tuple(range(625)), None), "torch": torch.get_rng_state()}
    save_checkpoint(path, model, optimizer, scheduler, epoch=3, opt=opt, rng_state=rng, train_state=(0.5, 2))
    assert os.listdir(tmp_path) == ["model_best.ckpt"]  # atomic: no temp file left behind

    loaded, ckpt = load_checkpoint(path)  # rebuilt from ckpt["opt"]
    assert set(ckpt) == {"model", "optimizer", "lr_scheduler", "epoch", "opt", "rng_state", "train_state"}
    assert torch.equal(ckpt["rng_state"]["torch"], rng["torch"]) and ckpt["train_state"] == (0.5, 2)
    assert ckpt["epoch"] == 3 and isinstance(ckpt["opt"], argparse.Namespace)
    assert ckpt["opt"].device == torch.device("cpu") and ckpt["opt"].results_dir == "results/x"
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    optimizer2 = torch.optim.AdamW(loaded.parameters(), lr=1e-4)
    optimizer2.load_state_dict(ckpt["optimizer"])  # --resume_all
    torch.optim.lr_scheduler.StepLR(optimizer2, 400).load_state_dict(ckpt["lr_scheduler"])
    # the authors' tools read it with a plain torch.load
    with torch.serialization.safe_globals([argparse.Namespace]):
        assert set(torch.load(path, weights_only=True)) == set(ckpt)


def test_authors_checkpoint_loads_strictly(ref_fixture, tmp_path):
    """An authors'-format file: the fixture state dict, an optimizer state and the full opt namespace."""
    opt = argparse.Namespace(**json.loads((ref_fixture / "opt.json").read_text()))
    opt.device = torch.device("cpu")
    state = torch.load(ref_fixture / "model_state.pt", weights_only=True)
    path = tmp_path / "model_e0000.ckpt"
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 0, "opt": opt}, path)
    model, ckpt = load_checkpoint(path)
    assert not hasattr(ckpt["opt"], "fix_bicmf_mask")  # authors' opt: our new options default
    for k, v in state.items():
        assert torch.equal(model.state_dict()[k], v)


def test_malicious_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    opt = _opt()
    model = build_model(opt)
    opt.evil = _RunsCode(marker)
    path = tmp_path / "evil.ckpt"
    torch.save({"model": model.state_dict(), "opt": opt}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"not a checkpoint", b"", b"PK\x03\x04truncated", b"\x80\x02junk"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_mismatch_errors_name_keys_and_dims(tmp_path):
    model = build_model(_opt())
    path = tmp_path / "a.ckpt"
    save_checkpoint(path, model, opt=_opt())
    other = build_model(_opt(v_feat_dim=18))
    with pytest.raises(CheckpointError, match=r"checkpoint was trained with a 22-wide video input "
                                              r"\(v_feat_dim 20 \+ 2 for tef\), the model has 20"):
        load_checkpoint(path, other)
    no_mr = build_model(_opt(mr_to_hd_loss=False))
    with pytest.raises(CheckpointError, match="unexpected in checkpoint: gru_extractor.*mr_to_hd_loss"):
        load_checkpoint(path, no_mr)


def test_save_refuses_options_weights_only_cannot_load(tmp_path):
    model = build_model(_opt())
    with pytest.raises(CheckpointError, match="'opt.bad' has type object"):
        save_checkpoint(tmp_path / "a.ckpt", model, opt={"bad": object()})
    assert not (tmp_path / "a.ckpt").exists()
