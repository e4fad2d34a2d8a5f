"""Keep freed memory in the process, so the same large tensors allocated and freed at every step are reused.

glibc's malloc serves large blocks (above a threshold of at most 32 MiB) with fresh mmap'ed pages and returns
them, and the top of its heap, to the kernel when freed. A VideoLights step allocates and frees tensors of 5 to
35 MB dozens of times (activations, dropout masks, gradients), so every step pays the kernel to map and zero-fill
them again: up to 35,000 page faults per train step at batch 32 and 85,000 per inference batch of 100 (measured
with getrusage), about a tenth of the step. keep_freed_memory() turns both off (M_MMAP_MAX 0, M_TRIM_THRESHOLD at
its maximum): the heap grows to the peak once and is reused. The command lines that run models call it; a library
import never does. Elsewhere than glibc (macOS, musl) it does nothing.
"""
import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Configure glibc's malloc as described in the module docstring; True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
