"""Training: the reference recipe (spec §5), resumable, with evaluation, model selection and final inference.

    python -m video_lights.train --preset qvhl --feat_root ../Datasets/qvhl/features --exp_id my_run

Writes into opt.results_dir: opt.json, train.log.txt, eval.log.txt, tensorboard_log/, model_latest.ckpt,
model_best.ckpt, model_eXXXX.ckpt, best_/latest_ prediction and metric files, and after training the
inference of the best checkpoint on the eval split (hl_{split}_submission.jsonl and its _metrics.json).
"""
import copy
import json
import logging
import os
import random
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from standalone_eval.eval import SubmissionError
from video_lights.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from video_lights.config import parse_args, save_opt
from video_lights.data import DataError, build_dataset, start_end_collate
from video_lights.engine import NonFiniteLossError, evaluate, stop_score, train_one_epoch
from video_lights.inference import build_eval_loader, run_inference
from video_lights.model import build_model

logger = logging.getLogger("video_lights")


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def rng_state():
    """All RNG states, as plain tensors / tuples (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                    cached), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prepare_results_dir(path):
    """Create results_dir and prove it is writable, or fail with a clear message."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"cannot write to results directory {path}: {e.strerror or e}") from None


def append_line(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def train(opt):
    """Train with opt; returns the path of the best checkpoint."""
    set_seed(opt.seed)
    if opt.debug:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # the datasets first: a missing or malformed input stops the run before its folder is created
    train_set = build_dataset(opt, opt.train_path, load_labels=True)
    eval_set = build_dataset(opt, opt.eval_path, load_labels=opt.eval_split_name == "val") if opt.eval_path else None
    prepare_results_dir(opt.results_dir)
    save_opt(opt, os.path.join(opt.results_dir, "opt.json"))
    train_loader = DataLoader(train_set, collate_fn=start_end_collate, batch_size=opt.bsz, shuffle=True,
                              num_workers=opt.num_workers, pin_memory=opt.pin_memory and opt.device.type == "cuda")
    eval_loader = build_eval_loader(eval_set, opt) if eval_set is not None else None

    model, criterion = build_model(opt)
    model.to(opt.device)
    criterion.to(opt.device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=opt.lr,
                                  weight_decay=opt.wd)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, opt.lr_drop)
    scaler = torch.amp.GradScaler("cuda") if opt.amp and opt.device.type == "cuda" else None
    logger.info("model: %d parameters, training on %s", sum(p.numel() for p in model.parameters()), opt.device)

    start_epoch, best_score, es_cnt = 0, -float("inf"), 0
    if opt.resume is not None:
        _, ckpt = load_checkpoint(opt.resume, model, map_location=opt.device)
        logger.info("loaded model weights from %s", opt.resume)
        if opt.resume_all:
            if "optimizer" not in ckpt or "lr_scheduler" not in ckpt:
                raise CheckpointError(f"{opt.resume}: has no optimizer / lr_scheduler state to resume from "
                                      f"(model_eXXXX.ckpt files hold weights only: use --resume, or model_latest.ckpt)")
            optimizer.load_state_dict(ckpt["optimizer"])
            lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
            start_epoch = ckpt["epoch"] + 1
            if "rng_state" in ckpt:
                set_rng_state(ckpt["rng_state"])
    if opt.start_epoch is not None:
        start_epoch = opt.start_epoch
    if opt.eval_untrained and opt.start_epoch is None and not opt.resume_all:
        start_epoch = -1

    tb_writer = SummaryWriter(opt.tensorboard_log_dir)
    tb_writer.add_text("hyperparameters", "\n".join(f"{k}: {v}" for k, v in sorted(vars(opt).items())), 0)
    preds_name = f"latest_{opt.dset_name}_{opt.eval_split_name}_preds.jsonl"
    best_path = os.path.join(opt.results_dir, "model_best.ckpt")

    def checkpoint(path, epoch_i, with_scheduler=True):
        save_checkpoint(path, model, optimizer, lr_scheduler if with_scheduler else None, epoch_i, opt,
                        rng_state=rng_state())

    for epoch_i in range(start_epoch, opt.n_epoch):
        if epoch_i > -1:
            losses = train_one_epoch(model, criterion, train_loader, optimizer, opt, epoch_i, scaler)
            tb_writer.add_scalar("Train/lr", optimizer.param_groups[0]["lr"], epoch_i + 1)  # the lr this epoch used
            lr_scheduler.step()
            append_line(opt.train_log_filepath, f"{time.strftime('%Y_%m_%d_%H_%M_%S')} [Epoch] {epoch_i + 1:03d} "
                        f"[Loss] " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))
            for k, v in losses.items():
                tb_writer.add_scalar(f"Train/{k}", v, epoch_i + 1)
            logger.info("epoch %d: loss %.4f", epoch_i + 1, losses["loss_overall"])

        if eval_set is not None and (epoch_i + 1) % opt.eval_epoch == 0:
            metrics, _, eval_losses, paths = evaluate(
                model, criterion, eval_set, eval_loader, opt, os.path.join(opt.results_dir, preds_name))
            append_line(opt.eval_log_filepath, f"{time.strftime('%Y_%m_%d_%H_%M_%S')} [Epoch] {epoch_i:03d} [Loss] "
                        + " ".join(f"{k} {v:.4f}" for k, v in eval_losses.items())
                        + f" [Metrics] {json.dumps(metrics)}")
            stop = False
            if metrics is not None:  # a split without labels gives predictions only, nothing to select on
                for k, v in metrics["brief"].items():
                    tb_writer.add_scalar(f"Eval/{k}", float(v), epoch_i + 1)
                score = stop_score(metrics["brief"], opt.dset_name)
                logger.info("epoch %d eval: %s (selection score %.2f)", epoch_i + 1, json.dumps(metrics["brief"]),
                            score)
                if score > best_score:
                    best_score, es_cnt = score, 0
                    checkpoint(best_path, epoch_i)
                    for p in paths:
                        os.replace(p, os.path.join(os.path.dirname(p), os.path.basename(p).replace("latest_", "best_", 1)))
                    logger.info("best checkpoint updated: %s", best_path)
                else:
                    es_cnt += 1
                    stop = opt.max_es_cnt != -1 and es_cnt > opt.max_es_cnt
            checkpoint(os.path.join(opt.results_dir, "model_latest.ckpt"), epoch_i)
            if stop:
                append_line(opt.train_log_filepath, f"Early Stop at epoch {epoch_i}")
                logger.info("early stop at epoch %d (no improvement in %d evaluations)", epoch_i + 1, es_cnt)
                break

        save_interval = 10 if "subs_train" in opt.train_path else 50
        periodic = opt.dset_name != "tvsum"  # the reference's TVSum loop keeps only the best (2000 epochs x 122 MB)
        if periodic and epoch_i > -1 and ((epoch_i + 1) % save_interval == 0 or (epoch_i + 1) % opt.lr_drop == 0):
            checkpoint(os.path.join(opt.results_dir, f"model_e{epoch_i:04d}.ckpt"), epoch_i, with_scheduler=False)
        if opt.debug:
            break
    tb_writer.close()

    if eval_set is not None and os.path.isfile(best_path) and not opt.debug:
        final_opt = copy.copy(opt)
        final_opt.resume = best_path
        metrics, path = run_inference(final_opt)
        logger.info("inference of the best checkpoint: %s", path)
        if metrics is not None:
            logger.info("%s", json.dumps(metrics["brief"]))
    return best_path


def main(argv=None):
    opt = parse_args(argv)
    try:
        train(opt)
    except (CheckpointError, DataError, SubmissionError, NonFiniteLossError, FileNotFoundError,
            PermissionError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
