"""Command-line configuration: the authors' options, presets, dataset specs, and opt.json save/load.

Usage:
    opt = parse_args(["--preset", "qvhl", "--feat_root", "../Datasets/qvhl/features"])
    save_opt(opt, os.path.join(opt.results_dir, "opt.json"))      # done by the trainer
    opt = load_opt("results/.../opt.json")                           # ours or the authors'
    opt = parse_args(["--resume", "results/.../model_best.ckpt", "--eval_split_name", "val"], inference=True)

Option names and defaults follow the authors' video_lights/config.py (BaseOptions / TestOptions), minus the
options that do nothing there (DEAD_OPTIONS) and those with one legal value (FIXED_OPTIONS); opt.json files that
still contain them load (the keys are checked and dropped). What a dataset is comes from its spec
(--dataset / --eval_dataset: a registered name or a spec file, data/specs.py): --clip_length and --max_v_l default
to the spec's values. --v_feat_dim is always the video feature width WITHOUT tef; the model adds the tef dims.

`parse_args` never touches the filesystem (except that the inference variant *reads* the training opt.json next
to --resume). Creating results_dir and writing opt.json is the trainer's job.

Derived fields (not saved, recomputed on load):
    results_dir       = results_root/"{tag}-{ctx_mode}-{exp_id}-{YYYY_MM_DD_HH_MM_SS}" (tag: the dataset spec's,
                        "hl" for QVHighlights; with --debug the last component of results_root is replaced by
                        "debug_results" and num_workers is 0); the trainer makes it unique when it creates it
    train_log_filepath, eval_log_filepath, tensorboard_log_dir (inside results_dir)
    device            = torch.device
"""
import argparse
import math
import os
import sys
import time

import torch

from video_lights.data.annotations import DataError
from video_lights.data.specs import REGISTRY, load_spec
from video_lights.engine.precision import AMP_CHOICES, resolve_amp
from video_lights.utils.cli import ArgumentParser, UserError
from video_lights.utils.io import load_json, save_json

# Options of the authors that do nothing there; ignored when found in an old opt.json.
DEAD_OPTIONS = ("a_feat_dir", "a_feat_dim", "txt_drop_ratio", "conf_thd", "main_metric", "no_norm_tfeat",
                "ckpt_filepath", "pin_memory", "use_tef", "use_video")
# Options of the authors with a single working value; an opt.json with another value is refused.
FIXED_OPTIONS = {"position_embedding": "sine", "span_loss_type": "l1", "pre_norm": False}
# The authors' dset_name -> our dataset spec, for their opt.json files and checkpoints.
LEGACY_DATASETS = {"hl": "qvhighlights", "charadesSTA": "charades_sta", "tacos": "tacos", "tvsum": "tvsum",
                   "youtube_uni": "youtube_highlights"}

# Fields computed from the options (not options themselves); recomputed on load.
DERIVED_FIELDS = ("train_log_filepath", "eval_log_filepath", "tensorboard_log_dir", "amp_note")

# TestOptions: options that inference keeps from its own command line instead of the training opt.json.
INFERENCE_KEEP = ("results_root", "num_workers", "nms_thd", "debug",
                  "resume", "resume_all", "no_sort_results", "eval_id", "eval_results_dir", "model_dir", "device",
                  "amp")
# Sizes an option may ask for, (lowest, highest): far above every published setting (hidden_dim 256, 10 queries,
# 3 layers, max_q_l 32, TVSum's max_v_l 1000), low enough that a hostile opt.json or export config cannot make
# building the model or its inputs exhaust memory (an embedding of max_q_l x hidden_dim, layers of
# hidden_dim x dim_feedforward, attention over max_v_l clips); max_v_l -1 = no limit.
SIZE_BOUNDS = {"hidden_dim": (1, 4096), "nheads": (1, 64), "dim_feedforward": (1, 16384),
               "enc_layers": (0, 24), "dec_layers": (1, 24), "bicmf_layers": (0, 24), "num_queries": (1, 1000),
               "contrastive_hdim": (1, 4096), "v_feat_dim": (0, 65536), "t_feat_dim": (1, 65536),
               "max_q_l": (1, 4096), "max_v_l": (-1, 100_000), "max_windows": (1, 1000),
               "max_before_nms": (1, 100_000), "max_after_nms": (1, 100_000)}
DEFAULT_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class ConfigError(UserError):
    """Options that do not fit together, or a saved opt.json that cannot be used."""


