"""Options: reference names/defaults, derived fields, presets, opt.json round trip, inference merge."""
import json
import os

import pytest
import torch

from video_lights.engine.precision import cpu_has_native_bf16
from video_lights.config import DEAD_OPTIONS, PRESETS, ConfigError, build_parser, load_opt, parse_args, save_opt


def test_defaults_and_derived(tmp_path):
    opt = parse_args(["--device", "cpu", "--results_root", str(tmp_path / "res"), "--exp_id", "e1"])
    assert opt.v_feat_dim == 2816 and opt.t_feat_dim == 1280  # as given: the model adds tef
    assert opt.dataset == opt.eval_dataset == "qvhighlights" and not opt.no_pin_memory
    assert opt.device == torch.device("cpu")
    assert (opt.lr, opt.bsz, opt.eval_bsz, opt.n_epoch, opt.max_v_l, opt.max_q_l, opt.seed) == \
        (1e-4, 32, 100, 200, 75, 32, 2018)
    assert (opt.bicmf_layers, opt.enc_layers, opt.dec_layers, opt.eval_epoch) == (2, 2, 2, 5)
    assert opt.num_workers == min(4, len(os.sched_getaffinity(0)))
    assert opt.aux_loss and opt.amp == cpu_has_native_bf16() and not opt.fix_bicmf_mask  # --amp auto
    name = os.path.basename(opt.results_dir)
    assert name.startswith("hl-video_tef-e1-") and len(name.split("-")[-1]) == len("2026_01_01_00_00_00")
    assert opt.train_log_filepath == os.path.join(opt.results_dir, "train.log.txt")
    assert not os.path.exists(tmp_path / "res"), "parse_args must not create results_dir"
    for dead in DEAD_OPTIONS:
        assert not hasattr(opt, dead)


def test_ctx_mode_and_debug():
    from video_lights.model import input_dims
    opt = parse_args(["--ctx_mode", "video", "--device", "cpu"])
    assert opt.v_feat_dim == 2816 and input_dims(opt) == (2816, 1280)
    assert input_dims(parse_args(["--device", "cpu"])) == (2818, 1280)
    opt = parse_args(["--ctx_mode", "tef", "--device", "cpu"])
    assert input_dims(opt) == (2, 1280)
    opt = parse_args(["--debug", "--results_root", "results/qv", "--device", "cpu"])
    assert opt.results_root == os.path.join("results", "debug_results") and opt.num_workers == 0


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
    assert opt.v_feat_dim == 3584 and opt.t_feat_dim == 1280
    assert (opt.bicmf_layers, opt.enc_layers, opt.dec_layers) == (1, 3, 3)
    assert opt.mr_to_hd_loss and opt.hard_pos_neg_loss and opt.contrastive_align_loss
    opt = parse_args(["--preset", "qvhl", "--bsz", "8", "--v_feat_dim", "100", "--no_aux_loss", "--device", "cpu"])
    assert opt.bsz == 8 and opt.v_feat_dim == 100 and not opt.aux_loss
    ch = parse_args(["--preset", "charades_sta", "--device", "cpu"])
    assert (ch.dataset, ch.clip_length, ch.max_v_l, ch.n_epoch, ch.lr_drop, ch.eval_bsz) == \
        ("charades_sta", 1, 75, 100, 100, 4)  # clip length and max clips from the dataset spec
    assert ch.contrastive_align_loss_coef == 0.3 and ch.eval_path.endswith("charades_sta_test_tvr_format.jsonl")
    assert ch.eval_split_name == "test" and os.path.basename(ch.results_dir).startswith("charadesSTA-")
    assert parse_args(["--preset", "charades_sta", "--clip_length", "0.5", "--device", "cpu"]).clip_length == 0.5
    tv = parse_args(["--preset", "tvsum", "--dset_domain", "GA", "--device", "cpu"])
    assert (tv.dataset, tv.v_feat_dim, tv.t_feat_dim, tv.lr, tv.max_v_l, tv.bsz) == \
        ("tvsum", 2048, 512, 1e-3, 1000, 4)
    pt = parse_args(["--preset", "pretrain_sf_clip", "--device", "cpu"])
    assert (pt.bsz, pt.n_epoch, pt.v_feat_dim, pt.t_feat_dim) == (256, 50, 2816, 512)
    assert (pt.dataset, pt.eval_dataset) == ("pretrain_captions", "qvhighlights")
    assert parse_args(["--preset", "pretrain_asr", "--device", "cpu"]).dataset == "asr_pretrain"
    for name in PRESETS:
        parse_args(["--preset", name, "--device", "cpu"])
    assert "--preset" in build_parser().format_help()


def test_save_load_roundtrip(tmp_path):
    opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--exp_id", "rt", "--bsz", "16"])
    path = tmp_path / "opt.json"
    save_opt(opt, path)
    saved = json.loads(path.read_text())
    assert saved["v_feat_dim"] == 3584 and saved["device"] == "cpu" and "use_tef" not in saved
    assert saved["dataset"] == "qvhighlights" and saved["clip_length"] == 2
    back = load_opt(path)
    for k, v in vars(opt).items():
        if k != "amp_note":  # the log line names the --amp request; opt.json keeps what it resolved to
            assert getattr(back, k) == v, k
    assert load_opt(path, bsz=4).bsz == 4


