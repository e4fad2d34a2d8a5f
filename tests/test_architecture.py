"""The layout keeps its promises: imports point one way, command lines are imported by nothing, heavy
dependencies stay at the edge, and the public API sits at the package top."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "video_lights"
# modules run as `python -m ...`: nothing in the package may import them
COMMAND_LINES = {"video_lights.train", "video_lights.inference", "video_lights.domain_report",
                 "video_lights.convert",
                 "video_lights.data.check", "video_lights.data.pack", "video_lights.data.synthetic",
                 "video_lights.extract", "video_lights.features.parity", "video_lights.features.convert_slowfast",
                 "video_lights.predict.__main__", "video_lights.export", "video_lights.app.__main__",
                 "video_lights.pretrain_data"}
# what each layer may import from video_lights (prefixes)
ALLOWED = {
    "video_lights.utils": ("video_lights.utils",),
    "video_lights.model": ("video_lights.model", "video_lights.utils"),
    "video_lights.data": ("video_lights.data", "video_lights.utils"),
    "video_lights.features": ("video_lights.features", "video_lights.data", "video_lights.utils"),
    "video_lights.predict": ("video_lights.predict", "video_lights.features", "video_lights.data", "video_lights.model",
                             "video_lights.engine", "video_lights.config", "video_lights.api", "video_lights.utils"),
    "video_lights.app": ("video_lights.app", "video_lights.predict", "video_lights.features", "video_lights.data",
                         "video_lights.model", "video_lights.engine", "video_lights.config", "video_lights.api",
                         "video_lights.utils"),
}
HEAVY = ("av", "transformers", "gradio", "torchvision", "cv2", "safetensors", "ftfy")


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(path):
    """Every module name imported by a file, at any depth (function-level imports included)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def layer_violations(name, imported):
    """The imports of module `name` that break the layering (empty when it is fine)."""
    bad = [m for m in imported if m in COMMAND_LINES and m != name]
    for layer, allowed in ALLOWED.items():
        if (name == layer or name.startswith(layer + ".")) and name not in COMMAND_LINES:
            bad += [m for m in imported if m.startswith("video_lights") and m != "video_lights"
                    and not m.startswith(allowed)]
    return bad


@pytest.mark.parametrize("name,path", list(_modules()), ids=lambda x: str(x))
def test_imports_point_one_way(name, path):
    assert layer_violations(name, set(_imports(path))) == []


def test_the_check_itself_catches_a_model_module_importing_data_engine_or_a_command_line():
    assert layer_violations("video_lights.model.bicmf", {"video_lights.data.dataset"})
    assert layer_violations("video_lights.model.criterion", {"video_lights.engine.training"})
    assert layer_violations("video_lights.model.matcher", {"video_lights.config"})
    assert layer_violations("video_lights.engine.trainer", {"video_lights.inference"})
    assert layer_violations("video_lights.data.dataset", {"video_lights.model.videolights"})
    assert not layer_violations("video_lights.model.bicmf", {"torch", "video_lights.utils.spans"})


def _loaded_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_trainer_and_evaluator_do_not_load_heavy_dependencies():
    loaded = _loaded_after("import video_lights.engine.trainer, video_lights.train, video_lights.inference")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_predictor_loads_no_heavy_dependency_until_it_extracts():
    loaded = _loaded_after("import video_lights.predict, video_lights.api")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_the_check_itself_keeps_the_predictor_below_the_app():
    assert layer_violations("video_lights.predict.predictor", {"video_lights.app.ui"})
    assert layer_violations("video_lights.predict.predictor", {"video_lights.predict.__main__"})
    assert layer_violations("video_lights.app.ui", {"video_lights.export"})
    assert not layer_violations("video_lights.app.ui", {"video_lights.predict.predictor", "video_lights.features"})


def test_data_and_model_load_without_each_other():
    loaded = _loaded_after("import video_lights.data")
    assert not [m for m in loaded if m.startswith(("video_lights.model", "video_lights.engine", "video_lights.config"))]
    loaded = _loaded_after("import video_lights.model")
    assert not [m for m in loaded if m.startswith(("video_lights.data", "video_lights.engine", "video_lights.config"))]


def test_public_api():
    import video_lights
    from video_lights import build_model, load_checkpoint, parse_args
    from video_lights.api import load_checkpoint as api_load
    from video_lights.config import parse_args as config_parse
    from video_lights.model import build_model as model_build
    assert (parse_args, build_model, load_checkpoint) == (config_parse, model_build, api_load)
    assert set(video_lights.__all__) == {"parse_args", "build_model", "load_checkpoint"}
    with pytest.raises(AttributeError):
        video_lights.nothing_here
