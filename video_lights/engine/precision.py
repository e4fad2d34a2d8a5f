"""Mixed precision: one autocast context and one gradient scaler for every device."""
import contextlib

import torch


def autocast_context(device, enabled):
    """bfloat16 autocast on CPU, float16 on CUDA; a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device, amp):
    """A GradScaler for float16 autocast on CUDA; None elsewhere (bfloat16 needs no loss scaling)."""
    return torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
