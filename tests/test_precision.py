"""--amp per device: auto picks bfloat16 only where the CPU has it natively; on falls back to float32 with a
warning on a CPU without it (instead of running many times slower); off is float32; the log says which ran."""
import logging

import pytest
import torch

from video_lights.config import parse_args
from video_lights.engine import precision
from video_lights.engine.precision import resolve_amp

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(params=[True, False], ids=["native-bf16-cpu", "avx2-cpu"])
def native(request, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: request.param)
    return request.param


def test_auto_and_on_follow_the_cpu(native):
    enabled, note, warn = resolve_amp("auto", CPU)
    assert enabled == native and not warn
    assert ("bfloat16 autocast" in note) == native
    enabled, note, warn = resolve_amp("on", CPU)
    assert enabled == native and warn == (not native)
    if not native:  # the fallback: float32, said as a warning naming what is missing
        assert note.startswith("precision: float32") and "no native bfloat16" in note
    assert resolve_amp("off", CPU) == (False, "precision: float32 (--amp off)", False)


def test_bools_of_older_opt_json_files_and_cuda(native):
    assert resolve_amp(True, CPU)[0] == native and resolve_amp(False, CPU)[0] is False
    assert resolve_amp("auto", CUDA)[0] is False  # float32 on CUDA unless asked, as the authors trained
    assert resolve_amp("on", CUDA)[:2] == (True, "precision: float16 autocast with a gradient scaler (--amp on, CUDA)")
    with pytest.raises(ValueError, match="--amp must be one of"):
        resolve_amp("bf16", CPU)


def test_parse_args_resolves_to_a_bool_and_inference_defaults_to_float32(native, tmp_path):
    base = ["--device", "cpu", "--results_root", str(tmp_path)]
    assert parse_args(base).amp is native
    assert parse_args(base + ["--amp"]).amp is native  # --amp alone = on
    assert parse_args(base + ["--amp", "off"]).amp is False
    assert parse_args(base).amp_note.startswith("precision: ")
    assert parse_args(base + ["--amp", "on"]).amp_note.startswith("warning: ") == (not native)


def test_trainer_logs_the_fallback_warning(monkeypatch, tmp_path, caplog):
    """A train run with --amp on a CPU without native bfloat16 trains in float32 and logs a warning that says so."""
    from conftest import synthetic_run_args
    from video_lights.data.synthetic import generate
    from video_lights.engine.trainer import train
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    root = tmp_path / "data"
    generate(str(root), seed=3, n_train=8, n_val=4, n_test=2)
    opt = parse_args(synthetic_run_args(root, tmp_path / "res", "--n_epoch", "1", "--amp", "on"))
    assert opt.amp is False
    with caplog.at_level(logging.INFO):
        train(opt)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "no native bfloat16" in r.message]
    assert len(warnings) == 1 and "float32" in warnings[0].message
