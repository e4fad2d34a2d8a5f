"""Dropout with a faster mask on the CPU (the same distribution to 2^-16; another random stream).

On the CPU, torch draws dropout masks with bernoulli_ at about 50 M values/s, which made mask drawing a quarter of
the VideoLights-B train step (scripts/bench_model.py). Here the mask comes from numpy's PCG64 generator as 16-bit
integers, four from each of its raw 64-bit outputs (the 60 M values of a step: ~160 ms as float32 uniforms, ~100 as
numpy's int16 integers(), ~45 as raw outputs on a 2-core EPYC), seeded with one draw from torch's default
generator, so runs stay reproducible under torch.manual_seed and resume exactly from a checkpoint's RNG state. A
value is dropped with probability p rounded to a multiple of 2^-16 (0.1 -> 6554 / 65536 = 0.100006) and kept values
are scaled by the inverse of the keep probability, so the expectation is x exactly, as F.dropout's. Other devices,
and code under torch.compile (which fuses its own dropout), use F.dropout.
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
    dropped = min(max(round(p * 65536), 1), 65535)  # of the 65536 values of a uniform int16
    n = x.numel()
    draws = np.random.PCG64(seed).random_raw((n + 3) // 4).view(np.int16)[:n]  # four per 64-bit output
    keep = torch.from_numpy(draws).view(x.shape).ge(dropped - 32768)
    return x * keep.to(x.dtype).mul_(65536 / (65536 - dropped))  # 0 or 1 / keep probability


class Dropout(nn.Dropout):
    """nn.Dropout through dropout() above (same p, no state)."""

    def forward(self, x):
        return dropout(x, self.p, self.training)
