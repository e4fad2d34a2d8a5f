"""Training: the authors' recipe, resumable, with evaluation, model selection and final inference.

    python -m video_lights.train --preset qvhl --feat_root ../Datasets/qvhl/features --exp_id my_run

Writes into the run folder: opt.json, train.log.txt, eval.log.txt, tensorboard_log/, model_latest.ckpt (after
every epoch), model_best.ckpt, model_eXXXX.ckpt, best_/latest_ prediction and metric files, and after training the
inference of the best checkpoint on the eval split (hl_{split}_submission.jsonl and its _metrics.json).
The loop itself is video_lights/engine/trainer.py.
"""
import sys

from video_lights.config import parse_args
from video_lights.engine.trainer import train
from video_lights.utils.cli import command


@command
def main(argv=None):
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