# ---------------------------------------------------------------------------------------------------------------
# Presets: the authors' training scripts (video_lights/scripts/** of their repository): dataset specs, data
# files, feature dirs and hyperparameters. Feature dirs are relative to
# --feat_root (whose default depends on the preset). Explicit command-line flags always win over a preset.
_VID = {"sf": ("slowfast_features", 2304), "clip": ("clip_features", 512), "blip": ("blip_video_features", 768)}
_COMMON_VL = dict(ctx_mode="video_tef", bicmf_layers=1, enc_layers=3, dec_layers=3,
                  mr_to_hd_loss=True, hard_pos_neg_loss=True, contrastive_align_loss=True)


def _feats(video, text):
    """video/text: lists of (dir_name, dim) -> preset fields (dirs stay relative until --feat_root is known)."""
    return dict(v_feat_dirs=[d for d, _ in video], v_feat_dim=sum(n for _, n in video),
                t_feat_dirs=[d for d, _ in text], t_feat_dim=sum(n for _, n in text))


_QVHL_DATA = dict(dataset="qvhighlights", train_path="data/highlight_train_release.jsonl",
                  eval_path="data/highlight_val_release.jsonl", eval_split_name="val")
_CHARADES_DATA = dict(dataset="charades_sta", train_path="data/charades_sta/charades_sta_train_tvr_format.jsonl",
                      eval_path="data/charades_sta/charades_sta_test_tvr_format.jsonl", eval_split_name="test",
                      bsz=32, eval_bsz=4, lr=1e-4, lr_drop=100, n_epoch=100,
                      contrastive_align_loss_coef=0.3, hard_pos_neg_loss_coef=10.0)
_PRETRAIN_DATA = dict(dataset="pretrain_captions", eval_dataset="qvhighlights",
                      train_path="data/pretrain/pre_train_blip.jsonl",
                      eval_path="data/highlight_val_release.jsonl", eval_split_name="val",
                      bsz=256, num_workers=8, n_epoch=50, max_es_cnt=100, contrastive_align_loss_coef=0.01)
_TVSUM_DATA = dict(dataset="tvsum", train_path="data/tvsum/tvsum_train.jsonl",
                   eval_path="data/tvsum/tvsum_val.jsonl", eval_split_name="val",
                   bsz=4, lr=1e-3, n_epoch=2000, lr_drop=2000, max_es_cnt=-1,
                   hard_pos_neg_loss_coef=1.0, contrastive_align_loss_coef=0.8, cos_sim_loss_coef=1.0)

