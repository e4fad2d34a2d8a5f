"""SlowFast-R50 as HERO's extractor feeds it: clip assembly and frame sampling against the index lists HERO's own
functions give, the model's shapes, names and output order, the Caffe2 converter (restricted unpickler, strict blob
mapping, atomic output) and the strict safetensors loader. Tiny frames and width-8 models: seconds on 2 cores."""
import io
import os
import pickle
import struct

import numpy as np
import pytest
import torch

pytest.importorskip("safetensors", reason="the video extra is not installed: pip install -e .[video]")

import safetensors.torch  # noqa: E402

from video_lights.features.convert_slowfast import (blob_to_key, convert, is_optimizer_blob,  # noqa: E402
                                                    key_to_blob, load_caffe2_blobs, main)
from video_lights.features.slowfast import (PKL_URL, SLOW_INDICES, ClipAssembler, SlowFastError,  # noqa: E402
                                            SlowFastExtractor, SlowFastR50, clip_frame_indices, load_slowfast,
                                            pathway_inputs, save_slowfast)

# ---- HERO's frame sampling ---------------------------------------------------------------------------------------

# The 32 positions of HERO's `temporal_sampling(get_start_end_idx(...))` inside one clip of 30-fps frames, by source
# fps (floor(avg_frame_rate): 29.97 -> 29): floor(i * (64 * fps / 30 - 1) / 31) clamped to the clip, written out.
GOLDEN_2S = {
    30: list(range(0, 60, 2)) + [59, 59],
    29: [0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53,
         54, 56, 58, 59],
    25: [0, 1, 3, 5, 6, 8, 10, 11, 13, 15, 16, 18, 20, 21, 23, 25, 27, 28, 30, 32, 33, 35, 37, 38, 40, 42, 43, 45,
         47, 48, 50, 52],  # only the first ~1.75 s of the clip is seen
    60: [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 45, 49, 53, 57] + [59] * 17,
}
GOLDEN_1S = {
    30: list(range(0, 30, 2)) + [29] * 17,
    25: [0, 1, 3, 5, 6, 8, 10, 11, 13, 15, 16, 18, 20, 21, 23, 25, 27, 28] + [29] * 14,
}


@pytest.mark.parametrize("src_fps", sorted(GOLDEN_2S))
def test_clip_frame_indices_2s_clips(src_fps):
    got = clip_frame_indices(60, src_fps)
    assert got.dtype == np.int64 and got.shape == (32,)
    assert got.tolist() == GOLDEN_2S[src_fps]


@pytest.mark.parametrize("src_fps", sorted(GOLDEN_1S))
def test_clip_frame_indices_1s_clips(src_fps):
    assert clip_frame_indices(30, src_fps).tolist() == GOLDEN_1S[src_fps]


def test_slow_indices_are_hero_linspace_not_a_stride():
    assert SLOW_INDICES == (0, 4, 8, 13, 17, 22, 26, 31)
    assert SLOW_INDICES == tuple(torch.linspace(0, 31, 8).long().tolist())  # HERO `pack_pathway_output`


# ---- clip assembly on a stream of frames ------------------------------------------------------------------------

