"""Checkpoints in the authors' format, loaded without executing pickled code.

Format (the authors' train.py): {"model": state_dict, "optimizer": optimizer state, "lr_scheduler": scheduler
state, "epoch": 0-based epoch, "opt": argparse.Namespace}; model_e*.ckpt files lack "lr_scheduler".

Loading uses torch.load(weights_only=True) with exactly one extra allowed class, argparse.Namespace (torch.device
is allowed by torch already). Any other pickled object (a class, a function such as os.system) makes the load fail
before anything is executed; we re-raise that as CheckpointError.
"""
import argparse
import os
import pickle
import re
from pathlib import PurePath

import torch

from video_lights.model.videolights import TEF_DIMS
from video_lights.utils.cli import UserError
from video_lights.utils.io import atomic_open

ALLOWED_GLOBALS = [argparse.Namespace]
# first LayerNorm of each input projection: its width is the model's input width (video: with tef if ctx_mode has it)
MAX_KEYS_SHOWN = 5  # keys named in a mismatch message, then the count
_INPUT_WIDTH_KEYS = {"input_vid_proj.0.LayerNorm.weight": ("video", True),
                     "input_txt_proj.0.LayerNorm.weight": ("text", False)}


class CheckpointError(UserError):
    """A checkpoint file could not be read safely or does not fit the model."""


def _torch_load(path, map_location):
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch zip format / legacy pickle
        raise CheckpointError(f"{path}: not a PyTorch checkpoint file (starts with {head!r})")
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e):
            found = re.search(
                r"(Unsupported global: GLOBAL \S+|unsupported GLOBAL \S+[^\n]*|WeightsUnpickler error: [^\n]*)", str(e))
            detail = found.group(1) if found else str(e).splitlines()[0]
            raise CheckpointError(
                f"{path}: refused to load: the file contains pickled objects outside the allow-list "
                f"(tensors, plain Python values, argparse.Namespace, torch.device). Nothing was executed. "
                f"Detail: {detail}") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint file ({e})") from None
    except Exception as e:  # truncated or corrupt files fail in many ways (zip, struct, EOF, ...)
        raise CheckpointError(f"{path}: not a PyTorch checkpoint file or corrupt ({type(e).__name__}: {e})") from None


def _check_state_dict(state_dict, model, path):
    """Raise CheckpointError naming every missing / unexpected key and every shape mismatch."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state_dict]
    unexpected = [k for k in state_dict if k not in ours]
    mismatched = [k for k in ours if k in state_dict and tuple(state_dict[k].shape) != tuple(ours[k].shape)]
    if not (missing or unexpected or mismatched):
        return

    def keys(names):
        shown = ", ".join(names[:MAX_KEYS_SHOWN])
        return shown + (f", ... ({len(names)} in all)" if len(names) > MAX_KEYS_SHOWN else "")

    parts = []
    for key, (what, tef) in _INPUT_WIDTH_KEYS.items():
        if key in mismatched:
            width = state_dict[key].shape[0]
            note = f" (v_feat_dim {width - TEF_DIMS} + {TEF_DIMS} for tef)" if tef else ""
            parts.append(f"checkpoint was trained with a {width}-wide {what} input{note}, "
                         f"the model has {ours[key].shape[0]}")
    if mismatched:
        parts.append("shape mismatch: " + keys([f"{k} checkpoint {tuple(state_dict[k].shape)} vs model "
                                                f"{tuple(ours[k].shape)}" for k in mismatched]))
    if missing:
        parts.append(f"missing in checkpoint: {keys(missing)}")
    if unexpected:
        parts.append(f"unexpected in checkpoint: {keys(unexpected)}")
    if any(k.startswith("contrastive_align_projection") for k in missing + unexpected):
        parts.append("hint: contrastive_align_loss differs between checkpoint and model")
    if any(k.startswith(("gru_extractor", "saliency_proj_mr")) for k in missing + unexpected):
        parts.append("hint: mr_to_hd_loss differs between checkpoint and model")
    raise CheckpointError(f"{path}: checkpoint does not fit the model: " + "; ".join(parts))


def read_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint file (ours or the authors') safely; CheckpointError if it is not one."""
    path = os.fspath(path)
    ckpt = _torch_load(path, map_location)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise CheckpointError(f"{path}: not a VideoLights checkpoint (expected a dict with a 'model' state dict)")
    return ckpt


def load_weights(model, ckpt, path="checkpoint"):
    """Load ckpt["model"] into model strictly; CheckpointError naming every missing / unexpected / misshapen key."""
    _check_state_dict(ckpt["model"], model, path)
    model.load_state_dict(ckpt["model"], strict=True)
    return model


def _plain(value, name):
    """value with pathlib paths turned into str; CheckpointError for anything weights_only could not load."""
    if value is None or isinstance(value, (bool, int, float, str, torch.device, torch.Tensor)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, name) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v, name) for k, v in value.items()}
    raise CheckpointError(f"{name!r} has type {type(value).__name__}, which a weights_only load refuses")


def save_checkpoint(path, model, optimizer=None, lr_scheduler=None, epoch=None, opt=None, **extra):
    """Write {"model", "optimizer", "lr_scheduler", "epoch", "opt"} atomically (temp file + rename).

    Entries given as None are left out (as the authors' model_e*.ckpt leave out lr_scheduler). opt (Namespace or
    dict) is stored as an argparse.Namespace of plain values, so the file loads under weights_only=True, with
    load_checkpoint and with the authors' code. `extra` entries (e.g. the RNG state that
    --resume_all restores) are stored under their names; the authors' code ignores them.
    Raises CheckpointError, before writing anything, for a value (in opt or extra) that a weights_only load
    would refuse: only tensors, torch.device and plain Python values (paths become str) are accepted.
    """
    ckpt = {"model": model.state_dict()}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if lr_scheduler is not None:
        ckpt["lr_scheduler"] = lr_scheduler.state_dict()
    if epoch is not None:
        ckpt["epoch"] = epoch
    if opt is not None:
        items = opt.items() if isinstance(opt, dict) else vars(opt).items()
        ckpt["opt"] = argparse.Namespace(**{k: _plain(v, f"opt.{k}") for k, v in items})
    ckpt.update({k: _plain(v, k) for k, v in extra.items()})
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)
