"""Export a checkpoint as a portable directory: no pickle, loadable by load_checkpoint and the predictor.

    python -m video_lights.export CKPT OUT_DIR [--clip ID --blip2 ID --slowfast WEIGHTS] [--name NAME]

OUT_DIR/model.safetensors   the state dict (safetensors)
OUT_DIR/config.json         {"format": "video_lights-export", "format_version": 1, "options": the options that rebuild
                            the model (feature folders reduced to their names, no local paths), "features": the
                            video and text feature types in the model's order with their widths, "extractors": the
                            weights ids that compute them}
OUT_DIR/README.md           a model card: features, extractors, options and the run's metrics when the checkpoint's
                            folder has them (hl_val_submission_metrics.json, best_*_metrics.json)

CKPT is our or the authors' .ckpt (read with weights_only), or an exported directory / hub id (re-exported).
The folder can be uploaded to the Hugging Face hub as is (`hf upload OWNER/NAME OUT_DIR`).
"""
import glob
import json
import os
import sys

from video_lights.api import EXPORT_CONFIG, EXPORT_FORMAT, EXPORT_VERSION, EXPORT_WEIGHTS, LOCAL_OPTIONS, \
    checkpoint_options, export_config_problem, load_checkpoint
from video_lights.config import opt_to_dict
from video_lights.data.specs import REGISTRY
from video_lights.features.layouts import RELEASED_DIMS, extractor_ids, feature_types, folder_name
from video_lights.utils.cli import ArgumentParser, UserError, command
from video_lights.utils.io import atomic_open, check_writable_dir, load_json, save_json

SLOWFAST_RELEASE = ("SlowFast-R50 8x8 Kinetics-400 (SLOWFAST_8x8_R50.pkl of PySlowFast's model zoo, converted by "
                    "`python -m video_lights.features.convert_slowfast`)")
METRICS_FILES = ("hl_val_submission_metrics.json", "best_*_metrics.json", "*_val_*metrics.json")
KEY_OPTIONS = ("dataset", "ctx_mode", "clip_length", "max_v_l", "max_q_l", "hidden_dim", "nheads", "enc_layers",
               "dec_layers", "bicmf_layers", "num_queries", "mr_to_hd_loss", "contrastive_align_loss")


def portable_options(opt) -> dict:
    """JSON options that rebuild the model anywhere: feature folders by name, no local paths, device "cpu"."""
    d = {k: v for k, v in opt_to_dict(opt).items() if k not in LOCAL_OPTIONS}
    d["v_feat_dirs"] = [folder_name(p) for p in opt.v_feat_dirs]
    d["t_feat_dirs"] = [folder_name(p) for p in opt.t_feat_dirs]
    d["device"] = "cpu"
    return json.loads(json.dumps(d, default=str))


def feature_set(opt) -> dict:
    """{"video": [{"type", "folder", "dim"}], "text": [...], "v_feat_dim", "t_feat_dim", "clip_length"}; a type's
    dim is the released extractor's when the types' released widths add up to the model's, else null."""
    video, text = feature_types(opt, "checkpoint")
    out = {}
    for what, types, dirs, total in (("video", video, opt.v_feat_dirs, opt.v_feat_dim),
                                     ("text", text, opt.t_feat_dirs, opt.t_feat_dim)):
        dims = [RELEASED_DIMS[what][t] for t in types]
        known = sum(dims) == total
        out[what] = [{"type": t, "folder": folder_name(d), "dim": dim if known else None}
                     for t, d, dim in zip(types, dirs, dims)]
    out.update(v_feat_dim=opt.v_feat_dim, t_feat_dim=opt.t_feat_dim, clip_length=opt.clip_length)
    return out


def run_metrics(ckpt_path):
    """(file name, metrics dict) of the run folder of a .ckpt, or (None, None)."""
    folder = os.path.dirname(os.path.abspath(ckpt_path)) if os.path.isfile(ckpt_path) else None
    for pattern in METRICS_FILES if folder else ():
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            try:
                metrics = load_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(metrics, dict):
                return os.path.basename(path), metrics.get("brief", metrics)
    return None, None


