"""Run by tests/test_kill_resume.py, alone or under torchrun: a command line whose rank KILL_RANK SIGKILLs itself at
a chosen point, as the OOM killer or a lost machine would (no cleanup, no exception handler runs).

    python tests/dist_kill_worker.py extract KILL_RANK video N [extract options]  # in the middle of its N-th video
    python tests/dist_kill_worker.py extract KILL_RANK write N [extract options]  # half-way through its N-th file
    torchrun --standalone --nproc_per_node 2 tests/dist_kill_worker.py train KILL_RANK STEP [train options]
                                                                          # at its STEP-th training forward pass
"""
import io
import os
import signal
import sys

import numpy as np


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def counter(n):
    """A function that is true on its n-th call (counted from 1)."""
    calls = [0]

    def nth():
        calls[0] += 1
        return calls[0] == n
    return nth


def kill_in_video(n):
    """SIGKILL at the first progress report of the n-th video, after its first clips went through the extractors."""
    from video_lights.features import pipeline
    nth, original = counter(n), pipeline.extract_video

    def extract_video(*args, progress=None, **kwargs):
        if not nth():
            return original(*args, progress=progress, **kwargs)

        def report(done, total):
            if done > 0:
                die()
        return original(*args, progress=report, **kwargs)
    pipeline.extract_video = extract_video


def kill_in_write(n):
    """SIGKILL after half of the bytes of the n-th .npz written (save_npz's np.savez into atomic_open's file)."""
    nth, original = counter(n), np.savez

    def savez(file, *args, **kwargs):
        if not nth():
            return original(file, *args, **kwargs)
        buf = io.BytesIO()
        original(buf, *args, **kwargs)
        file.write(buf.getvalue()[:len(buf.getvalue()) // 2])
        file.flush()
        die()
    np.savez = savez


def kill_at_step(model, step):
    """SIGKILL at the start of the `step`-th forward pass of `model` in training mode."""
    nth = counter(step)

    def hook(module, args):
        if module.training and nth():
            die()
    model.register_forward_pre_hook(hook)


def main(argv):
    what, kill_rank = argv[0], int(argv[1])
    rank = int(os.environ.get("RANK", "0"))
    if what == "extract":
        where, n, rest = argv[2], int(argv[3]), argv[4:]
        if rank == kill_rank:
            {"video": kill_in_video, "write": kill_in_write}[where](n)
        from video_lights.extract import main as extract_main
        return extract_main(rest)
    from video_lights.config import parse_args
    from video_lights.engine.distributed import close_world
    from video_lights.engine.trainer import Trainer
    trainer = Trainer(parse_args(argv[3:]))
    if trainer.world.rank == kill_rank:
        kill_at_step(trainer.model, int(argv[2]))
    try:
        trainer.fit()
    finally:
        close_world(trainer.world)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
