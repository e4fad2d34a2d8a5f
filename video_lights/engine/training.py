"""One epoch of training (the authors' train_epoch), with explicit device, precision and clipping."""
import collections
import sys

import torch
from tqdm import tqdm

from video_lights.data import prepare_batch_inputs
from video_lights.engine.distributed import World
from video_lights.engine.precision import autocast_context
from video_lights.utils.cli import UserError

CHECKED_OUTPUTS = ("pred_logits", "pred_spans", "saliency_scores")


class NonFiniteError(UserError):
    """The model outputs or the training loss became NaN or infinite."""


def check_finite_outputs(outputs, where, world=None):
    """Raise NonFiniteError naming the outputs that hold NaN/inf (before the matcher, which cannot take them);
    under torchrun every rank raises when one rank's outputs are not finite."""
    present = [k for k in CHECKED_OUTPUTS if k in outputs]
    finite = bool(torch.stack([torch.isfinite(outputs[k]).all() for k in present]).all())  # one host sync
    if (world or World()).all_true(finite, outputs[present[0]].device):
        return
    bad = [k for k in present if not torch.isfinite(outputs[k]).all()]
    raise NonFiniteError(f"non-finite model outputs ({', '.join(bad) or 'on another rank'}) {where}: the weights "
                         f"have diverged or hold NaN/inf values (when training: a lower --lr, and keep --grad_clip)")


def build_optimizer(model, opt):
    """AdamW over the trainable parameters (lr --lr, weight decay --wd), as the authors' setup_model.

    The fused kernel (one pass over each parameter) where torch has it for the parameters' device: the same update
    to float32 rounding (~3e-8), 45 -> 13 ms per VideoLights-B step on a 2-core EPYC, where torch's CPU default is a
    loop of a dozen ops per parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.wd, fused=fused or None)


def load_optimizer_state(optimizer, state):
    """optimizer.load_state_dict(state), keeping build_optimizer's kernel choice for this run's device (the saved
    groups carry the saving run's `fused` flag, which torch would otherwise restore)."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        group["fused"] = optimizer.defaults["fused"]


def train_step(model, criterion, optimizer, inputs, targets, device, epoch_i=0, amp=False, grad_clip=0.1,
               scaler=None, where="", world=None):
    """One optimisation step on one batch; returns (loss_dict, weighted total), both detached.

    Forward (autocast with amp), criterion(outputs, targets, epoch_i), weighted total, backward (scaled with a
    GradScaler), total-norm clipping at grad_clip (<= 0: none), optimizer step. Raises NonFiniteError naming the
    outputs or loss terms that are not finite (`where` says which batch), before any parameter is updated.
    """
    world = world or World()
    with autocast_context(device, amp):
        outputs = model(**inputs)
        check_finite_outputs(outputs, where, world)
        loss_dict = criterion(outputs, targets, epoch_i)
    total = criterion.weighted_total(loss_dict)
    finite = bool(torch.isfinite(total).all())
    if not world.all_true(finite, device):
        bad = sorted(k for k, v in loss_dict.items() if not torch.isfinite(v).all())
        raise NonFiniteError(f"non-finite loss ({float(total.detach())}) {where}, terms: "
                             f"{', '.join(bad) or ('the weighted sum' if not finite else 'on another rank')}; "
                             f"stopped before updating the weights")
    optimizer.zero_grad()
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
    else:
        total.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return {k: v.detach() for k, v in loss_dict.items()}, total.detach()


def train_one_epoch(model, criterion, loader, optimizer, device, epoch_i, amp=False, grad_clip=0.1, scaler=None,
                    non_blocking=False, max_batches=None, world=None):
    """Train for one epoch (train_step per batch); returns {loss name: mean of its logged value over batches}
    (criterion.log_values), averaged over ranks under torchrun (world; `model` is then the DDP wrapper).
    max_batches: stop after this many batches (--debug runs one).
    """
    world = world or World()
    model.train()
    criterion.train()
    sums, n = collections.defaultdict(float), 0
    bar = tqdm(loader, desc=f"Epoch {epoch_i + 1}", leave=False, disable=not sys.stderr.isatty() or not world.is_main)
    for batch_idx, (_, batched) in enumerate(bar):
        model_inputs, targets = prepare_batch_inputs(batched, device, non_blocking=non_blocking)
        loss_dict, total = train_step(model, criterion, optimizer, model_inputs, targets, device, epoch_i, amp,
                                      grad_clip, scaler, f"at epoch {epoch_i + 1} (epoch_i {epoch_i}), batch "
                                      f"{batch_idx}", world)
        for k, v in criterion.log_values(loss_dict, total).items():
            sums[k] += v
        n += 1
        bar.set_postfix(loss=f"{sums['loss_overall'] / n:.4f}")
        if max_batches is not None and n >= max_batches:
            break
    return world.mean({k: v / max(n, 1) for k, v in sums.items()}, device)
