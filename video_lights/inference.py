"""Inference: run a checkpoint on a split and write the Codalab-format submission (and its metrics).

    python -m video_lights.inference --resume results/.../model_best.ckpt --eval_split_name val \
        --eval_path data/highlight_val_release.jsonl [any other option]

Options come from the training opt.json next to the checkpoint (TestOptions behaviour), the eval file and split
name included; every flag given on this command line wins, and --feat_root re-roots the saved feature dirs.
Writes `hl_{split}_submission.jsonl` (and `..._metrics.json` when the rows have labels) into --eval_results_dir
(default: the checkpoint's folder). Under torchrun (`torchrun --nproc_per_node N -m video_lights.inference ...`)
the eval batches are shared out whole and rank 0 writes the same file as one process.
"""
import json
import sys

from video_lights.config import parse_args
from video_lights.engine.distributed import close_world, init_world
from video_lights.engine.evaluation import run_inference
from video_lights.utils.cli import UserError, command


@command
def main(argv=None):
    opt = parse_args(argv, inference=True)
    if opt.resume is None:
        raise UserError("--resume CHECKPOINT is required")
    if opt.amp or opt.amp_note.startswith("warning: "):
        print(opt.amp_note, file=sys.stderr)
    world, opt.device = init_world(opt.device)  # under torchrun: eval batches sharded, rank 0 writes
    try:
        metrics, path = run_inference(opt, world=world)
    finally:
        close_world(world)
    if world.is_main:
        print(f"wrote {path}")
        if metrics is not None:
            print(json.dumps(metrics["brief"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
