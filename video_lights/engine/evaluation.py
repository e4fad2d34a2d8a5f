"""Evaluation: predict a split, write the Codalab-format submission, score it as the official evaluator does, and
pick the best checkpoint (the authors' eval_epoch, compute_mr_results, calculate_stop_score and inference.py)."""
import collections
import os
import sys
import warnings

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from standalone_eval.eval import METRICS, SubmissionError, SubmissionWarning, evaluate
from video_lights.api import load_checkpoint
from video_lights.data import build_dataset, load_spec, prepare_batch_inputs, start_end_collate
from video_lights.engine.distributed import BatchShardSampler, World
from video_lights.engine.postprocessing import apply_nms, decode_moments, snap_windows, valid_saliency
from video_lights.engine.precision import autocast_context
from video_lights.engine.training import check_finite_outputs
from video_lights.model import build_model
from video_lights.utils.cli import UserError
from video_lights.utils.io import check_writable_dir, save_json, save_jsonl


class EvaluationError(UserError):
    """A split that cannot be predicted or scored (no annotation file, no evaluator for its metrics)."""


def build_eval_loader(dataset, batch_size, num_workers=0, pin_memory=False, world=None):
    """Eval batches in file order (the batch composition matters: see model/bicmf.py); under torchrun this rank's
    share of them, whole batches (engine/distributed.py)."""
    sampler = BatchShardSampler(len(dataset), batch_size, world or World())
    return DataLoader(dataset, collate_fn=start_end_collate, batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory)


def submission_rows(metas, outputs, spec, clip_length, sort=True):
    """Model outputs of one batch -> submission rows (qid, query, vid, pred_relevant_windows, pred_saliency_scores).

    Datasets without moments (TVSum) get saliency only, in float32 (their scorer ranks clips); the others get the
    ranked windows, snapped when the spec says so, and float16 saliency unless the spec drops it (Charades-STA,
    TACoS: no saliency labels)."""
    if not spec.moments:
        saliency = valid_saliency(outputs["saliency_scores"].float(), outputs["video_mask"])
        return [dict(qid=m["qid"], vid=m["vid"], pred_saliency_scores=s) for m, s in zip(metas, saliency)]
    saliency = valid_saliency(outputs["saliency_scores"].half(), outputs["video_mask"])  # the authors write fp16
    windows = decode_moments(outputs["pred_logits"], outputs["pred_spans"], [m["duration"] for m in metas], sort=sort)
    rows = []
    for meta, wins, sal in zip(metas, windows, saliency):
        if spec.snap_max_ts is not None:
            wins = snap_windows(wins, clip_length, spec.snap_max_ts)
        row = dict(qid=meta["qid"], query=meta["query"], vid=meta["vid"], pred_relevant_windows=wins)
        if spec.saliency_in_submission:
            row["pred_saliency_scores"] = sal
        rows.append(row)
    return rows


@torch.no_grad()
def predict(model, loader, spec, device, clip_length, amp=False, criterion=None, sort=True, non_blocking=False,
            max_batches=None, world=None):
    """Run the model over a loader (build_eval_loader) and build submission rows.

    With a criterion (and labels), also averages the logged eval losses per batch with epoch_i = 0, as the
    authors; without one, the loss-only parts of the forward pass are skipped. Under torchrun (world) each rank
    predicts its batches and every rank gets all rows back in file order, as one process makes them.
    Returns (submission rows, {loss name: mean over batches}).
    """
    model.eval()
    if criterion is not None:
        criterion.eval()
    world = world or World()
    batch_ids = loader.batch_sampler.batch_ids()
    done = []  # (global batch index, rows, {loss name: value}) of this rank's batches
    for batch_idx, (metas, batched) in enumerate(tqdm(loader, desc="predict", leave=False,
                                                      disable=not sys.stderr.isatty() or not world.is_main)):
        model_inputs, targets = prepare_batch_inputs(batched, device, non_blocking=non_blocking)
        with_losses = criterion is not None and targets is not None
        with autocast_context(device, amp):
            outputs = model(**model_inputs, loss_outputs=with_losses)
            check_finite_outputs(outputs, f"in evaluation batch {batch_ids[batch_idx]}")
            if with_losses:
                loss_dict = criterion(outputs, targets, 0)
        losses = criterion.log_values(loss_dict, criterion.weighted_total(loss_dict)) if with_losses else {}
        done.append((batch_ids[batch_idx], submission_rows(metas, outputs, spec, clip_length, sort), losses))
        if max_batches is not None and batch_idx + 1 >= max_batches:
            break
    done = sorted(b for rank_batches in world.gather(done) for b in rank_batches)
    submission = [row for _, rows, _ in done for row in rows]
    loss_sums = collections.defaultdict(float)
    for _, _, losses in done:
        for k, v in losses.items():
            loss_sums[k] += v
    n_batches = sum(1 for _, _, losses in done if losses)
    return submission, {k: v / n_batches for k, v in loss_sums.items()}


