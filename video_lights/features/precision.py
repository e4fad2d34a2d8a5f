"""The extractors' precision: float32 (as the released features were made), --fp16 (float16 weights on CUDA, as
OpenAI CLIP and LAVIS ran there) or --bf16 (bfloat16 autocast around float32 weights: matrix products and
convolutions in bfloat16, normalisations and reductions in float32).

--bf16 pays on a CPU with native bfloat16 matrix products (AMX-BF16 / AVX512-BF16) and on an Ampere or newer GPU;
elsewhere it would be emulated many times slower than float32, so there it falls back to float32 with a warning
(utils/hardware.py). scripts/bench_extract.py --precisions fp32 bf16 measures the speed and the cosine
of each feature row to float32.
"""
import contextlib

import torch

from video_lights.utils.cli import UserError
from video_lights.utils.hardware import cpu_description, cpu_has_native_bf16


def resolve_precision(device, fp16=False, bf16=False):
    """("fp32" | "fp16" | "bf16", a warning sentence or None) for the requested flags on a device.

    Raises UserError for --fp16 off CUDA and for both flags at once."""
    device = torch.device(device)
    if fp16 and bf16:
        raise UserError("--fp16 and --bf16 exclude each other: choose one")
    if fp16:
        if device.type != "cuda":
            raise UserError("--fp16 needs a CUDA device (float16 CLIP / BLIP-2 as the authors ran them on GPUs); "
                            "on a CPU, --bf16")
        return "fp16", None
    if bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        return "fp32", (f"warning: --bf16 ignored: this CPU, {cpu_description()}, has no native bfloat16 matrix "
                        f"products (AMX-BF16 / AVX512-BF16) and would run many times slower; extracting in float32")
    if bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        return "fp32", (f"warning: --bf16 ignored: {torch.cuda.get_device_name(device)} has no native bfloat16 "
                        f"(before Ampere); extracting in float32 (--fp16 is its fast path)")
    return ("bf16" if bf16 else "fp32"), None


def extractor_settings(precision) -> dict:
    """The extractors' keyword arguments for a precision: {"dtype": their weights' dtype, "bf16": autocast}."""
    return {"dtype": torch.float16 if precision == "fp16" else torch.float32, "bf16": precision == "bf16"}


def bf16_autocast(device, enabled):
    """bfloat16 autocast on `device` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
