"""The public entry points, exported at the package top (`from video_lights import ...`):

    opt = parse_args(["--preset", "qvhl", ...])           # options (config.py)
    model = build_model(opt)                              # the network (model/videolights.py)
    model, ckpt = load_checkpoint("model_best.ckpt")      # ours or the authors', rebuilt from its options
"""
import argparse
import os

from video_lights.config import ConfigError, opt_from_dict, saved_options
from video_lights.model.checkpoint import CheckpointError, load_weights, read_checkpoint
from video_lights.model.videolights import build_model


def checkpoint_options(ckpt, path="checkpoint") -> argparse.Namespace:
    """The resolved options a checkpoint was trained with (its "opt", ours or the authors' namespace)."""
    opt = ckpt.get("opt")
    if not isinstance(opt, argparse.Namespace):
        raise CheckpointError(f"{path}: has no 'opt' namespace to rebuild the model from; pass model=")
    try:
        return opt_from_dict(saved_options(vars(opt), f"{path} (opt)"), results_dir=os.path.dirname(path) or ".")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None


def load_checkpoint(path, model=None, map_location="cpu"):
    """Read a checkpoint (ours or the authors') without executing pickled code and load its weights strictly.

    Args:
        path: the .ckpt file.
        model: the model to load into; None builds it from the checkpoint's options (on CPU, in train mode).
        map_location: passed to torch.load.
    Returns:
        (model, ckpt): ckpt is the loaded dict ("opt" an argparse.Namespace; "optimizer", "lr_scheduler",
        "epoch" and the optional "train_state" as saved, for --resume_all).
    Raises:
        CheckpointError: not a checkpoint file, a refused pickle, missing/unexpected keys or shape mismatches.
    """
    path = os.fspath(path)
    ckpt = read_checkpoint(path, map_location)
    if model is None:
        model = build_model(checkpoint_options(ckpt, path))
    return load_weights(model, ckpt, path), ckpt