def model_card(name, config, metrics_file, metrics) -> str:
    """The README.md text of an exported directory."""
    opts, feats = config["options"], config["features"]
    lines = [f"# {name}", "", "A [VideoLights](https://arxiv.org/abs/2412.01558) checkpoint (joint video moment "
             "retrieval and highlight detection), exported by `python -m video_lights.export` from "
             f"`{config['source']}`: `{EXPORT_WEIGHTS}` (the state dict) and `{EXPORT_CONFIG}` (options, feature "
             "set, extractors). Loading it unpickles nothing.", "", "## Features", "",
             "| input | type | folder | dim | extractor |", "|---|---|---|---|---|"]
    for what in ("video", "text"):
        for f in feats[what]:
            lines.append(f"| {what} | {f['type']} | {f['folder']} | {f['dim'] if f['dim'] is not None else '?'} | "
                         f"{config['extractors'].get(f['type']) or SLOWFAST_RELEASE} |")
    lines += ["", f"Video input {feats['v_feat_dim']} dims (+ 2 tef), text {feats['t_feat_dim']} dims, "
              f"{feats['clip_length']}-s clips.", "", "## Options", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {opts[k]} |" for k in KEY_OPTIONS if k in opts]
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += [f"From `{metrics_file}` of the training run.", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items() if not isinstance(v, (dict, list))]
    else:
        lines.append("No metrics file was found next to the checkpoint.")
    lines += ["", "## Use", "", "```bash", "pip install -e .[video]", "python -m video_lights.predict VIDEO.mp4 "
              "--query \"a man cooks pasta\" --checkpoint THIS_DIRECTORY", "```", "", "```python",
              "from video_lights import load_checkpoint", "model, ckpt = load_checkpoint(\"THIS_DIRECTORY\")",
              "from video_lights.predict import Predictor",
              "predictions = Predictor.from_checkpoint(\"THIS_DIRECTORY\").predict(\"VIDEO.mp4\", [\"a query\"])",
              "```", "", "Moments of videos longer than the model's window (max_v_l clips) come from overlapping "
              "windows, ranked across them by foreground probability x the clips' sigmoid(saliency).", ""]
    return "\n".join(lines)


def export(ckpt_path, out_dir, extractors=None, name=None) -> list:
    """Write OUT_DIR/{model.safetensors, config.json, README.md} (each atomically). extractors: {type: id} that
    override the defaults recorded in config.json. Returns the written paths."""
    try:
        from safetensors.torch import save
    except ImportError as e:
        raise UserError(f"export needs safetensors: pip install safetensors ({e})") from None
    model, ckpt = load_checkpoint(ckpt_path)
    opt = checkpoint_options(ckpt, os.fspath(ckpt_path))
    if opt.dataset not in REGISTRY:
        raise UserError(f"{ckpt_path}: trained on a dataset spec file ({opt.dataset}); export supports the "
                        f"registered datasets ({', '.join(REGISTRY)})")
    feats = feature_set(opt)
    types = list(dict.fromkeys(f["type"] for f in feats["video"] + feats["text"]))
    ids = extractor_ids(types, extractors, (ckpt.get("config") or {}).get("extractors"))
    config = {"format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
              "source": (ckpt.get("config") or {}).get("source") or os.path.basename(os.path.normpath(ckpt_path)),
              "epoch": ckpt.get("epoch") if isinstance(ckpt.get("epoch"), int) else None,
              "options": portable_options(opt), "features": feats, "extractors": ids}
    problem = export_config_problem(config)
    if problem:  # what read_exported would refuse is not written
        raise UserError(f"{os.path.join(out_dir, EXPORT_CONFIG)}: {problem}")
    check_writable_dir(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights, config_path, card = (os.path.join(out_dir, n) for n in (EXPORT_WEIGHTS, EXPORT_CONFIG, "README.md"))
    with atomic_open(weights, "wb") as f:
        f.write(save(state, metadata={"format": "pt"}))
    save_json(config, config_path, indent=2)
    metrics_file, metrics = run_metrics(os.fspath(ckpt_path))
    with atomic_open(card, "w", encoding="utf-8") as f:
        f.write(model_card(name or os.path.basename(os.path.normpath(out_dir)), config, metrics_file, metrics))
    return [weights, config_path, card]


def build_parser():
    p = ArgumentParser(prog="python -m video_lights.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a .ckpt (ours or the authors'), an exported directory or a hub id")
    p.add_argument("out_dir", help="the directory to write")
    p.add_argument("--slowfast", help="SlowFast weights id recorded in config.json (default: the released R50)")
    p.add_argument("--clip", help="CLIP model id recorded in config.json (default: openai/clip-vit-base-patch32)")
    p.add_argument("--blip2", help="BLIP-2 model id recorded in config.json (default: Salesforce/blip2-itm-vit-g)")
    p.add_argument("--name", help="model card title (default: the folder name)")
    return p


@command
def main(argv=None):
    args = build_parser().parse_args(argv)
    ids = {k: getattr(args, k) for k in ("slowfast", "clip", "blip2") if getattr(args, k)}
    paths = export(args.checkpoint, args.out_dir, ids, args.name)
    print(f"wrote {args.out_dir}: " + ", ".join(os.path.basename(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
