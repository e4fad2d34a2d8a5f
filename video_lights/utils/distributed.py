"""torchrun's environment in one place: this process's rank and the world size, its device, and one small object
gathered from every rank. Without torchrun: rank 0 of a world of 1, and nothing is initialised."""
import os


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


def gather(obj) -> list:
    """Every rank's `obj` (a list in rank order; a gloo all-gather, so it is also a barrier) under torchrun with
    several processes, else [obj]."""
    _, world = rank_and_world()
    if world == 1:
        return [obj]
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out