PRESETS = {
    "qvhl": dict(help="QVHighlights, VideoLights-B (qvhl/train.sh): SlowFast+CLIP+BLIP-2 video, CLIP+BLIP-2 text",
                 feat_root="../Datasets/qvhl/features", results_root="results/qvhighlights/Final",
                 bsz=32, contrastive_align_loss_coef=0.2, hard_pos_neg_loss_coef=10.0,
                 **_QVHL_DATA, **_COMMON_VL,
                 **_feats([_VID["sf"], _VID["clip"], _VID["blip"]],
                          [("clip_text_features", 512), ("blip_aug_text_features_openai", 768)])),
    "qvhl_sf_clip": dict(help="QVHighlights, VideoLights (train_from_pretrain-sf_clip.sh): SlowFast+CLIP video, "
                              "CLIP text",
                         feat_root="../Datasets/qvhl/features", results_root="results/qvhighlights/Final",
                         bsz=32, contrastive_align_loss_coef=0.2, hard_pos_neg_loss_coef=10.0,
                         **_QVHL_DATA, **_COMMON_VL,
                         **_feats([_VID["sf"], _VID["clip"]], [("clip_text_features", 512)])),
    "charades_sta": dict(help="Charades-STA (charades_sta/train.sh): SlowFast+CLIP+BLIP-2 video, CLIP+BLIP-2 text, "
                              "1-s clips, evaluated on the test file",
                         feat_root="../Datasets/charades", results_root="results/charades_sta",
                         **_CHARADES_DATA, **_COMMON_VL,
                         **_feats([_VID["sf"], _VID["clip"], _VID["blip"]],
                                  [("clip_text_features", 512), ("blip_text_features", 768)])),
    "charades_sta_sf_clip": dict(help="Charades-STA, SlowFast+CLIP video, CLIP text (train_from_pretrain-sf_clip)",
                                 feat_root="../Datasets/charades", results_root="results/charades_sta",
                                 **_CHARADES_DATA, **_COMMON_VL,
                                 **_feats([_VID["sf"], _VID["clip"]], [("clip_text_features", 512)])),
    "pretrain": dict(help="Pretraining on BLIP captions (pretrain/pretrain_sf_clip_blip.sh), eval on QVHL val",
                     feat_root="../pretrain/pretrain_features", results_root="results/pretrain/final",
                     **_PRETRAIN_DATA, **_COMMON_VL,
                     **_feats([_VID["sf"], _VID["clip"], _VID["blip"]],
                              [("clip_query_features", 512), ("blip_query_features", 768)])),
    "pretrain_sf_clip": dict(help="Pretraining on BLIP captions, SlowFast+CLIP video, CLIP text "
                                  "(pretrain/pretrain_sf_clip.sh)",
                             feat_root="../pretrain/pretrain_features", results_root="results/pretrain/final",
                             **_PRETRAIN_DATA, **_COMMON_VL,
                             **_feats([_VID["sf"], _VID["clip"]], [("clip_query_features", 512)])),
    "pretrain_asr": dict(help="Pretraining on ASR subtitles (pretrain/pretrain_asr.sh), eval on QVHL val",
                         feat_root="../pretrain/features", results_root="results/pretrain/asr",
                         **dict(_PRETRAIN_DATA, dataset="asr_pretrain", train_path="data/subs_train.jsonl",
                                contrastive_align_loss_coef=0.2, max_es_cnt=200),
                         **_COMMON_VL,
                         **_feats([_VID["sf"], _VID["clip"]], [("clip_sub_features", 512)])),
    "tvsum": dict(help="TVSum, one model per --dset_domain (tvsum/train.sh): I3D rgb+opt video, CLIP text",
                  feat_root="../Datasets/tvsum", results_root="results/tvsum/v-i3d-t-clip",
                  **_TVSUM_DATA, **_COMMON_VL,
                  **_feats([("video_features", 2048)], [("query_features", 512)])),
    "tvsum_sf_clip": dict(help="TVSum, one model per --dset_domain (tvsum/train_from_pretrain.sh): SlowFast+CLIP video "
                               "(sf_features, clip_features; python -m video_lights.extract --dataset tvsum writes "
                               "them), CLIP text",
                          feat_root="../Datasets/tvsum", results_root="results/tvsum/v-sf-clip-t-clip",
                          **_TVSUM_DATA, **_COMMON_VL,
                          **_feats([("sf_features", 2304), ("clip_features", 512)], [("query_features", 512)])),
    "tacos": dict(help="TACoS (the authors' tacos/train.sh): SlowFast+CLIP video, CLIP text, 2-s clips, every clip "
                       "kept, evaluated on the test file",
                  feat_root="../Datasets/tacos", results_root="results/tacos",
                  dataset="tacos", train_path="data/tacos/train.jsonl", eval_path="data/tacos/test.jsonl",
                  eval_split_name="test", bsz=32, eval_bsz=32, lr=2e-4, lr_drop=200, n_epoch=100, lw_saliency=4.0,
                  contrastive_align_loss_coef=0.002, hard_pos_neg_loss_coef=1.0, **_COMMON_VL,
                  **_feats([_VID["sf"], _VID["clip"]], [("clip_text_features", 512)])),
    "youtube_highlights": dict(help="YouTube Highlights, one model per --dset_domain (the authors' youtube_uni/"
                                    "train.sh): CLIP+SlowFast video (vid_clip, vid_slowfast), CLIP text (txt_clip)",
                               feat_root="../Datasets/processed/youtube_uni", results_root="results/youtubeuni",
                               dataset="youtube_highlights", train_path="data/youtube_uni/youtube_train.jsonl",
                               eval_path="data/youtube_uni/youtube_valid.jsonl", eval_split_name="val",
                               dset_domain="dog", bsz=4, lr=2e-4, n_epoch=2000, max_es_cnt=-1, lw_saliency=4.0,
                               ctx_mode="video_tef",
                               **_feats([("vid_clip", 512), ("vid_slowfast", 2304)], [("txt_clip", 512)])),
    "synthetic": dict(help="The embedded synthetic QVHighlights-format dataset (python -m video_lights.data.synthetic "
                           "--out DIR; pass --feat_root DIR), default small dims",
                      feat_root="data/synthetic", results_root="results/synthetic",
                      bsz=32, contrastive_align_loss_coef=0.2, hard_pos_neg_loss_coef=10.0,
                      **dict(_QVHL_DATA, train_path="{root}/annotations/highlight_train_release.jsonl",
                             eval_path="{root}/annotations/highlight_val_release.jsonl"),
                      **_COMMON_VL,
                      **_feats([("features/slowfast_features", 64), ("features/clip_features", 32),
                                ("features/blip_video_features", 32)],
                               [("features/clip_text_features", 32), ("features/blip_aug_text_features_openai", 32)])),
}


def _preset_defaults(name, feat_root):
    """Resolved default values of preset `name` with feature dirs joined onto feat_root."""
    p = {k: v for k, v in PRESETS[name].items() if k != "help"}
    root = feat_root if feat_root is not None else PRESETS[name]["feat_root"]
    p["feat_root"] = root  # saved in opt.json: inference --feat_root re-roots the dirs below it
    p["v_feat_dirs"] = [os.path.join(root, d) for d in p["v_feat_dirs"]]
    p["t_feat_dirs"] = [os.path.join(root, d) for d in p["t_feat_dirs"]]
    for k in ("train_path", "eval_path"):
        p[k] = p[k].replace("{root}", root)
    return p


