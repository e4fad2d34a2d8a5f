"""What this CPU can do: its name, its vector / matrix extensions, and whether it multiplies bfloat16 natively.

bfloat16 pays only on a CPU with native bfloat16 matrix products (AMX-BF16 or AVX512-BF16); elsewhere it is
emulated (measured on an AVX2-only CPU: a bfloat16 matrix product 66x slower than float32). The mixed-precision
choices of the trainer (engine/precision.py) and of feature extraction (features/pipeline.py) both ask here.
"""
import functools
import platform

import torch

FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@functools.lru_cache(maxsize=None)
def cpu_info():
    """(model name, set of /proc/cpuinfo flags); off Linux, platform's name and no flags."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return name, frozenset(flags)


def cpu_description() -> str:
    """'Intel(R) Xeon(R) Processor (avx2 avx512f avx512_bf16 amx_bf16 amx_tile)': the name for a benchmark table."""
    name, flags = cpu_info()
    have = [f for f in FLAGS_OF_INTEREST if f in flags]
    return f"{name} ({' '.join(have) or 'none of ' + ', '.join(FLAGS_OF_INTEREST)})"


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 matrices natively (amx_bf16 or avx512_bf16; off Linux, oneDNN's
    own check)."""
    _, flags = cpu_info()
    if flags:
        return bool(flags & {"amx_bf16", "avx512_bf16"})
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
