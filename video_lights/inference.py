"""Inference: run a checkpoint on a split and write the Codalab-format submission (and its metrics).

    python -m video_lights.inference --resume results/.../model_best.ckpt --eval_split_name val \
        --eval_path data/highlight_val_release.jsonl [any other option]

Options come from the training opt.json next to the checkpoint (TestOptions behaviour); every flag given on
this command line wins. Writes `hl_{split}_submission.jsonl` (and `..._metrics.json` when the split has labels)
into --eval_results_dir (default: the checkpoint's folder).
"""
import collections
import contextlib
import json
import os
import sys
import warnings

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from standalone_eval.eval import SubmissionError, SubmissionWarning, eval_submission, eval_tvsum
from video_lights.checkpoint import CheckpointError, load_checkpoint
from video_lights.config import parse_args
from video_lights.data import DataError, build_dataset, prepare_batch_inputs, start_end_collate
from video_lights.io_utils import save_json, save_jsonl
from video_lights.model import build_model
from video_lights.postprocessing import WINDOW_SNAPPING, apply_nms, decode_moments, snap_windows, valid_saliency


def autocast_context(device, enabled):
    """bfloat16 autocast on CPU, float16 on CUDA; a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def build_eval_loader(dataset, opt):
    return DataLoader(dataset, collate_fn=start_end_collate, batch_size=opt.eval_bsz, num_workers=opt.num_workers,
                      shuffle=False, pin_memory=opt.pin_memory and opt.device.type == "cuda")


@torch.no_grad()
def predict(model, loader, opt, criterion=None, epoch_i=0):
    """Run the model over a loader and build submission rows (reference `compute_mr_results`).

    With a criterion, also averages the weighted losses per batch (reference loss meters, `loss_overall` = the
    weighted total). Without one, the loss-only parts of the forward pass are skipped.
    Returns (submission rows, {loss name: mean over batches}).
    """
    model.eval()
    if criterion is not None:
        criterion.eval()
    loss_sums, n_batches = collections.defaultdict(float), 0
    submission = []
    for metas, batched in tqdm(loader, desc="predict", leave=False, disable=not sys.stderr.isatty()):
        model_inputs, targets = prepare_batch_inputs(batched, opt.device, non_blocking=opt.pin_memory)
        with autocast_context(opt.device, opt.amp):
            outputs = model(**model_inputs, loss_outputs=criterion is not None and targets is not None)
            if criterion is not None and targets is not None:
                loss_dict = criterion(outputs, targets, epoch_i)
        if criterion is not None and targets is not None:
            weights = criterion.weight_dict
            total = sum(loss_dict[k] * weights[k] for k in loss_dict if k in weights)
            for k, v in loss_dict.items():
                loss_sums[k] += float(v) * weights[k] if k in weights else float(v)
            loss_sums["loss_overall"] += float(total)
            n_batches += 1
        submission.extend(_rows(metas, outputs, opt))
        if opt.debug:
            break
    return submission, {k: v / n_batches for k, v in loss_sums.items()}


def _rows(metas, outputs, opt):
    if opt.dset_name == "tvsum":  # highlight detection only; the TVSum scorer ranks float32 scores
        saliency = valid_saliency(outputs["saliency_scores"].float(), outputs["video_mask"])
        return [dict(qid=m["qid"], vid=m["vid"], pred_saliency_scores=s) for m, s in zip(metas, saliency)]
    saliency = valid_saliency(outputs["saliency_scores"].half(), outputs["video_mask"])  # the reference writes fp16
    windows = decode_moments(outputs["pred_logits"], outputs["pred_spans"], [m["duration"] for m in metas],
                             sort=not opt.no_sort_results)
    rows = []
    for meta, wins, sal in zip(metas, windows, saliency):
        row = dict(qid=meta["qid"], query=meta["query"], vid=meta["vid"], pred_relevant_windows=wins,
                   pred_saliency_scores=sal)
        if opt.dset_name in WINDOW_SNAPPING:
            row["pred_relevant_windows"] = snap_windows(wins, *WINDOW_SNAPPING[opt.dset_name])
        if opt.dset_name in ("charadesSTA", "tacos"):  # no saliency labels: the reference drops the scores
            del row["pred_saliency_scores"]
        rows.append(row)
    return rows


def score(submission, gt_rows, opt):
    """Metrics of our own submission rows, exactly as the official evaluator computes them (its permissive
    `compat` mode: a saliency list that differs in length from the annotation, e.g. from features a few clips
    short, is fitted as the official scorer does instead of stopping a training run). Our rows never carry the
    inverted windows or duplicate qids on which compat and strict scoring differ. Warnings are silenced: the rows
    reach past short videos by design (the reference clamps windows to 150 s, not to the duration).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SubmissionWarning)
        if opt.dset_name == "tvsum":
            return eval_tvsum(submission, gt_rows, compat=True)
        return eval_submission(submission, gt_rows, verbose=False, match_number=True, compat=True)