# ---------------------------------------------------------------------------------------------------------------
def _device_arg(value):
    """--device: auto | -1 | cpu | N | cuda:N  (the reference took an int: >=0 cuda, -1 cpu)."""
    v = str(value).strip().lower()
    if v in ("auto", ""):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if v in ("-1", "cpu"):
        return "cpu"
    if v.lstrip("-").isdigit():
        v = f"cuda:{int(v)}"
    elif v == "cuda":
        v = "cuda:0"
    if v.startswith("cuda:") and v[5:].isdigit():
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"CUDA device {value!r} requested but CUDA is not available "
                                             f"(use --device cpu or --device auto)")
        if int(v[5:]) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"CUDA device {value!r} requested but only "
                                             f"{torch.cuda.device_count()} device(s) are visible")
        return v
    if v == "mps":
        return v
    raise argparse.ArgumentTypeError(f"invalid device {value!r}: use auto, cpu, -1, N or cuda:N")


def _str_or_none(value):
    return None if value in (None, "", "None", "none") else value


def _seconds(value):
    """A clip length: an int when integral (2, as the authors' int option), else a float (0.5)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value!r}")
    return int(x) if x.is_integer() else x


def build_parser(inference: bool = False) -> argparse.ArgumentParser:
    """The argparse parser (grouped help). inference=True adds --eval_id, --eval_results_dir, --model_dir."""
    preset_help = "; ".join(f"{k}: {v['help']} (feat_root {v['feat_root']})" for k, v in PRESETS.items())
    parser = ArgumentParser(
        prog="video_lights", allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="VideoLights moment retrieval + highlight detection. A --preset sets the reference script's "
                    "defaults; any explicit flag overrides them.")
    g = parser.add_argument_group("preset")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None, help=f"dataset preset. {preset_help}")
    g.add_argument("--feat_root", type=str, default=None,
                   help="root folder of the preset's feature dirs (default: the preset's, shown above)")

    g = parser.add_argument_group("run")
    g.add_argument("--dataset", type=str, default="qvhighlights",
                   help=f"the training data's dataset spec: one of {', '.join(REGISTRY)}, or a spec file "
                        f"(.json / .yaml, see data/README.md)")
    g.add_argument("--eval_dataset", type=_str_or_none, default=None,
                   help="the eval file's dataset spec (default: --dataset; pretraining evaluates on qvhighlights)")
    g.add_argument("--dset_domain", type=str, default="BK",
                   help="domain of datasets with domains (TVSum: BK BT DS FM GA MS PK PR VT VU)")
    g.add_argument("--eval_split_name", type=str, default="val",
                   help="name of the eval split in file names (hl_{name}_submission.jsonl); metrics are computed "
                        "when its rows have labels")
    g.add_argument("--debug", action="store_true",
                   help="results under a sibling 'debug_results', num_workers 0, loops break early")
    g.add_argument("--data_ratio", type=float, default=1.0, help="keep only the first fraction of the training jsonl")
    g.add_argument("--results_root", type=str, default="results")
    g.add_argument("--exp_id", type=str, default="debug_exp", help="id of this run, part of results_dir")
    g.add_argument("--seed", type=int, default=2018)
    g.add_argument("--device", type=_device_arg, default="auto",
                   help="auto (cuda:0 if available else cpu), cpu or -1, N or cuda:N")
    g.add_argument("--num_workers", type=int, default=DEFAULT_WORKERS,
                   help="DataLoader workers (0 = load in the main process; default min(4, CPU cores))")
    g.add_argument("--no_pin_memory", action="store_true", help="do not pin DataLoader memory")

    g = parser.add_argument_group("training")
    g.add_argument("--lr", type=float, default=1e-4)
    g.add_argument("--lr_drop", type=int, default=400, help="StepLR step size in epochs (gamma 0.1)")
    g.add_argument("--wd", type=float, default=1e-4, help="AdamW weight decay")
    g.add_argument("--n_epoch", type=int, default=200)
    g.add_argument("--max_es_cnt", type=int, default=200,
                   help="stop after more than this many evaluations without improvement; -1 disables")
    g.add_argument("--bsz", type=int, default=32)
    g.add_argument("--eval_bsz", type=int, default=100)
    g.add_argument("--eval_epoch", type=int, default=5, help="evaluate every N epochs")
    g.add_argument("--grad_clip", type=float, default=0.1, help="total-norm gradient clip; <=0 disables")
    g.add_argument("--eval_untrained", action="store_true", help="evaluate once before training (start epoch -1)")
    g.add_argument("--resume", type=_str_or_none, default=None, help="checkpoint to load model weights from (strict)")
    g.add_argument("--resume_all", action="store_true", help="also restore optimizer, lr scheduler and start epoch")
    g.add_argument("--start_epoch", type=int, default=None)
    g.add_argument("--amp", nargs="?", const="on", default="off" if inference else "auto", choices=AMP_CHOICES,
                   help="autocast mixed precision. auto (training's default): bfloat16 on a CPU with native bfloat16 "
                        "(AMX / AVX512-BF16), float32 elsewhere; on (or --amp alone): float16 with a gradient scaler "
                        "on CUDA, bfloat16 on CPU (float32 with a warning where the CPU lacks it); off (inference's "
                        "default, so that scores match the official numbers): float32. The log says which one ran; "
                        "the trainer's evaluations run in float32 whatever it trains in")
    g.add_argument("--compile", action="store_true", help="torch.compile the training forward pass (off by default; "
                   "scripts/bench_train.py --modes shows what it gains on your machine)")
    g.add_argument("--allow_new_world_size", action="store_true",
                   help="--resume_all a run saved with another number of torchrun processes (the data order and "
                        "RNG streams then differ from an uninterrupted run)")

    g = parser.add_argument_group("data")
    g.add_argument("--max_q_l", type=int, default=32, help="max query tokens")
    g.add_argument("--max_v_l", type=int, default=None, help="max video clips (default: the dataset spec's, 75 "
                                                              "for QVHighlights; -1 = no limit)")
    g.add_argument("--clip_length", type=_seconds, default=None,
                   help="seconds per clip (default: the dataset spec's, 2 for QVHighlights)")
    g.add_argument("--max_windows", type=int, default=5, help="max GT windows used as span labels")
    g.add_argument("--train_path", type=str, default="data/highlight_train_release.jsonl")
    g.add_argument("--eval_path", type=str, default="data/highlight_val_release.jsonl")
    g.add_argument("--no_norm_vfeat", action="store_true",
                   help="do not L2-normalise features (video AND text, as the reference)")
    g.add_argument("--v_feat_dirs", type=str, nargs="+",
                   default=["../Datasets/qvhl/features/slowfast_features", "../Datasets/qvhl/features/clip_features"],
                   help="video feature dirs ({vid}.npz key 'features' or {vid}.npy) or packed .h5 stores")
    g.add_argument("--t_feat_dirs", type=str, nargs="+",
                   default=["../Datasets/qvhl/features/clip_aug_text_features_openai",
                            "../Datasets/qvhl/features/blip_aug_text_features_openai"],
                   help="text feature dirs (qid{qid}.npz key 'last_hidden_state'; tvsum {qid}.npz key 'token') "
                        "or packed .h5 stores")
    g.add_argument("--v_feat_dim", type=int, default=2816,
                   help="video feature dim WITHOUT tef (the model adds 2 input dims for tef)")
    g.add_argument("--t_feat_dim", type=int, default=1280)
    g.add_argument("--ctx_mode", type=str, default="video_tef", choices=["video_tef", "video", "tef"],
                   help="'video' uses video features, 'tef' appends the 2-d temporal endpoint feature")
    g.add_argument("--feat_store", choices=["npz", "h5"], default="npz",
                   help="h5: read each feature dir D from the packed store D.h5 (python -m video_lights.data.pack)")
    g.add_argument("--feat_cache", action="store_true",
                   help="keep loaded features in memory (per DataLoader worker) after the first epoch")

    g = parser.add_argument_group("model")
    g.add_argument("--bicmf_layers", type=int, default=2, help="BiCMF cross-modal layers (scripts use 1)")
    g.add_argument("--enc_layers", type=int, default=2, help="encoder layers (scripts use 3)")
    g.add_argument("--dec_layers", type=int, default=2, help="decoder layers (scripts use 3)")
    g.add_argument("--dim_feedforward", type=int, default=1024)
    g.add_argument("--hidden_dim", type=int, default=256)
    g.add_argument("--input_dropout", type=float, default=0.5)
    g.add_argument("--dropout", type=float, default=0.1)
    g.add_argument("--use_txt_pos", action="store_true", help="learned text positional embedding (off)")
    g.add_argument("--nheads", type=int, default=8)
    g.add_argument("--num_queries", type=int, default=10)
    g.add_argument("--n_input_proj", type=int, default=2)
    g.add_argument("--contrastive_hdim", type=int, default=64)
    g.add_argument("--temperature", type=float, default=0.07)
    g.add_argument("--fix_bicmf_mask", action="store_true",
                   help="build the BiCMF attention mask per sample (off = the authors' batch/head tiling bug)")

    g = parser.add_argument_group("loss")
    g.add_argument("--lw_saliency", type=float, default=1.0)
    g.add_argument("--saliency_margin", type=float, default=0.2)
    g.add_argument("--no_aux_loss", dest="aux_loss", action="store_false", help="no auxiliary decoder losses")
    g.add_argument("--contrastive_align_loss", action="store_true")
    g.add_argument("--hard_pos_neg_loss", action="store_true")
    g.add_argument("--mr_to_hd_loss", action="store_true")
    g.add_argument("--span_loss_coef", type=float, default=10)
    g.add_argument("--giou_loss_coef", type=float, default=1)
    g.add_argument("--label_loss_coef", type=float, default=4)
    g.add_argument("--eos_coef", type=float, default=0.1)
    g.add_argument("--contrastive_align_loss_coef", type=float, default=0.2)
    g.add_argument("--hard_pos_neg_loss_coef", type=float, default=10.0)
    g.add_argument("--cos_sim_loss_coef", type=float, default=1.0)
    g.add_argument("--mr_to_hd_loss_coef", type=float, default=1.0)

    g = parser.add_argument_group("matcher")
    g.add_argument("--set_cost_span", type=float, default=10)
    g.add_argument("--set_cost_giou", type=float, default=1)
    g.add_argument("--set_cost_class", type=float, default=4)

    g = parser.add_argument_group("post-processing")
    g.add_argument("--no_sort_results", action="store_true")
    g.add_argument("--max_before_nms", type=int, default=10)
    g.add_argument("--max_after_nms", type=int, default=10)
    g.add_argument("--nms_thd", type=float, default=-1, help="-1 = no NMS")

    if inference:
        g = parser.add_argument_group("inference")
        g.add_argument("--eval_id", type=str, default=None, help="tag for the prediction file names")
        g.add_argument("--eval_results_dir", type=str, default=None,
                       help="where to write predictions (default: the folder of --resume)")
        g.add_argument("--model_dir", type=str, default=None,
                       help="folder holding the training opt.json (default: the folder of --resume)")
    return parser


def _explicit_dests(parser, argv):
    """Destinations of the options written explicitly in argv (presets / a saved opt.json do not override them)."""
    by_flag = {s: a.dest for a in parser._actions for s in a.option_strings}
    return {by_flag[t.split("=", 1)[0]] for t in argv if t.split("=", 1)[0] in by_flag}


def _fill_from_specs(opt):
    """--clip_length and --max_v_l default to the dataset spec's; the train and eval specs must agree on the clip
    length (one model reads both). A spec given as a file is kept as an absolute path, so that opt.json finds it
    from any folder."""
    for name in ("dataset", "eval_dataset"):
        value = getattr(opt, name)
        if isinstance(value, str) and os.path.isfile(value):
            setattr(opt, name, os.path.abspath(value))
    try:
        spec, eval_spec = load_spec(opt.dataset), load_spec(opt.eval_dataset)
    except DataError as e:
        raise ConfigError(f"--dataset / --eval_dataset: {e}") from None
    if opt.clip_length is None:
        if spec.clip_length != eval_spec.clip_length:
            raise ConfigError(f"--dataset {spec.name} has {spec.clip_length}-s clips but --eval_dataset "
                              f"{eval_spec.name} has {eval_spec.clip_length}-s clips: pass --clip_length")
        opt.clip_length = spec.clip_length
    if opt.max_v_l is None:
        opt.max_v_l = spec.max_v_l
    return spec


def resolve(opt: argparse.Namespace, timestamp=None) -> argparse.Namespace:
    """Fill the spec defaults and add the derived fields (in place, returns opt)."""
    opt.eval_dataset = opt.eval_dataset or opt.dataset
    spec = _fill_from_specs(opt)
    if opt.debug:
        parts = opt.results_root.rstrip(os.sep).split(os.sep)
        opt.results_root = os.sep.join(parts[:-1] + ["debug_results"])
        opt.num_workers = 0
    if getattr(opt, "results_dir", None) is None:
        stamp = timestamp or time.strftime("%Y_%m_%d_%H_%M_%S")
        opt.results_dir = os.path.join(opt.results_root, "-".join([spec.tag, opt.ctx_mode, opt.exp_id, stamp]))
    set_results_dir(opt, opt.results_dir)
    opt.device = torch.device(opt.device)
    opt.amp, note, warn = resolve_amp(opt.amp, opt.device)  # a bool from here on
    opt.amp_note = ("warning: " if warn else "") + note
    if opt.feat_store == "h5":
        opt.v_feat_dirs = [_as_h5(d) for d in opt.v_feat_dirs]
        opt.t_feat_dirs = [_as_h5(d) for d in opt.t_feat_dirs]
    return opt


def set_results_dir(opt, path):
    """Point opt.results_dir and the derived log paths at `path`; returns path."""
    opt.results_dir = path
    opt.train_log_filepath = os.path.join(path, "train.log.txt")
    opt.eval_log_filepath = os.path.join(path, "eval.log.txt")
    opt.tensorboard_log_dir = os.path.join(path, "tensorboard_log")
    return path


def _as_h5(path):
    return path if path.endswith((".h5", ".hdf5")) else path.rstrip("/\\") + ".h5"


def _check(parser, opt):
    if opt.data_ratio <= 0 or opt.data_ratio > 1:
        parser.error(f"--data_ratio must be in (0, 1], got {opt.data_ratio}")
    for name in ("max_q_l", "max_windows", "bsz", "eval_bsz", "eval_epoch", "n_epoch"):
        if getattr(opt, name) <= 0:
            parser.error(f"--{name} must be positive, got {getattr(opt, name)}")
    if opt.max_v_l is not None and opt.max_v_l <= 0 and opt.max_v_l != -1:
        parser.error(f"--max_v_l must be positive (or -1 for no limit), got {opt.max_v_l}")
    if opt.num_workers < 0:
        parser.error(f"--num_workers must be >= 0, got {opt.num_workers}")
    if not 1 <= opt.n_input_proj <= 3:
        parser.error(f"--n_input_proj must be 1, 2 or 3, got {opt.n_input_proj}")
    if opt.hidden_dim % opt.nheads:
        parser.error(f"--hidden_dim {opt.hidden_dim} must be a multiple of --nheads {opt.nheads}")
    if opt.resume_all and opt.resume is None:
        parser.error("--resume_all needs --resume CHECKPOINT")
    problem = _size_problem(vars(opt))
    if problem:
        parser.error(f"--{problem}")


def _size_problem(d):
    """The first option of `d` outside SIZE_BOUNDS, as "name value: ...", or None."""
    for name, (low, high) in SIZE_BOUNDS.items():
        value = d.get(name)
        if type(value) is int and not low <= value <= high:
            return f"{name} {value}: must be in [{low}, {high}] (far above any published model)"
    return None


def _fits(action, value) -> bool:
    """Whether a saved `value` is of the kind the command line gives option `action`."""
    if value is None and (action.default is None or action.type in (str, _str_or_none)):
        return True
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return type(value) is bool
    if action.dest == "amp":  # a bool once resolved
        return type(value) is bool or value in action.choices
    if action.dest == "device":  # "cpu", "cuda:0", the authors' int or torch.device
        return isinstance(value, (str, torch.device)) or type(value) is int
    if action.nargs == "+":
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, str) for v in value)
    if action.choices is not None and not (isinstance(value, str) and value in action.choices):
        return False
    if action.type is int:
        return type(value) is int
    if action.type in (float, _seconds):
        return type(value) in (int, float) and math.isfinite(value) and (action.type is float or value > 0)
    if action.type in (str, _str_or_none):
        return isinstance(value, str)
    return True


def _saved_value_problem(saved):
    """The first saved option whose value the command line could not have given, or outside SIZE_BOUNDS, or None."""
    actions = {a.dest: a for a in build_parser(inference=True)._actions if a.dest != "help"}
    for name, value in saved.items():
        if name in actions and not _fits(actions[name], value):
            kind = type(value).__name__
            return f"{name} = {str(value)[:80]} ({kind}) is not a valid value of --{name}"
    return _size_problem(saved)


def _reroot(dirs, old_root, new_root):
    """Feature dirs of a saved run moved from old_root to new_root (dirs outside old_root keep their name)."""
    out = []
    for d in dirs:
        rel = os.path.relpath(d, old_root) if old_root else os.path.basename(os.path.normpath(d))
        out.append(os.path.join(new_root, rel if not rel.startswith("..") else os.path.basename(os.path.normpath(d))))
    return out


def parse_args(argv=None, inference: bool = False) -> argparse.Namespace:
    """Parse command-line options into the resolved options namespace (see the module docstring).

    inference=True: TestOptions behaviour. Adds --eval_id/--eval_results_dir/--model_dir; when --resume is given,
    the training opt.json in --model_dir (default: the folder of --resume) overrides every option except
    INFERENCE_KEEP and the flags given explicitly on this command line; an explicit --feat_root re-roots the saved
    feature dirs. results_dir = --eval_results_dir, or the folder of --resume. A bad option exits with status 2
    and one `error: ...` line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(inference)
    pre, _ = parser.parse_known_args(argv)
    if pre.preset is not None:
        parser.set_defaults(**_preset_defaults(pre.preset, pre.feat_root))
    opt = parser.parse_args(argv)
    _check(parser, opt)
    try:
        if inference and opt.resume is not None:
            opt.model_dir = opt.model_dir or os.path.dirname(opt.resume)
            saved_path = os.path.join(opt.model_dir, "opt.json")
            if not os.path.isfile(saved_path):
                parser.error(f"{saved_path} not found: inference needs the training opt.json next to the checkpoint "
                             f"(or pass --model_dir)")
            explicit = _explicit_dests(parser, argv)
            saved = saved_options(_read_opt_json(saved_path), saved_path)
            if "eval_split_name" in explicit and "eval_path" not in explicit and \
                    opt.eval_split_name != saved.get("eval_split_name", opt.eval_split_name):
                raise ConfigError(f"--eval_split_name {opt.eval_split_name} differs from the split the run was "
                                  f"evaluated on ({saved.get('eval_split_name')}, {saved.get('eval_path')}): pass "
                                  f"--eval_path with the file of split {opt.eval_split_name}")
            for k, v in saved.items():
                if hasattr(opt, k) and k not in INFERENCE_KEEP and k not in explicit:
                    setattr(opt, k, v)
            if "feat_root" in explicit:
                for k in ("v_feat_dirs", "t_feat_dirs"):
                    if k not in explicit:
                        setattr(opt, k, _reroot(saved[k], saved.get("feat_root"), opt.feat_root))
            opt.results_dir = opt.eval_results_dir or opt.model_dir
        return resolve(opt)
    except ConfigError as e:
        parser.error(str(e))


