"""The training recipe in steps (the authors' train.py): set up, resume, one epoch, evaluate and select, save.

    trainer = Trainer(opt)      # datasets, model, optimizer, resume: all before the run folder exists
    best = trainer.fit()        # epochs; model_latest.ckpt after every one; final inference of the best

Nothing trained is lost: model_latest.ckpt (resumable with --resume_all) is written after every epoch, whatever
the eval cadence, and a run stopped by Ctrl-C, a full disk or a diverging loss says which checkpoint is the
last good one. Run folders are unique, also for runs started in the same second.

Under torchrun every rank runs this same loop on its share of the data (engine/distributed.py); rank 0 alone
writes files, and decisions taken on its results (best checkpoint, early stop, errors) reach every rank.
"""
import copy
import json
import logging
import os
import random
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from torch.utils.tensorboard import SummaryWriter

from video_lights.api import load_checkpoint
from video_lights.config import save_opt, set_results_dir
from video_lights.data import build_dataset, load_spec, start_end_collate
from video_lights.engine.distributed import close_world, init_world
from video_lights.engine.evaluation import (EvaluationError, build_eval_loader, check_scorable, nms_setting,
                                            pin_memory, predict, run_inference, stop_score, write_predictions)
from video_lights.engine.precision import grad_scaler
from video_lights.engine.training import NonFiniteError, build_optimizer, load_optimizer_state, train_one_epoch
from video_lights.model import build_criterion, build_model
from video_lights.model.checkpoint import CheckpointError, save_checkpoint
from video_lights.utils.cli import UserError, describe_os_error

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


def make_run_dir(path):
    """Create the run folder `path`, or `path_2`, `path_3`, ... when it exists (two runs started in the same
    second); returns the folder created. OSError naming the folder when it cannot be created or written."""
    candidate, n = path, 1
    while True:
        try:
            os.makedirs(candidate)
            break
        except FileExistsError:
            n += 1
            candidate = f"{path}_{n}"
        except OSError as e:
            raise OSError(e.errno, f"cannot create the results folder ({e.strerror})", path) from None
    return candidate


