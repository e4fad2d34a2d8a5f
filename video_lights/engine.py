"""One epoch of training and one evaluation (the reference `train_epoch` / `eval_epoch`)."""
import collections
import sys

import torch
from tqdm import tqdm

from video_lights.data import prepare_batch_inputs
from video_lights.inference import autocast_context, predict, write_predictions


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def train_one_epoch(model, criterion, loader, optimizer, opt, epoch_i, scaler=None):
    """Train for one epoch; returns {loss name: mean of its weighted value over batches}.

    Per batch: forward, criterion(outputs, targets, epoch_i), weighted total, backward, total-norm clipping at
    opt.grad_clip, AdamW step. Raises NonFiniteLossError naming the epoch, batch and terms if the loss is not
    finite, before any parameter is updated with it.
    """
    model.train()
    criterion.train()
    weights = criterion.weight_dict
    sums, n = collections.defaultdict(float), 0
    bar = tqdm(loader, desc=f"Epoch {epoch_i + 1}", leave=False, disable=not sys.stderr.isatty())
    for batch_idx, (_, batched) in enumerate(bar):
        model_inputs, targets = prepare_batch_inputs(batched, opt.device, non_blocking=opt.pin_memory)
        with autocast_context(opt.device, opt.amp):
            outputs = model(**model_inputs)
            loss_dict = criterion(outputs, targets, epoch_i)
        total = sum(loss_dict[k] * weights[k] for k in loss_dict if k in weights)
        if not torch.isfinite(total).all():
            bad = sorted(k for k, v in loss_dict.items() if not torch.isfinite(v).all())
            raise NonFiniteLossError(f"loss is {float(total.detach())} at epoch {epoch_i + 1} (epoch_i {epoch_i}), batch "
                                     f"{batch_idx} (non-finite terms: {', '.join(bad) or 'the weighted sum'}); "
                                     f"stopped before updating the weights, the last saved checkpoints are kept")
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        if opt.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        for k, v in loss_dict.items():
            v = float(v.detach())
            sums[k] += v * weights[k] if k in weights else v
        sums["loss_overall"] += float(total.detach())
        n += 1
        bar.set_postfix(loss=f"{sums['loss_overall'] / n:.4f}")
        if opt.debug:
            break
    return {k: v / max(n, 1) for k, v in sums.items()}


def evaluate(model, criterion, dataset, loader, opt, save_path):
    """Predict the eval split, write the submission and its metrics; eval losses use epoch_i = 0 (as the reference).

    Returns (metrics, metrics after NMS or None, eval losses, written paths).
    """
    gt_rows = dataset.data if opt.eval_split_name == "val" else None
    submission, losses = predict(model, loader, opt, criterion, epoch_i=0)
    metrics, metrics_nms, paths = write_predictions(submission, gt_rows, opt, save_path)
    return metrics, metrics_nms, losses, paths


# Model selection weights of the reference `calculate_stop_score` (normalised by their sum); no HL term.
# QVHighlights (and pretraining, dset "hl") vs every other moment-retrieval dataset.
STOP_SCORE_WEIGHTS = {
    "hl": {"MR-full-R1@0.3": 0.3, "MR-full-R1@0.5": 0.5, "MR-full-R1@0.7": 0.7, "MR-full-mAP@0.5": 0.5,
           "MR-full-mAP@0.75": 0.75, "MR-full-mAP": 0.25, "MR-long-mAP": 0.25, "MR-middle-mAP": 0.25,
           "MR-short-mAP": 0.25},
}
OTHER_STOP_SCORE_WEIGHTS = {"MR-full-R1@0.3": 0.3, "MR-full-R1@0.5": 0.5, "MR-full-R1@0.7": 0.7, "MR-full-mIoU": 0.5}


def stop_score(brief, dset_name):
    """The number the best checkpoint is selected on: weighted mean of brief metrics, or TVSum's mAP."""
    if dset_name == "tvsum":
        return brief["mAP"]
    weights = STOP_SCORE_WEIGHTS.get(dset_name, OTHER_STOP_SCORE_WEIGHTS)
    return sum(w * brief[k] for k, w in weights.items()) / sum(weights.values())