def check_scorable(spec):
    """EvaluationError when the standalone evaluator cannot score this dataset's metrics."""
    if spec.metrics not in METRICS:
        raise EvaluationError(f"dataset {spec.name}: the standalone evaluator has no scorer for metrics "
                              f"'{spec.metrics}' ({', '.join(METRICS)}); train without an eval split (--eval_path '')")


def score(submission, gt_rows, spec):
    """Metrics of our own submission rows, exactly as the official evaluator computes them (its permissive
    `compat` mode: a saliency list that differs in length from the annotation, e.g. from features a few clips
    short, is fitted as the official scorer does instead of stopping a training run). Our rows never carry the
    inverted windows or duplicate qids on which compat and strict scoring differ. Warnings are silenced: the rows
    reach past short videos by design (the authors clamp windows to 150 s, not to the duration).
    """
    check_scorable(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SubmissionWarning)
            return evaluate(spec.metrics, submission, gt_rows, compat=True, clip_length=spec.clip_length)
    except SubmissionError as e:
        raise EvaluationError(f"cannot score the predictions: {e}") from None


def write_predictions(submission, gt_rows, spec, save_path, nms=None):
    """Save the submission (and its NMS variant when nms = (nms_thd, max_before_nms, max_after_nms)) plus metrics
    when labels exist (gt_rows). Returns (metrics or None, metrics after NMS or None, written paths)."""
    save_jsonl(submission, save_path)
    paths = [save_path]
    metrics = metrics_nms = None
    if gt_rows is not None:
        metrics = score(submission, gt_rows, spec)
        save_json(metrics, save_path.replace(".jsonl", "_metrics.json"))
        paths.append(save_path.replace(".jsonl", "_metrics.json"))
    if nms is not None and spec.moments:
        nms_thd, max_before, max_after = nms
        rows_nms = apply_nms(submission, nms_thd, max_before, max_after)
        nms_path = save_path.replace(".jsonl", f"_nms_thd_{nms_thd}.jsonl")
        save_jsonl(rows_nms, nms_path)
        paths.append(nms_path)
        if gt_rows is not None:
            metrics_nms = score(rows_nms, gt_rows, spec)
            save_json(metrics_nms, nms_path.replace(".jsonl", "_metrics.json"))
            paths.append(nms_path.replace(".jsonl", "_metrics.json"))
    return metrics, metrics_nms, paths


def stop_score(brief, spec):
    """The number the best checkpoint is selected on: the spec's weighted mean of brief metrics."""
    weights = spec.selection
    missing = [k for k in weights if k not in brief]
    if missing:
        raise EvaluationError(f"dataset {spec.name}: selection metric(s) {', '.join(missing)} are not among the "
                              f"metrics ({', '.join(brief)})")
    return sum(w * brief[k] for k, w in weights.items()) / sum(weights.values())


def nms_setting(opt):
    """(nms_thd, max_before_nms, max_after_nms), or None when --nms_thd is -1."""
    return None if opt.nms_thd == -1 else (opt.nms_thd, opt.max_before_nms, opt.max_after_nms)


def pin_memory(opt) -> bool:
    """Pinned host memory (and non-blocking copies) for CUDA runs, unless --no_pin_memory."""
    return not opt.no_pin_memory and opt.device.type == "cuda"


def run_inference(opt, model=None, dataset=None, world=None):
    """Predict the split opt.eval_path (named opt.eval_split_name) with the checkpoint opt.resume (or the given
    model; `dataset`: the eval dataset when the caller has it) and write hl_{split}_submission.jsonl, with its
    metrics when the rows have labels. Under torchrun (world) the batches are sharded and rank 0 writes.

    Returns (metrics or None, submission path); (None, path) on the other ranks.
    """
    world = world or World()
    if not os.path.isfile(opt.eval_path):
        raise EvaluationError(f"no annotation file for split '{opt.eval_split_name}': {opt.eval_path} does not "
                              f"exist (pass --eval_path)")
    spec = load_spec(opt.eval_dataset)
    dataset = dataset if dataset is not None else build_dataset(opt, opt.eval_path, spec=spec)
    if model is None:
        model, _ = load_checkpoint(opt.resume, build_model(opt))
    if world.is_main:
        check_writable_dir(opt.results_dir)  # before predicting, not after
    loader = build_eval_loader(dataset, opt.eval_bsz, opt.num_workers, pin_memory(opt), world)
    submission, _ = predict(model.to(opt.device), loader, spec, opt.device, opt.clip_length, opt.amp,
                            sort=not opt.no_sort_results, non_blocking=pin_memory(opt),
                            max_batches=1 if opt.debug else None, world=world)
    name = f"hl_{opt.eval_split_name}_submission" + (f"_{opt.eval_id}" if getattr(opt, "eval_id", None) else "")
    save_path = os.path.join(opt.results_dir, name + ".jsonl")
    if not world.is_main:
        return None, save_path
    metrics, _, _ = write_predictions(submission, dataset.data if dataset.load_labels else None, spec, save_path,
                                      nms_setting(opt))
    return metrics, save_path