def append_line(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


class Trainer:
    """One training run of `opt` (config.parse_args). See the module docstring."""

    def __init__(self, opt):
        self.opt = opt
        self.world, opt.device = init_world(opt.device)
        world = self.world
        set_seed(opt.seed)
        if opt.debug:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
        self.spec, self.eval_spec = load_spec(opt.dataset), load_spec(opt.eval_dataset)
        # inputs first: a missing or malformed input, or a bad checkpoint, stops the run before its folder exists
        self.train_set = build_dataset(opt, opt.train_path, spec=self.spec)
        if not self.train_set.load_labels:
            raise UserError(f"{opt.train_path}: the training rows have no labels "
                            f"(field '{self.spec.labels_field}')")
        self.eval_set = build_dataset(opt, opt.eval_path, spec=self.eval_spec) if opt.eval_path else None
        for dataset in (self.train_set, self.eval_set):
            if dataset is not None:
                dataset.check_features(0)  # dims and files of one row, before anything is created
        if self.eval_set is not None and self.eval_set.load_labels:
            check_scorable(self.eval_spec)
        pin = self.non_blocking = pin_memory(opt)
        # one process: the authors' shuffled loader (its order comes from the torch RNG); torchrun: a share per rank
        self.train_sampler = (DistributedSampler(self.train_set, world.world_size, world.rank, shuffle=True,
                                                 seed=opt.seed) if world.distributed else None)
        self.train_loader = DataLoader(self.train_set, collate_fn=start_end_collate, batch_size=opt.bsz,
                                       shuffle=self.train_sampler is None, sampler=self.train_sampler,
                                       num_workers=opt.num_workers, pin_memory=pin)
        self.eval_loader = (build_eval_loader(self.eval_set, opt.eval_bsz, opt.num_workers, pin, world)
                            if self.eval_set is not None else None)
        opt.world_size, opt.global_bsz = world.world_size, opt.bsz * world.world_size  # written to opt.json

        self.model = build_model(opt).to(opt.device)
        self.criterion = build_criterion(opt, self.spec.moments).to(opt.device)
        self.eval_criterion = (self.criterion if self.eval_spec.moments == self.spec.moments
                               else build_criterion(opt, self.eval_spec.moments).to(opt.device))
        self.optimizer = build_optimizer(self.model, opt)
        self.lr_scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, opt.lr_drop)
        self.scaler = grad_scaler(opt.device, opt.amp)
        self.start_epoch, self.best_score, self.es_cnt = 0, -float("inf"), 0
        self.last_good = None  # (path, epoch) of the newest complete checkpoint
        if world.distributed:
            torch.manual_seed(opt.seed + world.rank)  # own dropout masks per rank (DDP copies rank 0's weights)
        self.resume()
        self.train_model = self.model
        if world.distributed:  # some parameters feed no loss (contrastive_align_projection_vid, unused norms)
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[opt.device.index] if opt.device.type == "cuda" else None,
                find_unused_parameters=True)
        if opt.compile:
            self.train_model = torch.compile(self.train_model)

        run_dir = world.broadcast(make_run_dir(opt.results_dir) if world.is_main else None)
        opt.results_dir = set_results_dir(opt, run_dir)
        self.best_path = os.path.join(opt.results_dir, "model_best.ckpt")
        self.latest_path = os.path.join(opt.results_dir, "model_latest.ckpt")
        self.preds_name = f"latest_{self.eval_spec.tag}_{opt.eval_split_name}_preds.jsonl"
        if world.is_main:
            (logger.warning if opt.amp_note.startswith("warning: ") else logger.info)("%s", opt.amp_note)
            save_opt(opt, os.path.join(opt.results_dir, "opt.json"))
            logger.info("model: %d parameters, training on %s, %d process(es) x batch %d = batch %d, run folder %s",
                        sum(p.numel() for p in self.model.parameters()), opt.device, world.world_size, opt.bsz,
                        opt.global_bsz, opt.results_dir)

    # ---- steps ------------------------------------------------------------------------------------------------
    def resume(self):
        """--resume: weights only (pretrain -> finetune, epochs restart at 0); --resume_all: also optimizer,
        scheduler, gradient scaler, epoch and every RNG, so the run continues exactly."""
        opt = self.opt
        if opt.resume is not None:
            _, ckpt = load_checkpoint(opt.resume, self.model, map_location=opt.device)
            logger.info("loaded model weights from %s", opt.resume)
            if opt.resume_all:
                if "optimizer" not in ckpt or "lr_scheduler" not in ckpt:
                    raise CheckpointError(f"{opt.resume}: has no optimizer / lr_scheduler state to resume from "
                                          f"(model_eXXXX.ckpt files hold weights only: use --resume, or "
                                          f"model_latest.ckpt)")
                saved_world = ckpt.get("world_size", 1)
                if saved_world != self.world.world_size and not opt.allow_new_world_size:
                    raise CheckpointError(f"{opt.resume}: saved by a run of {saved_world} process(es), resumed with "
                                          f"{self.world.world_size}: the effective batch and the data order change "
                                          f"(start as many processes, or pass --allow_new_world_size)")
                load_optimizer_state(self.optimizer, ckpt["optimizer"])
                self.lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
                if self.scaler is not None and "scaler" in ckpt:
                    self.scaler.load_state_dict(ckpt["scaler"])
                self.start_epoch = ckpt["epoch"] + 1
                if saved_world == self.world.world_size and "rng_state" in ckpt:
                    states = ckpt.get("rank_rng_states", [ckpt["rng_state"]])
                    set_rng_state(states[self.world.rank])
        if opt.start_epoch is not None:
            self.start_epoch = opt.start_epoch
        if opt.eval_untrained and opt.start_epoch is None and not opt.resume_all:
            self.start_epoch = -1

    def save(self, path, epoch_i, resumable=True):
        """Write a checkpoint atomically (rank 0); resumable ones (best, latest) carry scheduler, scaler and RNG
        states (every rank's under torchrun, with the world size). Called on every rank."""
        states = self.world.gather(rng_state()) if resumable else None
        extra = {"rng_state": states[0]} if resumable else {}
        if resumable and self.world.distributed:
            extra.update(rank_rng_states=states, world_size=self.world.world_size)
        if resumable and self.scaler is not None:
            extra["scaler"] = self.scaler.state_dict()
        self.on_main(lambda: save_checkpoint(path, self.model, self.optimizer,
                                             self.lr_scheduler if resumable else None, epoch_i, self.opt, **extra))
        if resumable:
            self.last_good = (path, epoch_i)

    def on_main(self, fn):
        """fn() on rank 0 only; its result, or the error it raised, on every rank (so that no rank waits for a
        rank that stopped)."""
        result = error = None
        if self.world.is_main:
            try:
                result = fn()
            except (UserError, OSError) as e:
                error = e
        result, error = self.world.broadcast((result, error))
        if error is not None:
            raise error
        return result

    def train_epoch(self, epoch_i):
        opt = self.opt
        if self.train_sampler is not None:
            self.train_sampler.set_epoch(epoch_i)
        losses = train_one_epoch(self.train_model, self.criterion, self.train_loader, self.optimizer, opt.device,
                                 epoch_i, opt.amp, opt.grad_clip, self.scaler, self.non_blocking,
                                 max_batches=1 if opt.debug else None, world=self.world)
        lr = self.optimizer.param_groups[0]["lr"]  # the lr this epoch used
        self.lr_scheduler.step()
        if self.world.is_main:
            self.tb.add_scalar("Train/lr", lr, epoch_i + 1)
            append_line(opt.train_log_filepath, f"{time.strftime('%Y_%m_%d_%H_%M_%S')} [Epoch] {epoch_i + 1:03d} "
                        f"[Loss] " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))
            for k, v in losses.items():
                self.tb.add_scalar(f"Train/{k}", v, epoch_i + 1)
            logger.info("epoch %d: loss %.4f", epoch_i + 1, losses["loss_overall"])

    def evaluate_and_select(self, epoch_i):
        """Predict the eval split, log its losses and metrics, keep the best checkpoint. Returns True to stop
        early (more than --max_es_cnt evaluations without improvement)."""
        opt = self.opt
        # evaluated in float32 whatever --amp trains in: the scores that select the best checkpoint are the ones
        # `infer` on it gives (its --amp defaults to off)
        submission, eval_losses = predict(self.model, self.eval_loader, self.eval_spec, opt.device, opt.clip_length,
                                          False, self.eval_criterion, sort=not opt.no_sort_results,
                                          non_blocking=self.non_blocking, max_batches=1 if opt.debug else None,
                                          world=self.world)
        score, paths = self.on_main(lambda: self._write_and_score(epoch_i, submission, eval_losses))
        if score is None:  # a split without labels gives predictions only, nothing to select on
            return False
        if score > self.best_score:
            self.best_score, self.es_cnt = score, 0
            self.save(self.best_path, epoch_i)
            self.on_main(lambda: self._promote(paths))
            return False
        self.es_cnt += 1
        return opt.max_es_cnt != -1 and self.es_cnt > opt.max_es_cnt

    def _write_and_score(self, epoch_i, submission, eval_losses):
        """Rank 0: write and score the predictions, log them. Returns (selection score or None, written paths)."""
        opt = self.opt
        gt_rows = self.eval_set.data if self.eval_set.load_labels else None
        metrics, _, paths = write_predictions(submission, gt_rows, self.eval_spec,
                                              os.path.join(opt.results_dir, self.preds_name), nms_setting(opt))
        append_line(opt.eval_log_filepath, f"{time.strftime('%Y_%m_%d_%H_%M_%S')} [Epoch] {epoch_i:03d} [Loss] "
                    + " ".join(f"{k} {v:.4f}" for k, v in eval_losses.items()) + f" [Metrics] {json.dumps(metrics)}")
        if metrics is None:
            return None, paths
        for k, v in metrics["brief"].items():
            self.tb.add_scalar(f"Eval/{k}", float(v), epoch_i + 1)
        score = stop_score(metrics["brief"], self.eval_spec)
        logger.info("epoch %d eval: %s (selection score %.2f)", epoch_i + 1, json.dumps(metrics["brief"]), score)
        return score, paths

    def _promote(self, paths):
        """Rank 0: the latest_ prediction files of the new best checkpoint become its best_ files."""
        for p in paths:
            os.replace(p, os.path.join(os.path.dirname(p), os.path.basename(p).replace("latest_", "best_", 1)))
        logger.info("best checkpoint updated: %s", self.best_path)

    def save_periodic(self, epoch_i):
        """Weight-only model_eXXXX.ckpt every spec.save_every epochs and at multiples of --lr_drop (none for
        save_every 0: TVSum's 2000 epochs x 122 MB)."""
        every, n = self.spec.save_every, epoch_i + 1
        if every > 0 and epoch_i > -1 and (n % every == 0 or n % self.opt.lr_drop == 0):
            self.save(os.path.join(self.opt.results_dir, f"model_e{epoch_i:04d}.ckpt"), epoch_i, resumable=False)

    # ---- the loop ---------------------------------------------------------------------------------------------
    def fit(self):
        """Train from start_epoch to n_epoch; returns the path of the best checkpoint (it may not exist when the
        eval split has no labels). Errors come back as one message naming the last good checkpoint."""
        try:
            return self._fit()
        except KeyboardInterrupt:
            raise KeyboardInterrupt(self._last_good_note()) from None
        except OSError as e:
            raise UserError(f"{describe_os_error(e)}; {self._last_good_note()}") from None
        except (NonFiniteError, EvaluationError) as e:
            raise type(e)(f"{e}; {self._last_good_note()}") from None

    def _last_good_note(self):
        if self.last_good is None:
            return "no checkpoint was written yet"
        path, epoch_i = self.last_good
        return f"last good checkpoint: {path} (epoch {epoch_i + 1}, resume with --resume {path} --resume_all)"

    def _fit(self):
        opt, world = self.opt, self.world
        self.tb = SummaryWriter(opt.tensorboard_log_dir) if world.is_main else None
        if world.is_main:
            self.tb.add_text("hyperparameters", "\n".join(f"{k}: {v}" for k, v in sorted(vars(opt).items())), 0)
        try:
            for epoch_i in range(self.start_epoch, opt.n_epoch):
                if epoch_i > -1:
                    self.train_epoch(epoch_i)
                stop = False
                if self.eval_set is not None and (epoch_i + 1) % opt.eval_epoch == 0:
                    stop = self.evaluate_and_select(epoch_i)
                if epoch_i > -1:
                    self.save(self.latest_path, epoch_i)
                self.save_periodic(epoch_i)
                if stop:
                    if world.is_main:
                        append_line(opt.train_log_filepath, f"Early Stop at epoch {epoch_i}")
                        logger.info("early stop at epoch %d (no improvement in %d evaluations)", epoch_i + 1,
                                    self.es_cnt)
                    break
                if opt.debug:
                    break
        finally:
            if self.tb is not None:
                self.tb.close()
        if self.eval_set is not None and world.broadcast(os.path.isfile(self.best_path)) and not opt.debug:
            final_opt = copy.copy(opt)
            final_opt.resume, final_opt.amp = self.best_path, False  # float32, as in evaluate_and_select
            if world.is_main:
                load_checkpoint(self.best_path, self.model, map_location=opt.device)  # the best weights, in place
            world.broadcast_tensors(self.model.state_dict().values())  # ranks on other machines cannot read it
            metrics, path = run_inference(final_opt, self.model, self.eval_set, world)
            if world.is_main:
                logger.info("inference of the best checkpoint: %s", path)
                if metrics is not None:
                    logger.info("%s", json.dumps(metrics["brief"]))
        return self.best_path


def train(opt):
    """Train with opt (config.parse_args); returns the path of the best checkpoint."""
    trainer = Trainer(opt)
    try:
        return trainer.fit()
    finally:
        close_world(trainer.world)
