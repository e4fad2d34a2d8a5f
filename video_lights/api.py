"""The public entry points, exported at the package top (`from video_lights import ...`):

    opt = parse_args(["--preset", "qvhl", ...])           # options (config.py)
    model = build_model(opt)                              # the network (model/videolights.py)
    model, ckpt = load_checkpoint("model_best.ckpt")      # ours or the authors', rebuilt from its options
    model, ckpt = load_checkpoint("exported_dir")         # `python -m video_lights.export`: safetensors + JSON
    model, ckpt = load_checkpoint("owner/videolights-b")  # such a directory on the Hugging Face hub (local cache)
"""
import argparse
import os
import re

from video_lights.config import ConfigError, opt_from_dict, saved_options
from video_lights.model.checkpoint import CheckpointError, load_weights, read_checkpoint
from video_lights.model.videolights import build_model
from video_lights.utils.io import load_json

# an exported directory (python -m video_lights.export): no pickle anywhere
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_FORMAT = "video_lights-export"
EXPORT_VERSION = 1
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def checkpoint_options(ckpt, path="checkpoint") -> argparse.Namespace:
    """The resolved options a checkpoint was trained with (its "opt", ours or the authors' namespace)."""
    opt = ckpt.get("opt")
    if not isinstance(opt, argparse.Namespace):
        raise CheckpointError(f"{path}: has no 'opt' namespace to rebuild the model from; pass model=")
    try:
        return opt_from_dict(saved_options(vars(opt), f"{path} (opt)"), results_dir=os.path.dirname(path) or ".")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None


def read_exported(directory, map_location="cpu") -> dict:
    """An exported directory as a checkpoint dict {"model": state dict, "opt": Namespace of the saved options,
    "config": the config.json dict}; reads only JSON and safetensors. CheckpointError naming the file otherwise."""
    directory = os.fspath(directory)
    config_path, weights_path = os.path.join(directory, EXPORT_CONFIG), os.path.join(directory, EXPORT_WEIGHTS)
    for p in (config_path, weights_path):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p}: missing: an exported checkpoint directory holds {EXPORT_CONFIG} and "
                                  f"{EXPORT_WEIGHTS} (python -m video_lights.export)")
    try:
        config = load_json(config_path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{config_path}: cannot read ({e})") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT or \
            not isinstance(config.get("options"), dict):
        raise CheckpointError(f"{config_path}: not a VideoLights export config (expected format {EXPORT_FORMAT!r} "
                              f"with an 'options' object)")
    if config.get("format_version", 0) > EXPORT_VERSION:
        raise CheckpointError(f"{config_path}: format_version {config['format_version']} is newer than this "
                              f"install reads ({EXPORT_VERSION}); upgrade video_lights")
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        raise CheckpointError(f"{weights_path}: reading an exported directory needs safetensors "
                              f"(pip install safetensors) ({e})") from None
    try:
        state = load_file(weights_path, device=map_location if isinstance(map_location, str) else "cpu")
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{weights_path}: not a safetensors file or corrupt ({type(e).__name__}: {e})") from None
    return {"model": state, "opt": argparse.Namespace(**config["options"]), "config": config}


def resolve_checkpoint_path(path) -> str:
    """A local file or directory as is; a Hugging Face hub id ("owner/name", not a local path) -> its snapshot in the
    local Hugging Face cache (nothing is downloaded). CheckpointError when it is none of these."""
    path = os.fspath(path)
    if os.path.exists(path) or not _HUB_ID.match(path) or path.endswith((".ckpt", ".pt", ".pth")):
        return path
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{path}: no such checkpoint file or directory (as a Hugging Face hub id it needs "
                              f"huggingface_hub: pip install huggingface_hub)") from None
    try:
        return snapshot_download(path, local_files_only=True)
    except Exception as e:  # not cached / bad id: the hub client raises several error types
        raise CheckpointError(f"{path}: no such checkpoint file or directory, and not in the local Hugging Face cache "
                              f"(fetch it once with `hf download {path}`; {type(e).__name__})") from None


def load_checkpoint(path, model=None, map_location="cpu"):
    """Read a checkpoint (ours or the authors') without executing pickled code and load its weights strictly.

    Args:
        path: the .ckpt file, a directory written by `python -m video_lights.export` (config.json +
            model.safetensors: no pickle at all; ckpt then has "model", "opt" and "config"), or a Hugging Face hub
            id of such a directory, read from the local cache only.
        model: the model to load into; None builds it from the checkpoint's options (on CPU, in train mode).
        map_location: passed to torch.load.
    Returns:
        (model, ckpt): ckpt is the loaded dict ("opt" an argparse.Namespace; "optimizer", "lr_scheduler",
        "epoch" and the optional "train_state" as saved, for --resume_all).
    Raises:
        CheckpointError: not a checkpoint file, a refused pickle, missing/unexpected keys or shape mismatches.
    """
    path = resolve_checkpoint_path(path)
    ckpt = read_exported(path, map_location) if os.path.isdir(path) else read_checkpoint(path, map_location)
    if model is None:
        model = build_model(checkpoint_options(ckpt, path))
    return load_weights(model, ckpt, path), ckpt
