"""Keep freed memory in the process instead of handing it back to the kernel after each request.

A batch of 10,000 points allocates and frees some 60 MB. By default glibc returns the top of its
heap to the kernel as soon as 128 KB or more of it is free, so the next batch takes the same memory
back page by page: about 16,000 page faults, 30-50 ms of kernel time per request (bench/api.py).
With a higher trim threshold and top padding the memory stays mapped and is reused; a server's
resident size then stays near its peak, which is what a long-running server wants.
"""

import ctypes
import ctypes.util
import os

# mallopt() parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2

TRIM_THRESHOLD = 256 * 1024 * 1024  # free memory kept at the top of the heap
TOP_PAD = 64 * 1024 * 1024  # extra memory taken each time the heap grows


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; False where the C library is not glibc, or where
    MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ in the environment already say what the operator
    wants."""
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_TOP_PAD_" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) and mallopt(_M_TOP_PAD, TOP_PAD))
