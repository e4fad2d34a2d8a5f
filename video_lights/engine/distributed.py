"""Data-parallel training and evaluation with torchrun: one process per GPU (NCCL) or per CPU worker (gloo).

    torchrun --nproc_per_node 2 -m video_lights.train ...                      # one machine
    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 \
        --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m video_lights.train ...  # several machines

Without torchrun's environment (WORLD_SIZE unset or 1) nothing here changes a run: World(1) is the single
process of the published recipe. Under torchrun:
  * every rank trains on its share of each epoch (DistributedSampler, reshuffled per epoch with set_epoch), so the
    effective batch is --bsz x world size; gradients are averaged over ranks (DistributedDataParallel);
  * evaluation is sharded by whole eval batches (batch k goes to rank k mod world size), so every batch holds the
    same queries as in one process and the gathered predictions equal one process's, row for row;
  * rank 0 alone writes: logs, TensorBoard, checkpoints and predictions;
  * a rank that dies (SIGKILL, the OOM killer) stops the job within seconds: torchrun ends the other workers of
    its machine (whose next collective fails anyway: gloo's "Connection closed by peer") and its summary names
    the dead rank as the root cause (tests/test_kill_resume.py); a machine that vanishes without closing its
    connections is noticed only when a collective passes the process group's 30-minute timeout.
The batch-dependent parts of the published model (batch-global saliency normalisation in the losses, the BiCMF
mask tiling, the negative pair rolled within the batch) see the per-process batch.
"""
import datetime
import os
import sys

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from video_lights.utils.distributed import gather, rank_and_world


class World:
    """This process's place in the job: rank, world_size, local_rank; is_main for rank 0."""

    def __init__(self, rank=0, world_size=1, local_rank=0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1

    def gather(self, obj):
        """Every rank's `obj`, as a list in rank order, on every rank (pickled between our own processes)."""
        return gather(obj) if self.distributed else [obj]

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_tensors(self, tensors):
        """Overwrite `tensors` in place with rank 0's values."""
        if self.distributed:
            for t in tensors:
                dist.broadcast(t, src=0)

    def all_true(self, flag, device):
        """True on every rank when `flag` is true on every rank (one all-reduce)."""
        if not self.distributed:
            return bool(flag)
        t = torch.tensor([1 if flag else 0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def mean(self, values, device):
        """{name: float} averaged over ranks (same keys on every rank)."""
        if not self.distributed or not values:
            return values
        keys = list(values)  # same order on every rank (the same losses)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return {k: v / self.world_size for k, v in zip(keys, t.tolist())}


def init_world(device):
    """Join the torchrun job when there is one (NCCL on CUDA, gloo on CPU); returns (World, device).

    On CUDA each process takes the GPU of its LOCAL_RANK; `device` is returned unchanged on CPU.
    """
    rank, world_size = rank_and_world()
    if world_size <= 1:
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return World(rank, world_size, local_rank), device


def close_world(world):
    """Leave the torchrun job. After a normal finish every rank first waits for the others: a gloo rank that tore
    its group down while a peer was still writing its results aborted at exit (SIGABRT, about 1 run in 20 of
    tests/test_distributed.py). While an exception unwinds there is no wait, since the peers may never arrive."""
    if world.distributed and dist.is_initialized():
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


class BatchShardSampler(Sampler):
    """Batch sampler over a dataset in file order: batches k = rank, rank + world_size, ... of size batch_size, so
    that each batch holds the same items as batch k of a single process (the last one may be short)."""

    def __init__(self, n_items, batch_size, world):
        self.n_items, self.batch_size, self.world = n_items, batch_size, world

    def batch_ids(self):
        n_batches = -(-self.n_items // self.batch_size)
        return range(self.world.rank, n_batches, self.world.world_size)

    def __iter__(self):
        for k in self.batch_ids():
            yield list(range(k * self.batch_size, min((k + 1) * self.batch_size, self.n_items)))

    def __len__(self):
        return len(self.batch_ids())