# ---------------------------------------------------------------------------------------------------------------
def opt_to_dict(opt: argparse.Namespace) -> dict:
    """JSON-serialisable options: no derived fields, device as a string."""
    d = {k: v for k, v in vars(opt).items() if k not in DERIVED_FIELDS}
    d["device"] = str(opt.device)
    return d


def save_opt(opt: argparse.Namespace, path) -> None:
    """Write opt.json atomically (pretty JSON, the authors' layout)."""
    save_json(opt_to_dict(opt), path, indent=4, sort_keys=False)


def saved_options(d: dict, where="opt.json") -> dict:
    """Saved options (ours or the authors') as values of our options.

    Dead and derived keys are dropped; a fixed option with another value raises ConfigError; the authors' dset_name
    becomes --dataset; a dump of a *resolved* authors' namespace (it has "use_tef", like their checkpoints' opt
    and the reference fixture's opt.json) already includes tef in v_feat_dim, which is taken out again."""
    for k, value in FIXED_OPTIONS.items():
        if k in d and d[k] != value:
            raise ConfigError(f"{where}: {k} = {d[k]!r} is not supported (only {value!r}; the authors' other values "
                              f"are broken, so no released checkpoint uses them)")
    out = {k: v for k, v in d.items() if k not in DEAD_OPTIONS and k not in DERIVED_FIELDS and k not in FIXED_OPTIONS}
    if "dataset" not in out and "dset_name" in out:
        if out["dset_name"] not in LEGACY_DATASETS:
            raise ConfigError(f"{where}: dset_name {out['dset_name']!r} is unknown ({', '.join(LEGACY_DATASETS)})")
        out["dataset"] = LEGACY_DATASETS[out["dset_name"]]
    out.pop("dset_name", None)
    problem = _saved_value_problem(out)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    if "use_tef" in d and "tef" in d.get("ctx_mode", "video_tef") and "v_feat_dim" in out:
        out["v_feat_dim"] -= 2
    return out


def _read_opt_json(path) -> dict:
    try:
        d = load_json(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read options ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object of options, got {type(d).__name__}")
    return d


def load_opt(path, **overrides) -> argparse.Namespace:
    """Load an opt.json (ours or the authors') and re-resolve it: unknown keys are dropped, missing options take
    their defaults, `overrides` replace saved values. The saved results_dir is kept."""
    path = os.fspath(path)
    return opt_from_dict(saved_options(_read_opt_json(path), path), **overrides)


def opt_from_dict(saved: dict, **overrides) -> argparse.Namespace:
    """Options namespace from a dict of our option values (see saved_options for the authors' ones)."""
    opt = build_parser(inference=True).parse_args([])
    for k, v in saved.items():
        if hasattr(opt, k) or k == "results_dir":
            setattr(opt, k, v)
    for k, v in overrides.items():
        setattr(opt, k, v)
    try:  # "cpu", "cuda:0", or the authors' int (0 / -1)
        opt.device = _device_arg("auto" if opt.device is None else str(opt.device))
    except argparse.ArgumentTypeError:
        opt.device = _device_arg("auto")  # saved on a GPU machine, loaded on one without that GPU
    return resolve(opt)
