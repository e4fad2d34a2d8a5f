"""Hostile model files are refused by name, reading no more than needed: an exported folder whose safetensors header
is huge or malformed, a config.json with wrong types, paths or huge values, hub ids with '..' or absolute paths that
are no directories. Every file is made here in tmp_path."""
import json
import math
import shutil
import struct

import pytest
import torch

from video_lights import load_checkpoint
from video_lights.config import parse_args
from video_lights.model import build_model
from video_lights.model.checkpoint import CheckpointError, save_checkpoint
from video_lights.utils import model_files
from video_lights.utils.cli import UserError
from video_lights.utils.model_files import MAX_SAFETENSORS_HEADER, model_id_problem, safetensors_problem

pytest.importorskip("safetensors", reason="exports need safetensors")
from video_lights.export import export  # noqa: E402

TINY = ["--hidden_dim", "32", "--dim_feedforward", "64", "--nheads", "4", "--enc_layers", "1", "--dec_layers", "2",
        "--num_queries", "5", "--contrastive_hdim", "16", "--v_feat_dim", "64", "--t_feat_dim", "32"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny VideoLights checkpoint and its export (config.json + model.safetensors + README.md)."""
    root = tmp_path_factory.mktemp("hostile")
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--results_root", str(root), *TINY])
    torch.manual_seed(0)
    save_checkpoint(root / "model.ckpt", build_model(opt), epoch=0, opt=opt)
    export(root / "model.ckpt", root / "export")
    return root


@pytest.fixture
def folder(exported, tmp_path):
    """A fresh copy of the export to spoil."""
    return shutil.copytree(exported / "export", tmp_path / "export")


def _safetensors(header, data=b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _f32(offsets, shape=(2,)):
    return {"dtype": "F32", "shape": list(shape), "data_offsets": list(offsets)}


SAFETENSORS_CASES = {
    "empty file": (b"", "shorter than the 8-byte header length"),
    "7 bytes": (b"\x01" * 7, "shorter than the 8-byte header length"),
    "2**60-byte header declared in an 8-byte file": (struct.pack("<Q", 2 ** 60), f"{2 ** 60}-byte header"),
    "header over safetensors' bound": (struct.pack("<Q", MAX_SAFETENSORS_HEADER + 1) + b"{}", "at most"),
    "zero-length header": (struct.pack("<Q", 0) + b"{}", "declares a 0-byte header"),
    "header longer than the file": (struct.pack("<Q", 1000) + b"{}", "truncated"),
    "header not UTF-8": (_safetensors(b"\xff\xfe{}"), "not UTF-8 JSON"),
    "header not JSON": (_safetensors(b"{not json"), "not UTF-8 JSON"),
    "header a JSON list": (_safetensors([1, 2]), "JSON list"),
    "unknown dtype": (_safetensors({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)),
                      "'w': no known dtype"),
    "negative shape": (_safetensors({"w": _f32((0, 8), (-2,))}, bytes(8)), "'w': shape [-2]"),
    "bool in shape": (_safetensors({"w": _f32((0, 4), (True,))}, bytes(4)), "'w': shape [True]"),
    "offsets far beyond the file": (_safetensors({"w": _f32((0, 2 ** 40), (2 ** 38,))}, bytes(8)),
                                    "not within the 8 data bytes"),
    "negative offsets": (_safetensors({"w": _f32((-8, 0))}, bytes(8)), "'w': data_offsets [-8, 0]"),
    "reversed offsets": (_safetensors({"w": _f32((8, 0))}, bytes(8)), "'w': data_offsets [8, 0]"),
    "three offsets": (_safetensors({"w": _f32((0, 4, 8))}, bytes(8)), "'w': data_offsets"),
    "span smaller than the shape": (_safetensors({"w": _f32((0, 8), (3,))}, bytes(8)), "needs 12 bytes"),
    "overlapping tensors": (_safetensors({"a": _f32((0, 8)), "b": _f32((4, 12))}, bytes(12)), "overlap"),
    "metadata of numbers": (_safetensors({"__metadata__": {"width": 8}}), "__metadata__"),
}


@pytest.mark.parametrize("case", SAFETENSORS_CASES)
def test_a_malformed_safetensors_header_is_refused_by_name(folder, case):
    content, message = SAFETENSORS_CASES[case]
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match="model.safetensors: ") as e:
        load_checkpoint(folder)
    assert message in str(e.value)


class _CountingFile:
    """A file object that records how many bytes were read from it."""

    def __init__(self, f, reads):
        self.f, self.reads = f, reads

    def read(self, n=-1):
        data = self.f.read(n)
        self.reads.append(len(data))
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.fixture
def reads(monkeypatch):
    got, real_open = [], open
    monkeypatch.setattr(model_files, "open", lambda p, mode="r": _CountingFile(real_open(p, mode), got),
                        raising=False)
    return got


def test_a_huge_declared_header_is_refused_after_reading_8_bytes(tmp_path, reads):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 60))
    assert "header" in safetensors_problem(path) and sum(reads) == 8
    reads.clear()
    path.write_bytes(struct.pack("<Q", MAX_SAFETENSORS_HEADER * 10) + bytes(16))
    assert "at most" in safetensors_problem(path) and sum(reads) == 8


def test_the_header_is_read_and_the_data_never(tmp_path, reads):
    header = json.dumps({"w": _f32((0, 1 << 31), (1 << 29,))}).encode()
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:  # 2 GB of tensor data, sparse: the check must not touch it
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + (1 << 31))
    assert safetensors_problem(path) is None and sum(reads) == 8 + len(header)
    reads.clear()
    with open(path, "r+b") as f:  # the same header over 8 data bytes: offsets far beyond the end
        f.truncate(8 + len(header) + 8)
    assert "not within the 8 data bytes" in safetensors_problem(path) and sum(reads) == 8 + len(header)


def test_the_valid_export_still_loads(exported, folder):
    assert safetensors_problem(folder / "model.safetensors") is None
    model, ckpt = load_checkpoint(folder)
    assert set(ckpt) == {"model", "opt", "config"} and ckpt["opt"].hidden_dim == 32


# ---------------------------------------------------------------------------------------------------------------
def _spoil_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(config):
        d = config
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


CONFIG_CASES = {
    "options a list": (_set("options", [1, 2]), "'options' object"),
    "format_version a string": (_set("format_version", "1"), "format_version '1'"),
    "format_version from the future": (_set("format_version", 99), "format_version 99 is newer"),
    "epoch a string": (_set("epoch", "3"), "epoch: expected an integer or null, got str"),
    "source a list": (_set("source", ["a"]), "source: expected a string"),
    "extractors a list": (_set("extractors", ["openai/clip"]), "extractors: expected an object"),
    "hidden_dim a string": (_set("options", "hidden_dim", "32"), "hidden_dim = 32 (str)"),
    "hidden_dim a bool": (_set("options", "hidden_dim", True), "hidden_dim = True (bool)"),
    "hidden_dim a float": (_set("options", "hidden_dim", 32.0), "hidden_dim = 32.0 (float)"),
    "lr NaN": (_set("options", "lr", math.nan), "lr = nan"),
    "lr a bool": (_set("options", "lr", False), "lr = False (bool)"),
    "aux_loss a string": (_set("options", "aux_loss", "yes"), "aux_loss = yes (str)"),
    "ctx_mode off the choices": (_set("options", "ctx_mode", "audio"), "ctx_mode = audio"),
    "clip_length zero": (_set("options", "clip_length", 0), "clip_length = 0"),
    "v_feat_dirs a dict": (_set("options", "v_feat_dirs", {"a": 1}), "options.v_feat_dirs"),
    "hidden_dim 10**9": (_set("options", "hidden_dim", 10 ** 9), "hidden_dim 1000000000: must be in [1, 4096]"),
    "num_queries 10**7": (_set("options", "num_queries", 10 ** 7), "num_queries 10000000: must be in"),
    "max_v_l 10**9": (_set("options", "max_v_l", 10 ** 9), "max_v_l 1000000000: must be in"),
    "max_q_l 10**9": (_set("options", "max_q_l", 10 ** 9), "max_q_l 1000000000: must be in"),
    "enc_layers 10**6": (_set("options", "enc_layers", 10 ** 6), "enc_layers 1000000: must be in"),
    "nheads 0": (_set("options", "nheads", 0), "nheads 0: must be in"),
    "dataset an absolute path": (_set("options", "dataset", "/etc/passwd"), "options.dataset: '/etc/passwd'"),
    "eval_dataset a relative path": (_set("options", "eval_dataset", "../spec.json"), "options.eval_dataset"),
    "dataset a list": (_set("options", "dataset", ["qvhighlights"]), "options.dataset"),
    "a feature dir an absolute path": (_set("options", "v_feat_dirs", ["/etc", "clip_features"]),
                                       "options.v_feat_dirs"),
    "a feature dir with ..": (_set("options", "t_feat_dirs", ["../clip_text_features"]), "options.t_feat_dirs"),
    "extractor id with ..": (_set("extractors", "clip", "../../home/someone/model"), "extractors.clip"),
    "extractor id a number": (_set("extractors", "blip2", 5), "extractors.blip2"),
    "extractor id with a control character": (_set("extractors", "clip", "openai/clip\n"), "extractors.clip"),
    "slowfast weights with ..": (_set("extractors", "slowfast", "a/../../w.safetensors"), "extractors.slowfast"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_bad_config_json_is_refused_naming_the_field(folder, case):
    change, message = CONFIG_CASES[case]
    _spoil_config(folder, change)
    with pytest.raises(CheckpointError, match="config.json") as e:
        load_checkpoint(folder)
    assert message in str(e.value)


def test_a_huge_or_deeply_nested_config_json_is_refused(folder):
    path = folder / "config.json"
    path.write_text(path.read_text() + " " * (2 << 20))
    with pytest.raises(CheckpointError, match=r"config.json: \d+ bytes, more than a config holds"):
        load_checkpoint(folder)
    path.write_text("[" * 200_000)
    with pytest.raises(CheckpointError, match="config.json: cannot read"):
        load_checkpoint(folder)


def test_unknown_and_machine_local_options_are_dropped(folder):
    _spoil_config(folder, lambda c: c["options"].update(not_an_option=[1], results_dir="/etc", resume="/etc/passwd"))
    _, ckpt = load_checkpoint(folder)
    assert not hasattr(ckpt["opt"], "results_dir") and not hasattr(ckpt["opt"], "resume")


def test_export_refuses_to_record_what_loading_would_refuse(exported, tmp_path):
    with pytest.raises(UserError, match="config.json: extractors.clip"):
        export(exported / "model.ckpt", tmp_path / "out", {"clip": "../models/clip"})
    assert not (tmp_path / "out").exists()


def test_command_line_sizes_are_bounded(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--hidden_dim", str(2 ** 20), "--nheads", "8"])
    assert "--hidden_dim 1048576: must be in [1, 4096]" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,message", [
    ("owner/..", "'..' path component"),
    ("../owner/name", "'..' path component"),
    ("a\\..\\b", "'..' path component"),
    ("/no/such/dir", "no such directory"),
    ("~no-such-user/x", "no such directory"),
    ("owner/na me", "neither a local directory nor a Hugging Face hub id"),
    ("owner/name/extra", "neither a local directory nor a Hugging Face hub id"),
    ("owner--x/name", "neither a local directory nor a Hugging Face hub id"),
    ("owner/name.", "neither a local directory nor a Hugging Face hub id"),
    ("ownér/name", "neither a local directory nor a Hugging Face hub id"),
    ("-owner/name", "neither a local directory nor a Hugging Face hub id"),
    ("o/" + "n" * 97, "neither a local directory nor a Hugging Face hub id"),
    ("", "not a model id"),
    (None, "not a model id"),
])
def test_a_malformed_hub_id_is_named(model, message):
    assert message in model_id_problem(model)


def test_hub_ids_and_local_directories_are_accepted(tmp_path):
    assert model_id_problem("openai/clip-vit-base-patch32") is None and model_id_problem("gpt2") is None
    assert model_id_problem(str(tmp_path)) is None and model_id_problem(str(tmp_path / "..")) is None


def test_load_checkpoint_refuses_a_malformed_hub_id_before_the_hub(monkeypatch):
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("reached the hub"))
    for path in ("owner/..", "own er/name", "owner/a..b"):
        with pytest.raises(CheckpointError, match="a checkpoint is a .ckpt file"):
            load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint("/no/such/dir/model")


# ---------------------------------------------------------------------------------------------------------------
def test_extractors_refuse_malformed_ids_and_files_before_transformers(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    from video_lights.features import blip2, clip, slowfast
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained",
                        lambda *a, **k: pytest.fail("reached transformers"))
    for model in ("owner/..", "bad id!/x", "owner/a--b"):
        with pytest.raises(clip.ModelError, match="pass a hub id"):
            clip.ClipExtractor(model)
        with pytest.raises(clip.ModelError, match="pass a hub id"):
            blip2.Blip2Extractor(model)
    with pytest.raises(clip.ModelError, match="not a directory"):
        clip.ClipExtractor("/no/such/dir")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}" + " " * (2 << 20))
    with pytest.raises(clip.ModelError, match=r"model/config.json: \d+ bytes"):
        clip.ClipExtractor(str(model_dir))
    (model_dir / "config.json").write_text("{}")
    (model_dir / "model.safetensors").write_bytes(struct.pack("<Q", 2 ** 60))
    with pytest.raises(clip.ModelError, match=f"model.safetensors: not a safetensors file .*{2 ** 60}-byte"):
        blip2.Blip2Extractor(str(model_dir))
    # a hub id is checked in its cached snapshot alike
    repo = tmp_path / "hub" / "models--someone--clip-bad"
    snap = repo / "snapshots" / ("b" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors").write_bytes(struct.pack("<Q", 2 ** 60))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(clip.ModelError, match=f"{'b' * 40}/model.safetensors: not a safetensors file"):
        clip.ClipExtractor("someone/clip-bad")
    weights = tmp_path / "slowfast.safetensors"
    weights.write_bytes(_safetensors({"w": _f32((0, 2 ** 40), (2 ** 38,))}, bytes(8)))
    with pytest.raises(slowfast.SlowFastError, match="slowfast.safetensors: tensor 'w': data_offsets"):
        slowfast.load_slowfast(weights)
