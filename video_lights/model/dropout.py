"""Dropout with a faster mask on the CPU (same distribution; another random stream).

On the CPU, torch draws dropout masks with bernoulli_ at about 50 M values/s, which made mask drawing a quarter of
the VideoLights-B train step (scripts/bench_model.py). Here the mask's uniforms come from numpy's PCG64 generator
(several times faster), seeded with one draw from torch's default generator, so runs stay reproducible under
torch.manual_seed and resume exactly from a checkpoint's RNG state. The mask keeps a value with probability 1 - p
(a uniform float32 >= p, as torch.rand would give) and scales kept values by 1 / (1 - p), as F.dropout. Other
devices, and code under torch.compile (which fuses its own dropout), use F.dropout.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def dropout(x, p, training=True):
    """F.dropout(x, p, training), with the CPU mask drawn as described in the module docstring."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p == 1 or torch.compiler.is_compiling():  # compiled: inductor fuses F.dropout
        return F.dropout(x, p, training)
    seed = int(torch.randint(0, 2 ** 62, (1,)))
    uniforms = np.random.default_rng(seed).random(x.numel(), dtype=np.float32)
    mask = torch.from_numpy(uniforms).view(x.shape).ge_(p).mul_(1.0 / (1.0 - p))  # float32 0 or 1 / (1 - p)
    return x * mask.to(x.dtype)


class Dropout(nn.Dropout):
    """nn.Dropout through dropout() above (same p, no state)."""

    def forward(self, x):
        return dropout(x, self.p, self.training)
