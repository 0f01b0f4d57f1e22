"""The process's CPU memory allocator: keep freed memory for reuse (glibc ``mallopt``).

Nothing here imports torch: the command line sets it before loading anything heavy.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

# glibc's mallopt parameters (malloc.h) and their defaults, which keep_freed_memory(False) restores.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_INT_MAX = 2**31 - 1  # mallopt takes a C int


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def keep_freed_memory(enabled: bool = True) -> bool:
    """Let this process keep the memory it frees, for reuse, instead of handing it back to the OS.

    On a CPU each layer's activations are a fresh tensor of up to hundreds of MB (VGG16's
    conv1_2 at 224x224: 12.8 MB an image). glibc's ``malloc`` serves such blocks with ``mmap``
    and returns them with ``munmap`` when freed, so every batch touches its activations' pages
    for the first time again: page faults, in which the kernel also zeroes each page. ONNX
    Runtime avoids them with its own memory arena. This setting makes glibc serve large blocks
    from its heap and keep freed memory there (``mallopt``: no ``mmap`` for large blocks, trim
    threshold 2 GiB), so later batches reuse pages already mapped. Measured on a 2-core AMD EPYC
    (``benchmarks/cpu_speed.py --network-only --keep-freed-memory``, 2026-12-03): VGG16's float32
    network went from 0.88x ONNX Runtime's images/s to 1.00x; pool1 ran 6x faster, conv1_1 3x
    (:doc:`/user-guide/performance`).

    It is process-wide and lasts until called again with ``enabled=False``, and it costs memory.
    The process's resident memory stays at its peak instead of shrinking after a job. With a
    single view (the same activation sizes every batch) it stayed flat (0.98x the default's peak
    after 120 images). With dense scales on images of many sizes it kept growing (1.74x the
    default's peak after 120 images, ``benchmarks/freed_memory.py``): torch allocates with
    ``posix_memalign``, which glibc before 2.38 serves from fresh memory rather than from freed
    blocks of other sizes, so the heap fragments. So skvgg never sets it by itself: call it for
    long single-view jobs on a CPU (the ``skvgg`` command: ``--keep-freed-memory``).

    Parameters
    ----------
    enabled : bool, default=True
        True: keep freed memory. False: restore glibc's defaults (large blocks from ``mmap``,
        128 KiB trim threshold).

    Returns
    -------
    applied : bool
        False where the C library is not glibc (macOS, Windows, musl-based Linux): nothing is
        changed there (their allocators have their own policies).
    """
    mallopt = _glibc()
    if mallopt is None:
        return False
    values = {_M_TRIM_THRESHOLD: _INT_MAX, _M_MMAP_MAX: 0} if enabled else _GLIBC_DEFAULTS
    return all(mallopt(ctypes.c_int(parameter), ctypes.c_int(value)) == 1 for parameter, value in values.items())