def write_predictions(submission, gt_rows, opt, save_path):
    """Save the submission (and NMS variant when --nms_thd != -1) plus metrics when labels exist.

    Returns (metrics or None, metrics after NMS or None, written paths).
    """
    save_jsonl(submission, save_path)
    paths = [save_path]
    metrics = metrics_nms = None
    if gt_rows is not None:
        metrics = score(submission, gt_rows, opt)
        save_json(metrics, save_path.replace(".jsonl", "_metrics.json"))
        paths.append(save_path.replace(".jsonl", "_metrics.json"))
    if opt.nms_thd != -1 and opt.dset_name != "tvsum":
        nms = apply_nms(submission, opt.nms_thd, opt.max_before_nms, opt.max_after_nms)
        nms_path = save_path.replace(".jsonl", f"_nms_thd_{opt.nms_thd}.jsonl")
        save_jsonl(nms, nms_path)
        paths.append(nms_path)
        if gt_rows is not None:
            metrics_nms = score(nms, gt_rows, opt)
            save_json(metrics_nms, nms_path.replace(".jsonl", "_metrics.json"))
            paths.append(nms_path.replace(".jsonl", "_metrics.json"))
    return metrics, metrics_nms, paths


def run_inference(opt, model=None, criterion=None):
    """Predict opt.eval_split_name from opt.eval_path with the checkpoint opt.resume (or the given model).

    Returns (metrics or None, submission path).
    """
    if not os.path.isfile(opt.eval_path):
        raise FileNotFoundError(f"no annotation file for split '{opt.eval_split_name}': {opt.eval_path} does not "
                                f"exist (pass --eval_path)")
    has_labels = opt.eval_split_name == "val"
    dataset = build_dataset(opt, opt.eval_path, load_labels=has_labels)
    if model is None:
        model, criterion = build_model(opt)
        load_checkpoint(opt.resume, model)
    model.to(opt.device)
    if not has_labels:
        criterion = None
    elif criterion is not None:
        criterion.to(opt.device)
    submission, losses = predict(model, build_eval_loader(dataset, opt), opt, criterion)
    os.makedirs(opt.results_dir, exist_ok=True)
    name = f"hl_{opt.eval_split_name}_submission" + (f"_{opt.eval_id}" if getattr(opt, "eval_id", None) else "")
    save_path = os.path.join(opt.results_dir, name + ".jsonl")
    gt_rows = dataset.data if has_labels else None
    metrics, _, _ = write_predictions(submission, gt_rows, opt, save_path)
    return metrics, save_path


def main(argv=None):
    opt = parse_args(argv, inference=True)
    if opt.resume is None:
        sys.exit("error: --resume CHECKPOINT is required")
    try:
        metrics, path = run_inference(opt)
    except (CheckpointError, DataError, SubmissionError, FileNotFoundError, PermissionError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {path}")
    if metrics is not None:
        print(json.dumps(metrics["brief"], indent=2))


if __name__ == "__main__":
    main()
