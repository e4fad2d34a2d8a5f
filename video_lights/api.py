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
from video_lights.data.specs import REGISTRY
from video_lights.model.checkpoint import CheckpointError, load_weights, read_checkpoint
from video_lights.model.videolights import build_model
from video_lights.utils.io import load_json
from video_lights.utils.model_files import config_size_problem, model_id_problem, safetensors_problem

# an exported directory (python -m video_lights.export): no pickle anywhere
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_FORMAT = "video_lights-export"
EXPORT_VERSION = 1
# machine-local options: not exported (they name this machine's folders or a past run); dropped when read back
LOCAL_OPTIONS = ("results_dir", "results_root", "feat_root", "resume", "resume_all", "model_dir", "eval_results_dir",
                 "eval_id", "train_path", "eval_path")
# what a string "owner/name" that is no local path looks like (checked in full by model_id_problem)
_HUB_SHAPE = re.compile(r"^[^/\\]+/[^/\\]+$")


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
    "config": the config.json dict}; reads only JSON and safetensors. CheckpointError naming the file otherwise.
    Both files are checked before they are parsed: config.json's size, fields and option values
    (export_config_problem, config.saved_options), the safetensors header (utils/model_files.py safetensors_problem)."""
    directory = os.fspath(directory)
    config_path, weights_path = os.path.join(directory, EXPORT_CONFIG), os.path.join(directory, EXPORT_WEIGHTS)
    for p in (config_path, weights_path):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p}: missing: an exported checkpoint directory holds {EXPORT_CONFIG} and "
                                  f"{EXPORT_WEIGHTS} (python -m video_lights.export)")
    problem = config_size_problem(config_path)
    if problem:
        raise CheckpointError(f"{config_path}: {problem}")
    try:
        config = load_json(config_path)
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{config_path}: cannot read ({str(e)[:200]})") from None
    problem = export_config_problem(config)
    if problem:
        raise CheckpointError(f"{config_path}: {problem}")
    options = {k: v for k, v in config["options"].items() if k not in LOCAL_OPTIONS}
    try:
        saved_options(options, f"{config_path} (options)")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    problem = safetensors_problem(weights_path)
    if problem:
        raise CheckpointError(f"{weights_path}: {problem}")
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        raise CheckpointError(f"{weights_path}: reading an exported directory needs safetensors "
                              f"(pip install safetensors) ({e})") from None
    try:
        state = load_file(weights_path, device=map_location if isinstance(map_location, str) else "cpu")
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{weights_path}: not a safetensors file or corrupt ({type(e).__name__}: {e})") from None
    return {"model": state, "opt": argparse.Namespace(**options), "config": config}


def _is_name(value) -> bool:
    """A folder name: a non-empty string without path separators, not "." or ".."."""
    return isinstance(value, str) and value not in ("", ".", "..") and not re.search(r"[/\\\x00]", value)


def export_config_problem(config):
    """What is wrong with an export's config.json dict (the fields that are not options), or None. Options that
    name paths must not: the datasets are registered names, the feature folders bare names; extractor ids are hub
    ids or local paths without '..' components."""
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT or \
            not isinstance(config.get("options"), dict):
        return f"not a VideoLights export config (expected format {EXPORT_FORMAT!r} with an 'options' object)"
    version = config.get("format_version", 0)
    if type(version) is not int or version < 0:
        return f"format_version {str(version)[:40]!r}: not a version number"
    if version > EXPORT_VERSION:
        return f"format_version {version} is newer than this install reads ({EXPORT_VERSION}); upgrade video_lights"
    for field, kind, what in (("source", str, "a string"), ("epoch", int, "an integer"),
                              ("features", dict, "an object"), ("extractors", dict, "an object")):
        value = config.get(field)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{field}: expected {what} or null, got {type(value).__name__} {repr(value)[:80]}"
    if len(config.get("source") or "") > 1000:
        return "source: longer than 1000 characters"
    options = config["options"]
    for field in ("dataset", "eval_dataset"):
        value = options.get(field)
        if value is not None and (not isinstance(value, str) or value not in REGISTRY):
            return (f"options.{field}: {repr(value)[:200]} is not a registered dataset ({', '.join(REGISTRY)}); "
                    f"an export names no files")
    for field in ("v_feat_dirs", "t_feat_dirs"):
        value = options.get(field)
        if value is not None and not (isinstance(value, list) and value and all(_is_name(d) for d in value)):
            return f"options.{field}: {str(value)[:200]} is not a list of folder names (an export names no paths)"
    for name, model in (config.get("extractors") or {}).items():
        # existence is checked where the extractor loads (a --clip / --slowfast override may replace the id)
        if model is not None and not (isinstance(model, str) and 0 < len(model) <= 1000 and
                                      ".." not in re.split(r"[\\/]", model) and model.isprintable()):
            return (f"extractors.{name}: {repr(model)[:200]} is not a model id (a hub id, a local directory or "
                    f"file, without '..' components)")
    return None


def resolve_checkpoint_path(path) -> str:
    """A local file or directory as is; a Hugging Face hub id ("owner/name", not a local path) -> its snapshot in the
    local Hugging Face cache (nothing is downloaded). CheckpointError when it is none of these."""
    path = os.fspath(path)
    if os.path.exists(path) or not _HUB_SHAPE.match(path) or path.endswith((".ckpt", ".pt", ".pth")):
        return path
    problem = model_id_problem(path)
    if problem:
        raise CheckpointError(f"{problem} (a checkpoint is a .ckpt file, an exported directory or a hub id)")
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
