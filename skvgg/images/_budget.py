"""The pixel budget and the decoding scope: how much one image, and all decoding threads, may hold.

- ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`) is checked from an image's
  header, before anything is decoded, and applies to every item;
- :func:`decoding` scopes the work on one item in the calling thread: its budget is
  the default of :func:`skvgg.images.load_rgb` inside the block, and the decoded
  pixels the item reserves count against a process-wide allowance, so that decoding
  threads hold at most about :data:`DECODE_MEMORY_BYTES` of decoded images at once
  (an image larger than that is decoded alone);
- :func:`open_image` opens a file with Pillow so that Pillow's own decompression-bomb
  limit (``PIL.Image.MAX_IMAGE_PIXELS``) neither refuses nor warns about an image the
  budget decides on, through public API only (see its Notes).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from numbers import Integral

from PIL import Image

__all__ = [
    "DECODE_MEMORY_BYTES",
    "DEFAULT_MAX_PIXELS",
    "current_max_pixels",
    "decoding",
    "loading_scope",
    "open_image",
]

#: Default pixel budget: Pillow's own warning threshold as shipped
#: (``PIL.Image.MAX_IMAGE_PIXELS``, about 89.5 Mpx: 256 MiB of 24-bit pixels).
#: A literal, so that ``get_params`` does not depend on someone's global setting.
DEFAULT_MAX_PIXELS = 89_478_485

#: Decoded pixel memory that decoding threads may hold at once (see :func:`decoding`).
DECODE_MEMORY_BYTES = 192 * 2**20

_local = threading.local()


class _Scope:
    """One :func:`decoding` block: its pixel budget and the decoded memory it reserved."""

    __slots__ = ("max_pixels", "reserved")

    def __init__(self, max_pixels):
        self.max_pixels = max_pixels
        self.reserved = 0


def _scopes():
    stack = getattr(_local, "scopes", None)
    if stack is None:
        stack = _local.scopes = []
    return stack


def check_max_pixels(max_pixels):
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer or None (no limit), got {max_pixels!r}")
    return int(max_pixels)


def current_max_pixels() -> int | None:
    """The pixel budget of the innermost :func:`decoding` block of this thread.

    Returns
    -------
    max_pixels : int or None
        :data:`DEFAULT_MAX_PIXELS` outside any block; None means no limit.
    """
    stack = _scopes()
    return stack[-1].max_pixels if stack else DEFAULT_MAX_PIXELS


class _MemoryGate:
    """A process-wide allowance of decoded pixel memory, shared by all decoding threads.

    Each item reserves an estimate of what decoding it allocates before it is
    decoded and gives it back when its :func:`decoding` block ends (once its views
    are cut). A thread waits while the others hold too much; an item larger than
    the whole allowance waits until it is alone. A thread that already holds a
    reservation never waits, so nothing deadlocks on itself.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self.in_use = 0
        self._condition = threading.Condition()

    def acquire(self, nbytes, holding):
        nbytes = max(0, min(int(nbytes), self.capacity))
        with self._condition:
            if not holding:
                while self.in_use and self.in_use + nbytes > self.capacity:
                    self._condition.wait()
            self.in_use += nbytes
        return nbytes

    def release(self, nbytes):
        with self._condition:
            self.in_use -= nbytes
            self._condition.notify_all()


_GATE = _MemoryGate(DECODE_MEMORY_BYTES)

# glibc gives each thread its own malloc arena and keeps what a thread freed for that
# thread: after eight threads have each decoded one large photo, the process holds eight
# photos' worth of memory although only two were ever alive at once. Handing free pages
# back after a large image bounds that (measured in benchmarks/decode_memory.py).
_TRIM_AFTER_BYTES = 32 * 2**20
_malloc_trim = None


def _return_free_memory():
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL(None).malloc_trim  # glibc only (not musl)
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


def reserve(nbytes):
    """Reserve decoded memory for the current item, in its outermost decoding block."""
    stack = _scopes()
    if not stack:  # callers always run inside a block; be harmless otherwise
        return
    outer = stack[0]
    outer.reserved += _GATE.acquire(nbytes, holding=outer.reserved > 0)