def test_load_reference_opt_json(ref_fixture, tmp_path):
    """The fixture's opt.json is a resolved dump (it has use_tef, v_feat_dim 3586, dead keys): loads as is."""
    opt = load_opt(ref_fixture / "opt.json")
    assert opt.v_feat_dim == 3584 and opt.t_feat_dim == 1280 and opt.bicmf_layers == 1  # tef taken out again
    assert opt.dataset == "qvhighlights"  # from the authors' dset_name "hl"
    assert opt.device == torch.device("cpu") and not hasattr(opt, "main_metric")
    # an authors' training opt.json (written before tef, without derived fields, with dead keys)
    d = json.loads((ref_fixture / "opt.json").read_text())
    for k in ("use_tef", "use_video", "pin_memory", "ckpt_filepath"):
        d.pop(k)
    d["v_feat_dim"], d["device"] = 3584, 0
    (tmp_path / "opt.json").write_text(json.dumps(d))
    assert load_opt(tmp_path / "opt.json").v_feat_dim == 3584
    d["pre_norm"] = True  # an option with one working value
    (tmp_path / "opt.json").write_text(json.dumps(d))
    with pytest.raises(ConfigError, match="pre_norm = True is not supported"):
        load_opt(tmp_path / "opt.json")


def test_inference_merge(tmp_path):
    train = parse_args(["--preset", "qvhl", "--device", "cpu", "--eval_bsz", "64", "--hidden_dim", "128"])
    save_opt(train, tmp_path / "opt.json")
    ckpt = str(tmp_path / "model_best.ckpt")
    opt = parse_args(["--resume", ckpt, "--eval_split_name", "test", "--eval_path", "t.jsonl", "--device", "cpu",
                      "--eval_bsz", "8"], inference=True)
    assert opt.hidden_dim == 128 and opt.v_feat_dim == 3584 and opt.eval_bsz == 8
    assert opt.eval_split_name == "test" and opt.eval_path == "t.jsonl" and opt.results_dir == str(tmp_path)
    with pytest.raises(SystemExit):
        parse_args(["--resume", str(tmp_path / "nowhere" / "m.ckpt"), "--device", "cpu"], inference=True)


def test_inference_uses_saved_eval_file_and_reroots_features(tmp_path):
    train = parse_args(["--preset", "qvhl", "--feat_root", "/old/feats", "--device", "cpu",
                        "--eval_path", "/data/val.jsonl"])
    save_opt(train, tmp_path / "opt.json")
    ckpt = str(tmp_path / "model_best.ckpt")
    opt = parse_args(["--resume", ckpt, "--device", "cpu"], inference=True)
    assert opt.eval_path == "/data/val.jsonl" and opt.v_feat_dirs == train.v_feat_dirs  # from opt.json
    opt = parse_args(["--resume", ckpt, "--device", "cpu", "--feat_root", "/new"], inference=True)
    assert opt.v_feat_dirs == [os.path.join("/new", d) for d in ("slowfast_features", "clip_features",
                                                                 "blip_video_features")]


def test_inference_guards(tmp_path, capsys):
    train = parse_args(["--preset", "synthetic", "--device", "cpu"])
    assert train.feat_root == "data/synthetic"  # the effective root is saved, so --feat_root can re-root below it
    save_opt(train, tmp_path / "opt.json")
    ckpt = str(tmp_path / "m.ckpt")
    opt = parse_args(["--resume", ckpt, "--device", "cpu", "--feat_root", "/new"], inference=True)
    assert opt.v_feat_dirs[0] == os.path.join("/new", "features", "slowfast_features")
    with pytest.raises(SystemExit):  # another split name without its file would mislabel the val file
        parse_args(["--resume", ckpt, "--device", "cpu", "--eval_split_name", "test"], inference=True)
    assert "pass --eval_path" in capsys.readouterr().err
    for content in ('{"lr": ', "[1]"):
        (tmp_path / "opt.json").write_text(content)
        with pytest.raises(SystemExit) as e:
            parse_args(["--resume", ckpt, "--device", "cpu"], inference=True)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.startswith(f"error: {tmp_path / 'opt.json'}") and err.count("\n") == 1


@pytest.mark.parametrize("argv,message", [
    (["--pre_norm"], "unrecognized arguments: --pre_norm"),
    (["--span_loss_type", "ce"], "unrecognized arguments: --span_loss_type ce"),
    (["--bsz", "0"], "--bsz must be positive"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--ctx_mode", "audio"], "argument --ctx_mode: invalid choice"),
    (["--resume_all"], "--resume_all needs --resume"),
    (["--dataset", "charades_sta", "--eval_dataset", "qvhighlights"], "pass --clip_length"),
])
def test_bad_options_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(argv + ["--device", "cpu"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err
