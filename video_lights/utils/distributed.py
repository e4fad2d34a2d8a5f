"""torchrun's environment in one place: this process's rank and the world size, its device, and one small object
gathered from every rank. Without torchrun: rank 0 of a world of 1, and nothing is initialised."""
import datetime
import os
import sys

from video_lights.utils.cli import USER_ERROR

# How long a rank that has finished its share waits in gather() for the others (the rendezvous and the all-gather):
# shares are equal in items, not in hours of video, and gloo's default of 30 minutes would fail a long sharded
# extraction after all its features were written.
GATHER_TIMEOUT = datetime.timedelta(hours=48)


def rank_and_world() -> tuple:
    """(RANK, WORLD_SIZE) from torchrun's environment; (0, 1) outside it."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def local_device(value: str) -> str:
    """The device of this process for a --device value: "auto" -> cuda when available, else cpu; "cuda" under
    torchrun -> cuda:LOCAL_RANK; anything else unchanged."""
    import torch
    local = os.environ.get("LOCAL_RANK")
    if value == "auto":
        value = "cuda" if torch.cuda.is_available() else "cpu"
    if value == "cuda" and local is not None:
        value = f"cuda:{local}"
    return value


def report_failures(failed) -> int:
    """Rank 0 of a sharded command line: one `error: ...` line per failed item of every rank (stderr); returns the
    exit status (2 when any failed)."""
    for f in failed:
        print(f"error: {f}", file=sys.stderr)
    return USER_ERROR if failed else 0


def other_rank_status(summaries) -> int:
    """The exit status of a rank other than 0, which leaves the report to rank 0: 2 when any rank failed."""
    return USER_ERROR if any(s["failed"] for s in summaries) else 0


def gather(obj) -> list:
    """Every rank's `obj` (a list in rank order; a gloo all-gather, so it is also a barrier that waits up to
    GATHER_TIMEOUT) under torchrun with several processes, else [obj]."""
    _, world = rank_and_world()
    if world == 1:
        return [obj]
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=GATHER_TIMEOUT)
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out
