"""Run under torchrun by tests/test_distributed.py: a training run that also saves this rank's parameters after
every epoch (OUT/rank{r}_epoch{e}.pt), so the test can compare the ranks.

    torchrun --standalone --nproc_per_node 2 tests/dist_worker.py OUT [train options]
"""
import os
import sys

import torch

from video_lights.config import parse_args
from video_lights.engine.trainer import Trainer
from video_lights.engine.distributed import close_world


class RecordingTrainer(Trainer):
    def train_epoch(self, epoch_i):
        super().train_epoch(epoch_i)
        flat = torch.cat([p.detach().flatten() for p in self.model.parameters()])
        torch.save(flat, os.path.join(OUT, f"rank{self.world.rank}_epoch{epoch_i}.pt"))


if __name__ == "__main__":
    OUT = sys.argv[1]
    trainer = RecordingTrainer(parse_args(sys.argv[2:]))
    try:
        trainer.fit()
    finally:
        close_world(trainer.world)