@contextmanager
def decoding(max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[object]:
    """Scope the decoding of one item (and the cutting of its views) in this thread.

    Inside the block, :func:`load_rgb` and :func:`image_key` use ``max_pixels``
    unless given another, and the views of :mod:`skvgg._pipeline.views` keep within it. The decoded memory reserved by
    the items loaded in the block is given back when the outermost block ends, so
    the block should end once the decoded image is no longer needed.

    Parameters
    ----------
    max_pixels : int or None, default=DEFAULT_MAX_PIXELS
        Most pixels (width x height) of an image; None: no limit.

    Examples
    --------
    >>> import numpy as np
    >>> from skvgg.images import load_rgb
    >>> with decoding(max_pixels=100):
    ...     load_rgb(np.zeros((20, 20), np.uint8))
    Traceback (most recent call last):
    ...
    skvgg.exceptions.ImageInputError: image (numpy array of shape (20, 20)): ...
    """
    scope = _Scope(check_max_pixels(max_pixels))
    stack = _scopes()
    stack.append(scope)
    try:
        yield scope
    finally:
        stack.pop()
        if scope.reserved:
            _GATE.release(scope.reserved)
            if scope.reserved >= _TRIM_AFTER_BYTES:
                _return_free_memory()


def resolve_max_pixels(max_pixels):
    return current_max_pixels() if isinstance(max_pixels, str) and max_pixels == "auto" else check_max_pixels(max_pixels)


def over_budget_reason(width, height, max_pixels, what="image"):
    pixels = width * height
    return (
        f"{what} of {width}x{height} pixels ({pixels / 1e6:.1f} Mpx) exceeds the pixel budget "
        f"max_pixels={max_pixels} ({max_pixels / 1e6:.1f} Mpx), so it was not decoded; "
        "to accept it, pass a larger max_pixels= (None: no limit)"
    )


def check_budget(width, height, max_pixels, fail, what="image"):
    if max_pixels is not None and width * height > max_pixels:
        fail(over_budget_reason(width, height, max_pixels, what))


# -- Pillow's own limit ----------------------------------------------------------------
# Pillow checks every header against the module global PIL.Image.MAX_IMAGE_PIXELS (public,
# documented as the setting to change): it warns above it and refuses above twice it. The
# budget above is the caller's decision, so Pillow's fixed limit must neither refuse an
# image the budget accepts nor warn about one the budget refuses with a clearer message.
# Changing the global is the only public way; the lock keeps our changes from
# interleaving (two threads saving and restoring each other's value), and the global is
# restored as soon as the header (or the allowed image) is read.
_PILLOW_LIMIT_LOCK = threading.RLock()


@contextmanager
def pillow_limit_lifted():
    """Lift Pillow's decompression-bomb limit inside the block (serialised across threads)."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def beyond_pillow_limit(img):
    """Whether Pillow's limit would warn about ``img`` (then :func:`pillow_limit_lifted` should scope its loading)."""
    limit = Image.MAX_IMAGE_PIXELS
    return limit is not None and img.width * img.height > limit


def open_image(fp):
    """``PIL.Image.open(fp)``, reading the header with Pillow's limit lifted.

    Only the header is read here (Pillow decodes on ``load()``); the caller checks
    the size against its budget next, before anything is decoded.

    Notes
    -----
    While a header is read, other threads that open images see no Pillow limit
    (for a few milliseconds: no pixel is decoded in the block). An image that the
    caller's budget allows beyond Pillow's limit is also *loaded* in such a block
    (see :func:`beyond_pillow_limit`); such images are decoded alone anyway (they
    exceed the decoded-memory allowance). Pillow's per-thread private check is not
    used, so any Pillow release that keeps ``MAX_IMAGE_PIXELS`` works.
    """
    with pillow_limit_lifted():
        return Image.open(fp)


def loading_scope(img):
    """The context to ``load()`` an opened image in: Pillow's limit lifted when the budget allowed more."""
    return pillow_limit_lifted() if beyond_pillow_limit(img) else nullcontext()
