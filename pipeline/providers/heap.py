"""Giving freed native memory back to the machine.

glibc keeps the heap that a render or a narration freed (slide images and encoder buffers,
the voice model's activations: 100-200 MiB) for reuse; a worker that makes a lesson now
and then should return it instead of holding it until the next one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if sys.platform == "linux" else None
)


def return_freed_memory() -> None:
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
