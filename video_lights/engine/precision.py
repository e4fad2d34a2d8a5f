"""Mixed precision: which one a device gets (--amp auto|on|off), one autocast context and one gradient scaler.

--amp auto (the trainer's default) picks bfloat16 autocast on a CPU with native bfloat16 matrix products (AMX-BF16
or AVX512-BF16: the VideoLights-B train step and inference forward are faster there, scripts/bench_precision.py)
and float32 everywhere else: on CUDA, as the authors trained, and on CPUs without native bfloat16, where it is
emulated (utils/hardware.py). --amp on asks for it anyway: float16 with a gradient scaler on CUDA, bfloat16 on a
CPU that has it, and on a CPU that has not, float32 with a warning instead of a run 50x slower. --amp off is
float32. It applies to the training steps: the trainer evaluates in float32 (engine/trainer.py).
"""
import contextlib

import torch

from video_lights.utils.hardware import cpu_has_native_bf16

AMP_CHOICES = ("auto", "on", "off")


def resolve_amp(requested, device):
    """(enabled, sentence for the log, is_warning) for an --amp value on a device.

    requested: "auto", "on", "off", or a bool (opt.json files and API callers from before --amp took a value)."""
    if requested is True:
        requested = "on"
    elif requested in (False, None):
        requested = "off"
    if requested not in AMP_CHOICES:
        raise ValueError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {requested!r}")
    cpu = f"this CPU ({torch.backends.cpu.get_cpu_capability()})"
    if device.type == "cuda":
        if requested == "on":
            return True, "precision: float16 autocast with a gradient scaler (--amp on, CUDA)", False
        return False, f"precision: float32 (--amp {requested}; --amp on gives float16 autocast on CUDA)", False
    if device.type != "cpu":
        if requested == "on":
            return True, f"precision: autocast on {device.type} (--amp on)", False
        return False, f"precision: float32 (--amp {requested})", False
    native = cpu_has_native_bf16()
    if requested == "off":
        return False, "precision: float32 (--amp off)", False
    if native:
        return True, (f"precision: bfloat16 autocast (--amp {requested}): {cpu} has native bfloat16 matrix "
                      f"products; --amp off for float32"), False
    if requested == "auto":
        return False, f"precision: float32 (--amp auto): {cpu} has no native bfloat16", False
    return False, (f"precision: float32: --amp on asked for bfloat16, but {cpu} has no native bfloat16 matrix "
                   f"products (AMX-BF16 / AVX512-BF16), where it runs many times slower than float32"), True


def autocast_context(device, enabled):
    """bfloat16 autocast on CPU, float16 on CUDA; a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device, amp):
    """A GradScaler for float16 autocast on CUDA; None elsewhere (bfloat16 needs no loss scaling)."""
    return torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
