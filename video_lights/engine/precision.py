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


def amp_warning(device, amp):
    """A sentence for the log when --amp will be slower than float32: a CPU without native bfloat16 matrix
    products (AVX512-BF16 or AMX; measured on an AVX2-only CPU: a bfloat16 product 66x slower than float32,
    scripts/bench_precision.py); None otherwise."""
    if amp and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return (f"--amp: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bfloat16 matrix "
                f"products, so bfloat16 autocast is much slower than float32 here; drop --amp on this machine")
    return None
