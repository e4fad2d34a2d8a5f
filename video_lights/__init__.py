"""VideoLights: joint video moment retrieval and highlight detection (arXiv 2412.01558).

    from video_lights import parse_args, build_model, load_checkpoint

Layout (imports point down this list, never up):
    utils/      atomic I/O, span geometry, the command-line error convention
    model/      the paper's components, losses, matcher, checkpoint files (torch only)
    data/       dataset specs, annotations, feature stores, the input contract, labels, batching (no model code)
    config.py   options, presets, opt.json;  api.py  the public entry points
    engine/     training epoch, evaluation, post-processing, the training loop in steps
    train.py, inference.py, domain_report.py, data/{check,pack,synthetic}.py   command lines (imported by nothing)
The names above are imported lazily, so `import video_lights.data` does not load the model.
"""
from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("video_lights")  # pyproject.toml's, through the installed package's metadata
except _NotInstalled:  # a source tree that was never installed
    __version__ = "unknown"
__all__ = ["parse_args", "build_model", "load_checkpoint"]


def __getattr__(name):
    if name == "parse_args":
        from video_lights.config import parse_args
        return parse_args
    if name == "build_model":
        from video_lights.model import build_model
        return build_model
    if name == "load_checkpoint":
        from video_lights.api import load_checkpoint
        return load_checkpoint
    raise AttributeError(f"module 'video_lights' has no attribute {name!r}")