def _frame(i):
    """A tiny frame (1, 2, 3) whose pixels encode the index i (the assembler does not care about the size)."""
    return np.full((1, 2, 3), (i % 256, i // 256, 7), np.uint8)


def _ids(clip):
    return (clip[:, 0, 0, 0].astype(int) + 256 * clip[:, 0, 0, 1].astype(int)).tolist()


def _assemble(n_frames, clip_len, duration):
    """(clips as index lists, the frame index at which each clip came out of push; None = from finish)."""
    assembler = ClipAssembler(clip_len, duration)
    clips, when = [], []
    for i in range(n_frames):
        for clip in assembler.push(_frame(i)):
            clips.append(clip)
            when.append(i)
    for clip in assembler.finish():
        clips.append(clip)
        when.append(None)
    assert all(c.dtype == np.uint8 and c.shape == (clip_len * 30, 1, 2, 3) for c in clips)
    return [_ids(c) for c in clips], when


def test_five_second_video_last_clip_is_the_last_second_twice():
    clips, when = _assemble(150, 2, 5.0)
    assert len(clips) == 3 and when == [59, 119, None]  # complete clips come out as soon as they are complete
    assert clips[0] == list(range(60)) and clips[1] == list(range(60, 120))
    assert clips[2] == list(range(120, 150)) * 2
    # what the fast pathway of that clip sees at src 30 fps
    sampled = [clips[2][i] for i in clip_frame_indices(60, 30)]
    assert sampled == list(range(120, 150, 2)) + list(range(120, 150, 2)) + [149, 149]


def test_half_second_is_padded_with_the_last_frame():
    clips, _ = _assemble(165, 2, 5.5)  # 5.5 s: 165 frames -> 180 (6 s, even: no second padding)
    assert len(clips) == 3
    assert clips[2] == list(range(120, 165)) + [164] * 15


def test_both_paddings():
    clips, _ = _assemble(135, 2, 4.5)  # 4.5 s -> 5 s (last frame) -> 6 s (last second again)
    assert len(clips) == 3
    assert clips[2] == (list(range(120, 135)) + [134] * 15) * 2


def test_one_second_clips_never_repeat_a_second():
    clips, _ = _assemble(150, 1, 5.0)
    assert [c[0] for c in clips] == [0, 30, 60, 90, 120] and clips[-1] == list(range(120, 150))
    clips, _ = _assemble(165, 1, 5.5)
    assert len(clips) == 6 and clips[-1] == list(range(150, 165)) + [164] * 15


@pytest.mark.parametrize("duration, n_clips", [(4.0, 2), (4.01, 3), (3.9, 2), (None, 4), (-1.0, 4), (0.0, 4),
                                               (100.0, 4)])
def test_duration_keeps_ceil_duration_over_clip_len_clips(duration, n_clips):
    # 200 frames (6.67 s at 30 fps) -> 4 clips after padding; a known duration cuts them to ceil(duration / 2)
    clips, _ = _assemble(200, 2, duration)
    assert len(clips) == n_clips
    assert [c[0] for c in clips] == [0, 60, 120, 180][:n_clips]


def test_duration_truncation_150s():
    # the fps filter may give a frame more than duration * 30: HERO keeps ceil(duration / clip_len) clips
    assert len(_assemble(4501, 2, 150.0)[0]) == 75
    assert len(_assemble(4501, 2, 150.02)[0]) == 76


def test_frames_past_the_last_clip_are_dropped():
    assembler = ClipAssembler(2, 2.0)
    out = [c for i in range(200) for c in assembler.push(_frame(i))]
    assert len(out) == 1 and assembler.finish() == []


def test_no_frames_no_clips():
    assert ClipAssembler(2, None).finish() == []
    with pytest.raises(ValueError):
        ClipAssembler(1.5, None)


# ---- model inputs -----------------------------------------------------------------------------------------------

def test_pathway_inputs_normalise_like_hero():
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (2, 60, 4, 5, 3), dtype=np.uint8)
    slow, fast = pathway_inputs(clips, 30)
    assert slow.shape == (2, 3, 8, 4, 5) and fast.shape == (2, 3, 32, 4, 5)
    assert slow.dtype == fast.dtype == torch.float32
    # HERO: uint8 -> float, B C T H W, / 255., then Normalize with float32 mean / std tensors and std + 1e-8
    x = torch.from_numpy(clips)[:, torch.from_numpy(clip_frame_indices(60, 30))].float().permute(0, 4, 1, 2, 3)
    mean = torch.FloatTensor([0.45] * 3).view(1, 3, 1, 1, 1)
    std = torch.FloatTensor([0.225] * 3).view(1, 3, 1, 1, 1)
    assert torch.equal(fast, (x / 255. - mean) / (std + 1e-8))
    assert torch.equal(slow, fast[:, :, list(SLOW_INDICES)])
    # a torch uint8 tensor works the same
    assert torch.equal(pathway_inputs(torch.from_numpy(clips), 30)[1], fast)
    with pytest.raises(ValueError):
        pathway_inputs(clips[0], 30)


def test_pathway_inputs_pick_the_golden_frames():
    clips, _ = _assemble(150, 2, 5.0)
    clip = np.stack([np.full((2, 2, 3), i, np.uint8) for i in clips[2]])[None]  # values 120..149 fit in uint8
    slow, fast = pathway_inputs(clip, 30)
    values = ((fast[0, 0, :, 0, 0] * (torch.tensor(0.225) + 1e-8) + 0.45) * 255).round().long().tolist()
    assert values == list(range(120, 150, 2)) * 2 + [149, 149]
    assert slow[0, 0, :, 0, 0].tolist() == fast[0, 0, list(SLOW_INDICES), 0, 0].tolist()


# ---- the network ------------------------------------------------------------------------------------------------

def test_full_width_model_is_pyslowfasts():
    with torch.device("meta"):
        model = SlowFastR50()
    state = model.state_dict()
    assert model.feature_dim == 2304
    assert len(state) == 552 and not any("num_batches_tracked" in k for k in state)
    n_params = sum(p.numel() for p in model.parameters())
    assert round(n_params / 1e6, 2) == 34.57  # with the 400-way head
    shapes = {
        "s1.pathway0_stem.conv.weight": (64, 3, 1, 7, 7),
        "s1.pathway1_stem.conv.weight": (8, 3, 5, 7, 7),
        "s1_fuse.conv_f2s.weight": (16, 8, 7, 1, 1),
        "s2.pathway0_res0.branch1.weight": (256, 80, 1, 1, 1),
        "s2.pathway0_res0.branch2.a.weight": (64, 80, 1, 1, 1),
        "s2.pathway1_res0.branch2.a.weight": (8, 8, 3, 1, 1),
        "s2_fuse.conv_f2s.weight": (64, 32, 7, 1, 1),
        "s3.pathway0_res0.branch1.weight": (512, 320, 1, 1, 1),
        "s3.pathway0_res3.branch2.a.weight": (128, 512, 1, 1, 1),
        "s4.pathway0_res0.branch2.a.weight": (256, 640, 3, 1, 1),
        "s4.pathway0_res5.branch2.c_bn.running_var": (1024,),
        "s4_fuse.conv_f2s.weight": (256, 128, 7, 1, 1),
        "s5.pathway0_res0.branch1.weight": (2048, 1280, 1, 1, 1),
        "s5.pathway0_res2.branch2.b.weight": (512, 512, 1, 3, 3),
        "s5.pathway1_res2.branch2.c_bn.weight": (256,),
        "head.projection.weight": (400, 2304),
        "head.projection.bias": (400,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert "s2.pathway0_res1.branch1.weight" not in state  # projection shortcut on the first block only
    with pytest.raises(ValueError):
        SlowFastR50(12)


def _tiny_model(seed=0, width=8):
    """A width-8 model with random weights and random batch-norm statistics (so that eval-mode BN matters)."""
    torch.manual_seed(seed)
    model = SlowFastR50(width)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(("running_mean", "bn.bias")):
                t.normal_(0, 0.1)
            elif name.endswith(("running_var", "bn.weight")):
                t.uniform_(0.5, 1.5)
    return model.eval()


def _inputs(batch=2, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 8, size, size, generator=g), torch.randn(batch, 3, 32, size, size, generator=g)


def test_forward_is_slow_then_fast_global_averages():
    model = _tiny_model()
    res5 = {}
    model.s5.register_forward_hook(lambda module, args, out: res5.update(out=out))
    slow, fast = _inputs()
    with torch.no_grad():
        out = model(slow, fast)
    assert out.shape == (2, model.feature_dim) == (2, 288) and out.dtype == torch.float32
    x_slow, x_fast = res5["out"]
    assert x_slow.shape[:3] == (2, 256, 8) and x_fast.shape[:3] == (2, 32, 32)
    expected = torch.cat([x_slow.mean((2, 3, 4)), x_fast.mean((2, 3, 4))], 1)
    assert torch.allclose(out, expected, rtol=0, atol=1e-6)
    with torch.no_grad():
        other_slow = model(torch.randn_like(slow), fast)
        other_fast = model(slow, torch.randn_like(fast))
    # the fast pathway never sees the slow one; the slow one sees the fast one through the laterals
    assert torch.equal(other_slow[:, 256:], out[:, 256:]) and not torch.allclose(other_slow[:, :256], out[:, :256])
    assert not torch.allclose(other_fast[:, 256:], out[:, 256:]) and not torch.allclose(other_fast[:, :256],
                                                                                         out[:, :256])
    with torch.no_grad():
        assert torch.equal(model.train()(slow, fast), out)  # batch norm uses the running statistics always


def test_resolution_at_224():
    model = _tiny_model()
    res5 = {}
    model.s5.register_forward_hook(lambda module, args, out: res5.update(out=out))
    with torch.no_grad():
        model(*_inputs(batch=1, size=224))
    assert res5["out"][0].shape == (1, 256, 8, 7, 7) and res5["out"][1].shape == (1, 32, 32, 7, 7)


# ---- the Caffe2 checkpoint converter ----------------------------------------------------------------------------

# blob names from PySlowFast's model zoo checkpoint and PySlowFast's c2_model_loading.py rules
PYSLOWFAST_NAMES = {
    "conv1_w": "s1.pathway0_stem.conv.weight",
    "res_conv1_bn_s": "s1.pathway0_stem.bn.weight",
    "res_conv1_bn_riv": "s1.pathway0_stem.bn.running_var",
    "t_conv1_w": "s1.pathway1_stem.conv.weight",
    "t_res_conv1_bn_rm": "s1.pathway1_stem.bn.running_mean",
    "t_pool1_subsample_w": "s1_fuse.conv_f2s.weight",
    "t_pool1_subsample_bn_b": "s1_fuse.bn.bias",
    "t_res2_2_branch2c_bn_subsample_w": "s2_fuse.conv_f2s.weight",
    "t_res3_3_branch2c_bn_subsample_bn_s": "s3_fuse.bn.weight",
    "t_res4_5_branch2c_bn_subsample_bn_riv": "s4_fuse.bn.running_var",
    "res2_0_branch1_w": "s2.pathway0_res0.branch1.weight",
    "res3_0_branch1_bn_s": "s3.pathway0_res0.branch1_bn.weight",
    "res4_5_branch2a_w": "s4.pathway0_res5.branch2.a.weight",
    "res4_4_branch2c_bn_b": "s4.pathway0_res4.branch2.c_bn.bias",
    "t_res5_2_branch2b_bn_rm": "s5.pathway1_res2.branch2.b_bn.running_mean",
    "t_res2_0_branch1_bn_riv": "s2.pathway1_res0.branch1_bn.running_var",
    "pred_w": "head.projection.weight",
    "pred_b": "head.projection.bias",
}


def test_blob_names_map_as_pyslowfast_maps_them():
    for blob, key in PYSLOWFAST_NAMES.items():
        assert blob_to_key(blob) == key, blob
        assert key_to_blob(key) == blob, key
    for name in ("res2_0_branch2d_w", "conv1_bn_s", "res_conv1_w", "foo", "t_res2_2_branch2c_bn_subsample_b_x"):
        assert blob_to_key(name) is None or key_to_blob(blob_to_key(name)) != name, name
    for name in ("conv1_w_momentum", "res_conv1_bn_s_momentum", "lr", "model_iter"):
        assert is_optimizer_blob(name)
    assert not is_optimizer_blob("conv1_w")


class _Py2Pickler(pickle._Pickler):
    """Writes strings as Python 2 does (8-bit str opcodes, read back with encoding='latin1'), so the synthetic file
    is shaped like the model zoo's Python 2 pickle."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def _caffe2_blobs(model, decoys=True):
    blobs = {key_to_blob(k): v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if decoys:  # optimizer state, as in the real file
        blobs.update({f"{name}_momentum": np.zeros(1, np.float32) for name in list(blobs)})
        blobs["lr"] = np.array([0.01], np.float32)
        blobs["model_iter"] = np.array([196000], np.int64)
    return blobs


def _write_pkl(path, blobs):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump({"blobs": blobs})
    # the model zoo file was written with numpy 1 under Python 2: numpy.core, not numpy._core
    path.write_bytes(buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    return path


def test_full_width_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = SlowFastR50(64)
    pkl = _write_pkl(tmp_path / "SLOWFAST_8x8_R50.pkl", _caffe2_blobs(model))
    assert b"cnumpy.core.multiarray\n_reconstruct" in pkl.read_bytes()[:200]
    width, n = convert(pkl, tmp_path / "sf.safetensors")
    assert (width, n) == (64, 552)
    loaded = load_slowfast(tmp_path / "sf.safetensors")
    assert loaded.width == 64 and not loaded.training
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_command_line_round_trip(tmp_path, capsys):
    model = _tiny_model()
    pkl = _write_pkl(tmp_path / "sf.pkl", _caffe2_blobs(model))
    out = tmp_path / "weights" / "sf.safetensors"
    assert main([str(pkl), str(out)]) == 0
    assert "552 tensors" in capsys.readouterr().out
    with safetensors.safe_open(str(out), "pt") as f:
        assert f.metadata()["width"] == "8"
    loaded = load_slowfast(out)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    slow, fast = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(slow, fast), model(slow, fast))


class _RunsCode:
    """Pickles to a call of os.system: unpickling it with pickle.load would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_runs_code_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"blobs": {"conv1_w": _RunsCode(marker)}}, protocol=2))
    out = tmp_path / "out.safetensors"
    assert main([str(pkl), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(pkl) in err
    assert f"{os.system.__module__}.system" in err and "nothing was executed" in err
    with pytest.raises(SlowFastError, match="refused"):
        load_caffe2_blobs(pkl)
    assert not marker.exists() and not out.exists()


def _convert_error(tmp_path, blobs):
    pkl = _write_pkl(tmp_path / "sf.pkl", blobs)
    out = tmp_path / "out.safetensors"
    with pytest.raises(SlowFastError) as e:
        convert(pkl, out)
    assert not out.exists() and str(pkl) in str(e.value)
    return str(e.value)


def test_missing_blob_is_named(tmp_path):
    blobs = _caffe2_blobs(_tiny_model())
    del blobs["t_res4_5_branch2c_bn_subsample_bn_riv"], blobs["res3_2_branch2b_w"]
    message = _convert_error(tmp_path, blobs)
    assert "missing (2)" in message and "t_res4_5_branch2c_bn_subsample_bn_riv" in message
    assert "res3_2_branch2b_w" in message


def test_misshapen_blob_is_named(tmp_path):
    blobs = _caffe2_blobs(_tiny_model())
    blobs["res4_1_branch2a_w"] = blobs["res4_1_branch2a_w"][:, :, :1]
    blobs["pred_b"] = blobs["pred_b"].astype(np.float64)
    message = _convert_error(tmp_path, blobs)
    assert "res4_1_branch2a_w (32, 128, 1, 1, 1)" in message and "(model: (32, 128, 3, 1, 1)" in message
    assert "pred_b (dtype float64)" in message


def test_unexpected_blob_is_named(tmp_path):
    blobs = _caffe2_blobs(_tiny_model())
    blobs["nonlocal_conv4_5_theta_w"] = np.zeros(1, np.float32)
    blobs["t_res2_1_branch2c_bn_subsample_w"] = blobs["t_res2_2_branch2c_bn_subsample_w"]  # not the last block
    blobs["conv1_b"] = np.zeros(8, np.float32)
    message = _convert_error(tmp_path, blobs)
    assert "unexpected blobs (3)" in message
    for name in ("nonlocal_conv4_5_theta_w", "t_res2_1_branch2c_bn_subsample_w", "conv1_b"):
        assert name in message


def test_an_existing_output_survives_a_failed_conversion(tmp_path):
    blobs = _caffe2_blobs(_tiny_model())
    del blobs["conv1_w"]
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"previous")
    pkl = _write_pkl(tmp_path / "sf.pkl", blobs)
    assert main([str(pkl), str(out)]) == 2
    assert out.read_bytes() == b"previous"


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    pkl = _write_pkl(tmp_path / "sf.pkl", _caffe2_blobs(_tiny_model()))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    assert main([str(pkl), str(out_dir / "sf.safetensors")]) == 130
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("content, reason", [
    (b"hello, not a pickle", "not a readable pickle"),
    (pickle.dumps({"blobs": {}}, protocol=2)[:-5], "not a readable pickle"),
    (pickle.dumps([1, 2, 3], protocol=2), "expected a dict with a 'blobs' dict"),
    (pickle.dumps({"weights": {}}, protocol=2), "expected a dict with a 'blobs' dict"),
])
def test_bad_files_give_one_error_line(tmp_path, capsys, content, reason):
    pkl = tmp_path / "bad.pkl"
    pkl.write_bytes(content)
    assert main([str(pkl), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason in err and str(pkl) in err


def test_missing_pkl_says_where_to_download_it(tmp_path, capsys):
    assert main([str(tmp_path / "SLOWFAST_8x8_R50.pkl"), str(tmp_path / "out.safetensors")]) == 2
    assert PKL_URL in capsys.readouterr().err


# ---- the safetensors loader -------------------------------------------------------------------------------------

def test_missing_weights_say_how_to_make_them(tmp_path, monkeypatch):
    with pytest.raises(SlowFastError) as e:
        load_slowfast(tmp_path / "sf.safetensors")
    message = str(e.value)
    assert PKL_URL in message and "SLOWFAST_8x8_R50.pkl" in message
    assert f"python -m video_lights.features.convert_slowfast SLOWFAST_8x8_R50.pkl {tmp_path / 'sf.safetensors'}" \
        in message
    # no path: the default place under the cache directory, named in the message
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    default = tmp_path / "cache" / "video_lights" / "SLOWFAST_8x8_R50.safetensors"
    with pytest.raises(SlowFastError, match=str(default)):
        load_slowfast(None)
    model = _tiny_model()
    save_slowfast(model.state_dict(), 8, default)
    assert load_slowfast(None).width == 8


def test_loader_names_every_bad_key(tmp_path):
    state = dict(_tiny_model().state_dict())
    del state["s3.pathway1_res2.branch2.b_bn.running_var"]
    state["s2.pathway0_res0.branch2.a.weight"] = state["s2.pathway0_res0.branch2.a.weight"][:4]
    state["s6.pathway0_res0.branch1.weight"] = torch.zeros(1)
    path = tmp_path / "sf.safetensors"
    save_slowfast(state, 8, path)
    with pytest.raises(SlowFastError) as e:
        load_slowfast(path)
    message = str(e.value)
    assert str(path) in message
    for key in ("s3.pathway1_res2.branch2.b_bn.running_var", "s2.pathway0_res0.branch2.a.weight",
                "s6.pathway0_res0.branch1.weight"):
        assert key in message
    assert "missing (1)" in message and "unexpected (1)" in message and "wrong shape or dtype (1)" in message


def test_loader_refuses_other_files(tmp_path):
    pkl = _write_pkl(tmp_path / "SLOWFAST_8x8_R50.pkl", {"conv1_w": np.zeros(1, np.float32)})
    with pytest.raises(SlowFastError, match="convert it"):
        load_slowfast(pkl)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(SlowFastError, match="not a safetensors file"):
        load_slowfast(junk)
    no_width = tmp_path / "no_width.safetensors"
    safetensors.torch.save_file(dict(_tiny_model().state_dict()), str(no_width))
    with pytest.raises(SlowFastError, match="width"):
        load_slowfast(no_width)


# ---- the extractor ----------------------------------------------------------------------------------------------

def test_extractor_batches_clips(tmp_path):
    model = _tiny_model()
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8) for _ in range(5)]
    extractor = SlowFastExtractor(model, batch_size=2)
    rows = extractor.features(clips, 29)
    assert rows.shape == (5, 288) and rows.dtype == np.float32
    with torch.no_grad():
        one_by_one = np.concatenate([model(*pathway_inputs(c[None], 29)).numpy() for c in clips])
    np.testing.assert_allclose(rows, one_by_one, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(extractor.features(iter(clips), 29), rows)  # a generator, as from ClipAssembler
    np.testing.assert_array_equal(extractor.features(np.stack(clips), 29), rows)
    assert extractor.features([], 29).shape == (0, 288)
    # from a weights file
    save_slowfast(model.state_dict(), 8, tmp_path / "sf.safetensors")
    from_file = SlowFastExtractor(str(tmp_path / "sf.safetensors"), batch_size=3)
    np.testing.assert_array_equal(from_file.features(clips[:3], 29), rows[:3])
    with pytest.raises(ValueError):
        SlowFastExtractor(model, batch_size=0)
