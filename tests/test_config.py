"""Options: reference names/defaults, derived fields, presets, opt.json round trip, inference merge."""
import json
import os

import pytest
import torch

from video_lights.config import DEAD_OPTIONS, PRESETS, build_parser, load_opt, parse_args, save_opt


def test_defaults_and_derived(tmp_path):
    opt = parse_args(["--device", "cpu", "--results_root", str(tmp_path / "res"), "--exp_id", "e1"])
    assert opt.v_feat_dim == 2816 + 2 and opt.t_feat_dim == 1280
    assert opt.use_tef and opt.use_video and opt.pin_memory
    assert opt.device == torch.device("cpu")
    assert (opt.lr, opt.bsz, opt.eval_bsz, opt.n_epoch, opt.max_v_l, opt.max_q_l, opt.seed) == \
        (1e-4, 32, 100, 200, 75, 32, 2018)
    assert (opt.bicmf_layers, opt.enc_layers, opt.dec_layers, opt.eval_epoch, opt.num_workers) == (2, 2, 2, 5, 4)
    assert opt.aux_loss and not opt.amp and not opt.fix_bicmf_mask
    name = os.path.basename(opt.results_dir)
    assert name.startswith("hl-video_tef-e1-") and len(name.split("-")[-1]) == len("2026_01_01_00_00_00")
    assert opt.ckpt_filepath == os.path.join(opt.results_dir, "model.ckpt")
    assert not os.path.exists(tmp_path / "res"), "parse_args must not create results_dir"
    for dead in DEAD_OPTIONS:
        assert not hasattr(opt, dead)


def test_ctx_mode_and_debug():
    opt = parse_args(["--ctx_mode", "video", "--device", "cpu"])
    assert opt.v_feat_dim == 2816 and not opt.use_tef
    opt = parse_args(["--ctx_mode", "tef", "--device", "cpu"])
    assert opt.v_feat_dim == 2 and not opt.use_video
    opt = parse_args(["--debug", "--results_root", "results/qv", "--device", "cpu"])
    assert opt.results_root == os.path.join("results", "debug_results") and opt.num_workers == 0
    opt = parse_args(["--v_feat_dirs", "x/sub_ctx_feats", "--device", "cpu"])
    assert "-video_tef_sub-" in opt.results_dir


@pytest.mark.parametrize("value,expected", [("cpu", "cpu"), ("-1", "cpu"), ("auto", None)])
def test_device(value, expected):
    opt = parse_args(["--device", value])
    want = expected or ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert opt.device == torch.device(want)


def test_device_cuda_unavailable(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    for v in ("0", "cuda:0"):
        with pytest.raises(SystemExit):
            parse_args(["--device", v])
        assert "CUDA is not available" in capsys.readouterr().err


def test_presets_and_explicit_flags_win():
    opt = parse_args(["--preset", "qvhl", "--feat_root", "F", "--device", "cpu"])
    assert opt.v_feat_dirs == [os.path.join("F", d) for d in ("slowfast_features", "clip_features",
                                                             "blip_video_features")]
    assert opt.t_feat_dirs == [os.path.join("F", d) for d in ("clip_text_features", "blip_aug_text_features_openai")]
    assert opt.v_feat_dim == 3584 + 2 and opt.t_feat_dim == 1280
    assert (opt.bicmf_layers, opt.enc_layers, opt.dec_layers) == (1, 3, 3)
    assert opt.mr_to_hd_loss and opt.hard_pos_neg_loss and opt.contrastive_align_loss
    opt = parse_args(["--preset", "qvhl", "--bsz", "8", "--v_feat_dim", "100", "--no_aux_loss", "--device", "cpu"])
    assert opt.bsz == 8 and opt.v_feat_dim == 102 and not opt.aux_loss
    ch = parse_args(["--preset", "charades_sta", "--device", "cpu"])
    assert (ch.dset_name, ch.clip_length, ch.n_epoch, ch.lr_drop, ch.eval_bsz) == ("charadesSTA", 1, 100, 100, 4)
    assert ch.contrastive_align_loss_coef == 0.3 and ch.eval_path.endswith("charades_sta_test_tvr_format.jsonl")
    tv = parse_args(["--preset", "tvsum", "--dset_domain", "GA", "--device", "cpu"])
    assert (tv.dset_name, tv.v_feat_dim, tv.t_feat_dim, tv.lr, tv.max_v_l, tv.bsz) == \
        ("tvsum", 2050, 512, 1e-3, 1000, 4)
    pt = parse_args(["--preset", "pretrain_sf_clip", "--device", "cpu"])
    assert (pt.bsz, pt.n_epoch, pt.v_feat_dim, pt.t_feat_dim) == (256, 50, 2818, 512)
    for name in PRESETS:
        parse_args(["--preset", name, "--device", "cpu"])
    assert "--preset" in build_parser().format_help()


def test_save_load_roundtrip(tmp_path):
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--exp_id", "rt", "--bsz", "16"])
    path = tmp_path / "opt.json"
    save_opt(opt, path)
    saved = json.loads(path.read_text())
    assert saved["v_feat_dim"] == 3584 and saved["device"] == "cpu" and "use_tef" not in saved
    back = load_opt(path)
    for k, v in vars(opt).items():
        assert getattr(back, k) == v, k
    assert load_opt(path, bsz=4).bsz == 4


def test_load_reference_opt_json(ref_fixture, tmp_path):
    """The fixture's opt.json is a resolved dump (it has use_tef, v_feat_dim 3586, dead keys): loads as is."""
    opt = load_opt(ref_fixture / "opt.json")
    assert opt.v_feat_dim == 3586 and opt.t_feat_dim == 1280 and opt.bicmf_layers == 1
    assert opt.device == torch.device("cpu") and not hasattr(opt, "main_metric")
    # an authors' training opt.json (written before tef, without derived fields, with dead keys)
    d = json.loads((ref_fixture / "opt.json").read_text())
    for k in ("use_tef", "use_video", "pin_memory", "ckpt_filepath"):
        d.pop(k)
    d["v_feat_dim"], d["device"] = 3584, 0
    (tmp_path / "opt.json").write_text(json.dumps(d))
    assert load_opt(tmp_path / "opt.json").v_feat_dim == 3586


def test_inference_merge(tmp_path):
    train = parse_args(["--preset", "qvhl", "--device", "cpu", "--eval_bsz", "64", "--hidden_dim", "128"])
    save_opt(train, tmp_path / "opt.json")
    ckpt = str(tmp_path / "model_best.ckpt")
    opt = parse_args(["--resume", ckpt, "--eval_split_name", "test", "--eval_path", "t.jsonl", "--device", "cpu",
                      "--eval_bsz", "8"], inference=True)
    assert opt.hidden_dim == 128 and opt.v_feat_dim == 3586 and opt.eval_bsz == 8
    assert opt.eval_split_name == "test" and opt.eval_path == "t.jsonl" and opt.results_dir == str(tmp_path)
    with pytest.raises(SystemExit):
        parse_args(["--resume", str(tmp_path / "nowhere" / "m.ckpt"), "--device", "cpu"], inference=True)
