"""Turning user input ``X`` into RGB images.

This module is the one place where the estimators of :mod:`skvgg` interpret
their input. ``X`` may be

- a sequence (list, tuple, 1-D object array, pandas Series, one-column
  DataFrame) of items, each one a file path (``str`` or :class:`os.PathLike`),
  a PIL image, a numpy array or a torch tensor; kinds may be mixed;
- a 4-D batch: a numpy array ``(N, H, W, C)`` or a torch tensor
  ``(N, C, H, W)``.

:func:`check_images` validates the container cheaply (no file I/O, no
decoding) and returns a plain list of items; :func:`load_rgb` turns one item
into a fully loaded 8-bit RGB :class:`PIL.Image.Image`; :func:`image_key`
gives a content key for caching descriptors; :func:`parallel_map` decodes
items in a thread pool, in order, while the caller computes.

Hostile input
-------------
- only regular files are opened: a named pipe, a device, a socket or a
  directory is refused from its ``stat`` before anything reads it (a pipe
  would block forever, ``/dev/zero`` never ends);
- every error while opening or decoding an item (``ValueError`` from a
  metadata chunk that decompresses to megabytes, ``MemoryError``,
  ``SyntaxError``, ``struct.error``...) becomes an :class:`ImageInputError`
  naming the item;
- a pixel budget, ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`), is
  checked from the header, before decoding, and applies to every item
  (see :func:`load_rgb`);
- :func:`decoding` scopes the work on one item: the budget it sets is also
  the limit of Pillow's own decompression-bomb check inside the block (for
  the calling thread only: Pillow's ``_decompression_bomb_check`` is wrapped
  once, and behaves as before outside such blocks), and the decoded pixels
  it reserves count against a process-wide allowance, so that decoding
  threads hold at most about :data:`DECODE_MEMORY_BYTES` of decoded images
  at once (an image larger than that is decoded alone).

Pixel conventions
-----------------
- ``uint8`` data is used as is; ``uint16`` data (arrays, 16-bit PNG/TIFF) is
  scaled by its full range, ``round(v / 257)``, so 65535 maps to 255;
- floating point data must be finite and within ``[0, 1]``; it is mapped
  to ``round(255 * x)``;
- grayscale is replicated to three channels; alpha is dropped without
  compositing, exactly as ``Image.convert("RGB")`` and torchvision's
  ``ImageFolder`` loader do, so 8-bit files give the same pixels as a
  torchvision pipeline.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from collections import deque
from collections.abc import Mapping, Set
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

__all__ = [
    "DECODE_MEMORY_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageInputError",
    "check_images",
    "current_max_pixels",
    "decoding",
    "describe_item",
    "image_key",
    "load_rgb",
    "parallel_map",
]

#: Default pixel budget: Pillow's own warning threshold as shipped
#: (``PIL.Image.MAX_IMAGE_PIXELS``, about 89.5 Mpx: 256 MiB of 24-bit pixels).
#: A literal, so that ``get_params`` does not depend on someone's global setting.
DEFAULT_MAX_PIXELS = 89_478_485

#: Decoded pixel memory that decoding threads may hold at once (see :func:`decoding`).
DECODE_MEMORY_BYTES = 192 * 2**20

_EXPECTED_ITEM = "expected a file path (str or os.PathLike), a PIL image, a numpy array or a torch tensor"
_EXPECTED_X = (
    "expected a sequence of images (file paths, PIL images, numpy arrays or torch tensors), "
    "a pandas Series or one-column DataFrame of paths, a 4-D numpy array (N, H, W, C) "
    "or a 4-D torch tensor (N, C, H, W)"
)
_EXPECTED_DTYPE = "expected uint8, uint16 or floating point (with values in [0, 1])"
_EXPECTED_NUMPY_SHAPE = "expected HxW, HxWx1, HxWx3 or HxWx4 (channels last), or a 1xHxW or 3xHxW channels-first array"
_EXPECTED_TENSOR_SHAPE = "expected 3xHxW or 1xHxW (channels first), HxW, or a channels-last HxWx1, HxWx3 or HxWx4 tensor"

# Floats a hair outside [0, 1] are rounding error of float arithmetic (e.g. a
# normalisation undone), not bad data: they are clipped rather than rejected.
_FLOAT_TOLERANCE = 1e-6

_UINT16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})

# Same table as PIL.ImageOps.exif_transpose, kept here so that the exact 16-bit
# path below (which builds a new image) can apply the orientation too.
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Pillow has no 16-bit-per-channel colour mode: 16-bit RGB(A) PNGs and TIFFs open as
# 8-bit 'RGB'/'RGBA' images whose unpacker keeps the most significant byte of each
# sample (floor(v / 256), up to one level away from round(v / 257)). Decoding the
# same tiles a second time with the opposite byte order keeps the least significant
# byte instead, and the two together are the exact 16-bit samples. The filters
# (PNG Sub/Avg/Paeth) only depend on the number of bits per pixel, which the swap
# preserves. Maps (image mode, raw mode) -> (raw mode for the second decoding,
# how to read its result).
_LOW_BYTE_RAWMODES = {
    ("RGB", "RGB;16B"): ("RGB;16L", "low"),
    ("RGB", "RGB;16L"): ("RGB;16B", "low"),
    ("RGBA", "RGBA;16B"): ("RGBA;16L", "low"),
    ("RGBA", "RGBA;16L"): ("RGBA;16B", "low"),
    # 16-bit gray + alpha PNGs open as 'RGBA'; read as plain 8-bit RGBA, each pixel
    # is its raw bytes: gray high, gray low, alpha high, alpha low.
    ("RGBA", "LA;16B"): ("RGBA", "gray_alpha_bytes"),
}


class ImageInputError(ValueError):
    """A bad input item: unreadable, undecodable, or pixels of the wrong kind.

    Parameters
    ----------
    reason : str
        What is wrong and what was expected.
    index : int or None, default=None
        Position of the item in ``X``, when known.
    path : str or None, default=None
        The item's file path, when the item is a path.
    description : str or None, default=None
        Short description of the item (see :func:`describe_item`); defaults
        to the quoted path when ``path`` is given.

    Attributes
    ----------
    index : int or None
        Position of the item in ``X``, or None.
    path : str or None
        The item's file path, or None for in-memory items.
    reason : str
        What is wrong and what was expected.

    Examples
    --------
    >>> str(ImageInputError("file not found; expected a readable image file",
    ...                     index=3, path="/data/cat.jpg"))
    "X[3] ('/data/cat.jpg'): file not found; expected a readable image file"
    """

    def __init__(self, reason, index=None, path=None, description=None):
        if description is None and path is not None:
            description = repr(path)
        self.reason = reason
        self.index = index
        self.path = path
        self.description = description
        super().__init__(_format_item_message(reason, index, description))

    def __reduce__(self):
        # The default reduction would call cls(message) and prefix it twice;
        # estimators run in joblib workers must be able to send this back.
        return (type(self), (self.reason, self.index, self.path, self.description))


def _format_item_message(reason, index, description):
    """'X[3] (description): reason', with the parts that are known."""
    where = "image" if index is None else f"X[{index}]"
    if description is not None:
        where = f"{where} ({description})"
    return f"{where}: {reason}"


# -- Pixel budget and decoding scope -----------------------------------------------

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


def _check_max_pixels(max_pixels):
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer or None (no limit), got {max_pixels!r}")
    return int(max_pixels)


def current_max_pixels():
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


def _reserve(nbytes):
    """Reserve decoded memory for the current item, in its outermost decoding block."""
    stack = _scopes()
    if not stack:  # callers always run inside a block; be harmless otherwise
        return
    outer = stack[0]
    outer.reserved += _GATE.acquire(nbytes, holding=outer.reserved > 0)


class _OverBudget(Image.DecompressionBombError):
    """Pillow's bomb check, inside a decoding block, found more pixels than the budget."""

    def __init__(self, size, max_pixels):
        self.size = tuple(int(v) for v in size)
        self.max_pixels = max_pixels
        super().__init__(f"image size {self.size[0]}x{self.size[1]} exceeds max_pixels={max_pixels}")


_pil_bomb_check = None  # Pillow's own check, once wrapped
_install_lock = threading.Lock()


def _scoped_bomb_check(size, *args, **kwargs):
    """Pillow's decompression-bomb check, following the pixel budget inside decoding blocks.

    Outside a block (other threads, other code) Pillow's own check runs unchanged.
    Inside one, ``max_pixels`` replaces ``2 * MAX_IMAGE_PIXELS`` as the error
    threshold and there is no warning: the budget was chosen by the caller, and a
    larger budget must not be defeated by Pillow's fixed limit (nor a smaller one
    wait for it). This is also what the plugins call for frame and tile sizes
    while loading.
    """
    stack = getattr(_local, "scopes", None)
    if not stack:
        return _pil_bomb_check(size, *args, **kwargs)
    limit = stack[-1].max_pixels
    if limit is not None and max(1, size[0]) * max(1, size[1]) > limit:
        raise _OverBudget(size, limit)
    return None


def _install_bomb_check():
    # Pillow reads the module global MAX_IMAGE_PIXELS; changing it around each call
    # would race with every other thread that opens images. Wrapping the check once,
    # with a per-thread switch, changes nothing for anyone outside a decoding block.
    global _pil_bomb_check
    if _pil_bomb_check is not None:
        return
    with _install_lock:
        if _pil_bomb_check is None:
            original = getattr(Image, "_decompression_bomb_check", None)
            if original is None:  # a Pillow without it: our own header check still applies
                _pil_bomb_check = False
                return
            _pil_bomb_check = original
            Image._decompression_bomb_check = _scoped_bomb_check


@contextmanager
def decoding(max_pixels=DEFAULT_MAX_PIXELS):
    """Scope the decoding of one item (and the cutting of its views) in this thread.

    Inside the block, :func:`load_rgb` and :func:`image_key` use ``max_pixels``
    unless given another, the views of :mod:`skvgg.views` keep within it, and
    Pillow's decompression-bomb check follows it. The decoded memory reserved by
    the items loaded in the block is given back when the outermost block ends, so
    the block should end once the decoded image is no longer needed.

    Parameters
    ----------
    max_pixels : int or None, default=DEFAULT_MAX_PIXELS
        Most pixels (width x height) of an image; None: no limit.

    Examples
    --------
    >>> import numpy as np
    >>> with decoding(max_pixels=100):
    ...     load_rgb(np.zeros((20, 20), np.uint8))
    Traceback (most recent call last):
    ...
    skvgg.images.ImageInputError: image (numpy array of shape (20, 20)): ...
    """
    scope = _Scope(_check_max_pixels(max_pixels))
    _install_bomb_check()
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


def _resolve_max_pixels(max_pixels):
    return current_max_pixels() if isinstance(max_pixels, str) and max_pixels == "auto" else _check_max_pixels(max_pixels)


def _over_budget_reason(width, height, max_pixels, what="image"):
    pixels = width * height
    return (
        f"{what} of {width}x{height} pixels ({pixels / 1e6:.1f} Mpx) exceeds the pixel budget "
        f"max_pixels={max_pixels} ({max_pixels / 1e6:.1f} Mpx), so it was not decoded; "
        "to accept it, pass a larger max_pixels= (None: no limit)"
    )


def _check_budget(width, height, max_pixels, fail, what="image"):
    if max_pixels is not None and width * height > max_pixels:
        fail(_over_budget_reason(width, height, max_pixels, what))


# -- Kinds of items --------------------------------------------------------------
# torch and pandas are looked up in sys.modules rather than imported: if they were
# never imported, X cannot hold their objects, and lists of paths need neither.


def _is_tensor(obj):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _is_path(obj):
    return isinstance(obj, (str, os.PathLike))


def _path_str(obj):
    if isinstance(obj, str):
        # Plain str also for numpy's np.str_, whose repr() is not a quoted string.
        return str(obj)
    # os.fsdecode also handles PathLike objects whose __fspath__ returns bytes.
    return os.fsdecode(os.fspath(obj))


def _type_name(obj):
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _shape(obj):
    return tuple(int(s) for s in obj.shape)


def describe_item(item):
    """Describe one input item for error messages.

    Parameters
    ----------
    item : object
        One element of ``X``.

    Returns
    -------
    description : str
        Short human-readable description: the quoted path, ``"numpy array of
        shape (5, 5, 2)"``, ``"torch tensor of shape (3, 8, 8)"``, ``"PIL image
        of mode 'RGB', width 5, height 3"``, or the item's type.
    path : str or None
        The path as a string when ``item`` is a path, else None.

    Examples
    --------
    >>> describe_item("/data/cat.jpg")
    ("'/data/cat.jpg'", '/data/cat.jpg')
    >>> import numpy as np
    >>> describe_item(np.zeros((5, 5, 2)))
    ('numpy array of shape (5, 5, 2)', None)
    """
    if _is_path(item):
        path = _path_str(item)
        return repr(path), path
    if isinstance(item, np.ndarray):
        return f"numpy array of shape {_shape(item)}", None
    if _is_tensor(item):
        return f"torch tensor of shape {_shape(item)}", None
    if isinstance(item, Image.Image):
        description = f"PIL image of mode {item.mode!r}, width {item.width}, height {item.height}"
        filename = getattr(item, "filename", None)
        if filename:
            description += f", read from {os.fsdecode(filename)!r}"
        return description, None
    if item is None:
        return "None", None
    return f"object of type {_type_name(item)}", None


def _unsupported_item(item, index):
    """The TypeError for an item that is neither a path, an image, an array nor a tensor."""
    description, _ = describe_item(item)
    if item is None or (isinstance(item, float) and item != item):
        reason = "missing value"
    else:
        reason = f"unsupported item type {_type_name(item)}"
    return TypeError(f"{_format_item_message(reason, index, description)}; {_EXPECTED_ITEM}")


# -- Arrays and tensors ----------------------------------------------------------


def _array_kind(item):
    """'uint8', 'uint16', 'float' or None (unsupported) for an array or tensor."""
    if isinstance(item, np.ndarray):
        if item.dtype == np.uint8:
            return "uint8"
        if item.dtype == np.uint16:
            return "uint16"
        return "float" if item.dtype.kind == "f" else None
    torch = sys.modules["torch"]
    if item.dtype == torch.uint8:
        return "uint8"
    if item.dtype == getattr(torch, "uint16", None):
        return "uint16"
    return "float" if item.is_floating_point() else None


def _item_layout(shape, channels_last):
    """'hw', 'hwc', 'chw' or None for the shape of one image.

    numpy arrays are read channels-last first, tensors channels-first first,
    each falling back to the other layout; the 4-D batch rule of
    :func:`check_images` is the same rule on the trailing three dimensions, so
    the items of a batch are read the way the batch was.
    """
    if len(shape) == 2:
        return "hw"
    if len(shape) != 3:
        return None
    hwc = shape[2] in (1, 3, 4)
    chw = shape[0] in (1, 3)
    if channels_last:
        return "hwc" if hwc else "chw" if chw else None
    return "chw" if chw else "hwc" if hwc else None


def _check_array(item, index):
    """Validate the dtype and shape of an array or tensor; return its layout."""
    description, _ = describe_item(item)
    if _array_kind(item) is None:
        hint = ""
        if isinstance(item, np.ndarray) and item.dtype.kind in "iu":
            hint = " (for 0-255 data use .astype(np.uint8))"
        raise ImageInputError(
            f"unsupported dtype {item.dtype}; {_EXPECTED_DTYPE}{hint}",
            index=index,
            description=description,
        )
    shape = _shape(item)
    is_numpy = isinstance(item, np.ndarray)
    layout = _item_layout(shape, channels_last=is_numpy)
    if layout is None:
        expected = _EXPECTED_NUMPY_SHAPE if is_numpy else _EXPECTED_TENSOR_SHAPE
        raise ImageInputError(expected, index=index, description=description)
    height, width = shape[1:] if layout == "chw" else shape[:2]
    if height == 0 or width == 0:
        raise ImageInputError("zero-size image; expected at least one pixel", index=index, description=description)
    return layout


def _to_numpy(item):
    """A numpy view or copy of an array or a tensor (detached, on the CPU)."""
    if isinstance(item, np.ndarray):
        return item
    torch = sys.modules["torch"]
    tensor = item.detach()
    if tensor.dtype == torch.bfloat16:
        # numpy has no bfloat16; float32 holds every bfloat16 value exactly.
        tensor = tensor.to(torch.float32)
    return tensor.cpu().resolve_conj().resolve_neg().numpy()


def _float_problem(values):
    """Why float pixel values are unacceptable, or None."""
    if not np.isfinite(values).all():
        return "contains NaN or infinite values; expected finite values in [0, 1]"
    low, high = float(values.min()), float(values.max())
    if low < -_FLOAT_TOLERANCE or high > 1 + _FLOAT_TOLERANCE:
        return f"values range over [{low:.6g}, {high:.6g}]; expected floats in [0, 1] (divide 0-255 data by 255, or pass uint8)"
    return None


def _float_to_uint8(values):
    # Explicit copy: the in-place operations below must never reach the caller's data.
    work = values.astype(np.float32 if values.dtype.itemsize <= 4 else np.float64, copy=True)
    np.clip(work, 0.0, 1.0, out=work)
    work *= 255
    np.rint(work, out=work)
    return work.astype(np.uint8)


def _uint16_to_uint8(values):
    # round(v / 257) in integers: v = 257 k + r rounds up exactly when r >= 129,
    # and 257 being odd there are no ties. 257 = 65535 / 255 maps the full range.
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _rgb_from_hwc(pixels):
    """PIL RGB image from uint8 pixels of shape (H, W, C), C in (1, 3, 4)."""
    channels = pixels.shape[2]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 4:
        pixels = pixels[:, :, :3]
    return Image.fromarray(np.ascontiguousarray(pixels))


def _load_array(item, index, max_pixels):
    layout = _check_array(item, index)
    kind = _array_kind(item)
    shape = _shape(item)
    height, width = shape[1:] if layout == "chw" else shape[:2]

    def fail(reason):
        description, _ = describe_item(item)
        raise ImageInputError(reason, index=index, description=description)

    # Already in memory, but converting it (floats to uint8, to RGB) and resizing it
    # allocate in proportion: the budget applies to arrays too.
    _check_budget(width, height, max_pixels, fail, what="array")
    _reserve(width * height * (4 if kind == "uint8" else 8))
    pixels = _to_numpy(item)
    if layout == "chw":
        pixels = np.moveaxis(pixels, 0, -1)
    elif layout == "hw":
        pixels = pixels[:, :, np.newaxis]
    if kind == "uint16":
        pixels = _uint16_to_uint8(pixels)
    elif kind == "float":
        problem = _float_problem(pixels)
        if problem is not None:
            fail(problem)
        pixels = _float_to_uint8(pixels)
    return _rgb_from_hwc(pixels)


# -- PIL images and files --------------------------------------------------------


def _pil_to_rgb(img, fail):
    """Convert a loaded PIL image to mode 'RGB'; ``fail(reason)`` raises."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _UINT16_MODES:
        # Image.convert('L' or 'RGB') clips 16-bit values at 255 instead of scaling.
        return _rgb_from_hwc(_uint16_to_uint8(np.asarray(img))[:, :, np.newaxis])
    if mode == "I":
        # 32-bit integers: Pillow's representation of 16-bit grayscale in older
        # versions and after some operations. Scaling by the 32-bit range would
        # turn such data black, and scaling by each image's own maximum would make
        # pixel values depend on the other pixels, so 'I' is read as 16-bit data.
        values = np.asarray(img)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            fail(f"mode 'I' (32-bit integer) values range over [{low}, {high}]; expected 16-bit data in [0, 65535]")
        return _rgb_from_hwc(_uint16_to_uint8(values)[:, :, np.newaxis])
    if mode == "F":
        values = np.asarray(img)
        problem = _float_problem(values)
        if problem is not None:
            fail(f"mode 'F' (32-bit float) {problem}")
        return _rgb_from_hwc(_float_to_uint8(values)[:, :, np.newaxis])
    if mode == "P" and "transparency" in img.info:
        # Same pixels as convert('RGB'), without Pillow's UserWarning about
        # palette transparency given as bytes.
        img = img.convert("RGBA")
    try:
        return img.convert("RGB")
    except ValueError:
        pass
    # A few modes only reach RGB through an intermediate mode, e.g. premultiplied
    # 'La' through 'LA' (which un-premultiplies).
    for intermediate in ("RGBA", "LA"):
        try:
            return img.convert(intermediate).convert("RGB")
        except ValueError:
            continue
    fail(f"unsupported PIL image mode {mode!r}; expected an image convertible to RGB")


def _low_byte_tiles(img):
    """Tiles of an unloaded image re-targeted at the low bytes, and how to read them.

    Returns ``(tiles, reading)``, or None unless the image is a 16-bit colour
    file that Pillow reduces to its high bytes.
    """
    tiles, readings = [], set()
    for tile in getattr(img, "tile", None) or ():
        args = tile[3]
        rawmode = args if isinstance(args, str) else None
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            rawmode = args[0]
        target = _LOW_BYTE_RAWMODES.get((img.mode, rawmode))
        if target is None:
            return None
        low_rawmode, reading = target
        readings.add(reading)
        new_args = low_rawmode if isinstance(args, str) else (low_rawmode, *args[1:])
        if hasattr(tile, "_replace"):
            tiles.append(tile._replace(args=new_args))
        else:  # Pillow < 11 stores plain tuples
            tiles.append((tile[0], tile[1], tile[2], new_args))
    if len(readings) != 1:
        return None
    return tiles, readings.pop()


def _exact_16bit_rgb(fp, high):
    """Exact 8-bit RGB of a 16-bit colour file, given Pillow's high-byte decoding.

    ``fp`` is the open file (read again from its start, not reopened by name).
    Returns None when the second decoding is not possible with this Pillow;
    the caller then keeps Pillow's high-byte image (at most one level off).
    """
    try:
        fp.seek(0)
        with Image.open(fp) as low_img:
            retargeted = _low_byte_tiles(low_img)
            if retargeted is None or low_img.size != high.size or low_img.mode != high.mode:
                return None
            low_img.tile, reading = retargeted
            low_img.load()
            low = np.asarray(low_img)
    except Exception:  # noqa: BLE001 - best effort; the first decoding succeeded
        return None
    high = np.asarray(high)
    if reading == "gray_alpha_bytes":
        # Sanity check of the raw-byte reading: its first byte is the gray high
        # byte that Pillow's own decoding replicated into R, G and B.
        if not np.array_equal(low[:, :, 0], high[:, :, 0]):
            return None
        gray = (low[:, :, 0].astype(np.uint16) << 8) | low[:, :, 1]
        return _rgb_from_hwc(_uint16_to_uint8(gray)[:, :, np.newaxis])
    samples = (high[:, :, :3].astype(np.uint16) << 8) | low[:, :, :3]
    return _rgb_from_hwc(_uint16_to_uint8(samples))


def _exif_orientation(img):
    try:
        return int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # noqa: BLE001
        # Corrupt EXIF is metadata damage, not pixel damage: keep the image
        # unrotated, as a loader that ignores EXIF (torchvision's) would.
        return 1


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def _not_regular_reason(mode):
    """Why a file of this st_mode is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory; expected an image file"
    for test, name in _SPECIAL_FILES:
        if test(mode):
            return f"not a regular file ({name}); expected an image file"
    return "not a regular file; expected an image file"


def _os_error_reason(exc, path):
    if isinstance(exc, FileNotFoundError):
        return "file not found; expected a readable image file"
    if isinstance(exc, IsADirectoryError) or (isinstance(exc, PermissionError) and os.path.isdir(path)):
        # Windows reports opening a directory as a permission error.
        return "is a directory; expected an image file"
    if isinstance(exc, PermissionError):
        return "permission denied; expected a readable image file"
    if isinstance(exc, ValueError):  # a NUL byte, an unencodable name
        return f"invalid path ({exc}); expected a path to an image file"
    return f"cannot open the file ({exc}); expected a readable image file"


# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes the open
# return at once, and the fstat below then refuses it. Regular files ignore the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def _open_regular_file(path, fail):
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The path is checked with ``stat`` before it is opened (opening a device or a
    pipe can block or have effects) and the open descriptor again with ``fstat``
    (the path may have been replaced in between). Pillow then reads the returned
    file object, never the name, so it cannot be swapped afterwards.
    """
    try:
        reason = _not_regular_reason(os.stat(path).st_mode)
    except (OSError, ValueError) as exc:
        fail(_os_error_reason(exc, path), exc)
    if reason is not None:
        fail(reason)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError) as exc:
        fail(_os_error_reason(exc, path), exc)
    try:
        reason = _not_regular_reason(os.fstat(fd).st_mode)
        if reason is not None:
            fail(reason)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# Bytes per pixel of Pillow's own storage ('RGB', 'LA' and most others use 4).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def _decoded_bytes(img, rotated=False):
    """Estimate of the memory decoding ``img`` and turning it into RGB allocates."""
    pixels = img.width * img.height
    total = pixels * _STORED_BYTES.get(img.mode, 4)
    if img.mode != "RGB":
        total += pixels * 4  # the RGB copy
    if rotated:
        total += pixels * 4  # the transposed copy
    return total


def _open_failure(exc):
    """The reason for an exception raised by Image.open on a regular file."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image file (PIL cannot identify its format); expected a readable image file such as JPEG or PNG"
    if isinstance(exc, Image.DecompressionBombError):  # Pillow's own check (if ours could not be installed)
        return f"{exc}; expected an image within max_pixels"
    if isinstance(exc, MemoryError):
        return "ran out of memory reading the image header; the file may be corrupt or hostile"
    return f"cannot read the image header ({type(exc).__name__}: {exc}); the file may be corrupt or not an image"


def _decode_failure(exc, img):
    if isinstance(exc, MemoryError):
        return (
            f"ran out of memory decoding the {img.width}x{img.height} image; lower max_pixels "
            "to refuse such images before decoding, or use fewer decoding threads (num_workers)"
        )
    return f"cannot decode the image data ({type(exc).__name__}: {exc}); the file may be truncated or corrupt"


def _header_orientation(img):
    """The EXIF orientation known before decoding (JPEG, WebP), for memory estimates only.

    Parsed into a fresh Exif object: ``img.getexif()`` would decode a PNG, and
    caches what it read.
    """
    raw = img.info.get("exif")
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(ExifTags.Base.Orientation, 1))
    except Exception:  # noqa: BLE001 - an estimate; the real orientation is read after load()
        return 1


def _load_path(item, index, max_pixels):
    path = _path_str(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, path=path) from cause

    if not path:
        fail("empty path; expected a path to an image file")
    with _open_regular_file(path, fail) as fp:
        try:
            opened = Image.open(fp)
        except _OverBudget as exc:
            fail(_over_budget_reason(*exc.size, exc.max_pixels), exc)
        except Exception as exc:  # noqa: BLE001 - header parsers raise many types
            fail(_open_failure(exc), exc)
        with opened as img:
            # The header gives the size; nothing has been decoded yet.
            _check_budget(img.width, img.height, max_pixels, fail)
            try:
                low_tiles = _low_byte_tiles(img)  # must be read before load() clears the tiles
                _reserve(_decoded_bytes(img, rotated=_header_orientation(img) in _EXIF_TRANSPOSE) * (2 if low_tiles else 1))
                # load() decodes everything now, so truncated or corrupt data fails
                # here, with the index and path, rather than later in a transform.
                img.load()
                orientation = _exif_orientation(img)
                rgb = _exact_16bit_rgb(fp, img) if low_tiles is not None else None
                if rgb is None:
                    rgb = _pil_to_rgb(img, fail)
                method = _EXIF_TRANSPOSE.get(orientation)
                if method is not None:
                    rgb = rgb.transpose(method)
            except ImageInputError:
                raise
            except _OverBudget as exc:  # a frame or tile larger than the header said
                fail(_over_budget_reason(*exc.size, exc.max_pixels), exc)
            except Exception as exc:  # noqa: BLE001 - decoders raise many types, MemoryError included
                fail(_decode_failure(exc, img), exc)
    return rgb


def _load_pil(img, index, max_pixels):
    description, _ = describe_item(img)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, description=description) from cause

    # An unloaded image (from Image.open) is checked from its header, before load().
    _check_budget(img.width, img.height, max_pixels, fail)
    try:
        _reserve(_decoded_bytes(img) if getattr(img, "tile", None) else (0 if img.mode == "RGB" else img.width * img.height * 4))
        img.load()
    except _OverBudget as exc:
        fail(_over_budget_reason(*exc.size, exc.max_pixels), exc)
    except Exception as exc:  # noqa: BLE001
        reason = _decode_failure(exc, img)
        fail(reason.replace("cannot decode", "cannot load") if not isinstance(exc, MemoryError) else reason, exc)
    if img.width == 0 or img.height == 0:
        fail("zero-size image; expected at least one pixel")
    try:
        return _pil_to_rgb(img, fail)
    except ImageInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. MemoryError in the conversion
        fail(_decode_failure(exc, img), exc)


def load_rgb(item, index=None, max_pixels="auto"):
    """Return one input item as a fully loaded 8-bit RGB PIL image.

    Parameters
    ----------
    item : str, os.PathLike, PIL.Image.Image, numpy.ndarray or torch.Tensor
        The image:

        - a path: opened with PIL, decoded completely, rotated by its EXIF
          orientation (as :func:`PIL.ImageOps.exif_transpose` does), and
          converted to RGB;
        - a PIL image: converted to RGB (no EXIF rotation: an in-memory
          image is taken as the caller has it);
        - a numpy array ``HxW``, ``HxWx1``, ``HxWx3`` or ``HxWx4`` (RGBA), or
          channels-first ``1xHxW`` / ``3xHxW`` when the last dimension is not
          1, 3 or 4;
        - a torch tensor ``3xHxW`` or ``1xHxW``, ``HxW``, or channels-last
          when the first dimension is not 1 or 3.

        Array and tensor dtypes: ``uint8``; ``uint16`` (scaled by
        ``round(v / 257)``); floating point, finite and within ``[0, 1]``
        (scaled by ``round(255 * x)``).
    index : int or None, default=None
        Position of the item in ``X``, used in error messages.
    max_pixels : int, None or "auto", default="auto"
        Pixel budget: an image of more than ``max_pixels`` pixels (width x
        height) is refused. Files and unloaded PIL images are checked from
        their header, before anything is decoded; loaded PIL images, arrays
        and tensors are already in memory, but are checked too, before they
        are converted (converting and resizing allocate in proportion). None:
        no limit. "auto": the budget of the enclosing :func:`decoding` block,
        else :data:`DEFAULT_MAX_PIXELS`.

    Returns
    -------
    image : PIL.Image.Image
        Mode ``'RGB'``, pixel data loaded. When ``item`` is already a loaded
        RGB PIL image it is returned as is: do not modify the result in place.

    Raises
    ------
    ImageInputError
        If the file is missing, not a regular file (a directory, a named
        pipe, a device), not an image, truncated or corrupt, over the pixel
        budget, or fails to decode for any other reason (a metadata chunk that
        decompresses too far, a path with a NUL byte, running out of memory),
        or the pixels have the wrong shape, dtype or range (NaN, infinite,
        floats outside ``[0, 1]``, 'I' images outside ``[0, 65535]``,
        zero-size images).
    TypeError
        If ``item`` is of an unsupported type.

    Notes
    -----
    Mode conversion follows ``Image.convert("RGB")`` (the conversion of
    torchvision's ``ImageFolder`` loader) for 8-bit modes: alpha is dropped
    without compositing, palettes are applied, CMYK/YCbCr/LAB/HSV are
    converted by PIL. Deeper modes are scaled by their full range, where
    ``convert`` would clip: ``'I;16*'`` and ``'I'`` (read as 16-bit data;
    values outside ``[0, 65535]`` are an error) by ``round(v / 257)``,
    ``'F'`` (read as ``[0, 1]``) by ``round(255 * x)``. 16-bit colour PNG
    and TIFF files, which Pillow reduces to their high bytes, are decoded a
    second time for their low bytes, so they too get ``round(v / 257)``.
    ICC profiles are ignored. PIL's global ``ImageFile.LOAD_TRUNCATED_IMAGES``
    is left as it is (by default, truncated files fail).
    """
    max_pixels = _resolve_max_pixels(max_pixels)
    if _is_path(item):
        load = _load_path
    elif isinstance(item, Image.Image):
        load = _load_pil
    elif isinstance(item, np.ndarray) or _is_tensor(item):
        load = _load_array
    else:
        raise _unsupported_item(item, index)
    with decoding(max_pixels):
        return load(item, index, max_pixels)


# -- Containers ------------------------------------------------------------------


def _batch_layout(shape, channels_last):
    """'nhwc' or 'nchw' for a 4-D batch shape, or None."""
    nhwc = shape[3] in (1, 3, 4)
    nchw = shape[1] in (1, 3)
    if channels_last:
        return "nhwc" if nhwc else "nchw" if nchw else None
    return "nchw" if nchw else "nhwc" if nhwc else None


def _split_batch(X, kind):
    """The items of a numeric numpy array or tensor X (kind 'numpy array'/'torch tensor')."""
    shape = _shape(X)
    channels_last = kind == "numpy array"
    if X.ndim == 4:
        if shape[0] == 0:
            raise ValueError("X is empty: expected at least one image")
        if _array_kind(X) is None:
            raise ValueError(f"X is a 4-D {kind} of dtype {X.dtype}; {_EXPECTED_DTYPE}")
        if _batch_layout(shape, channels_last) is None:
            expected = (
                "(N, H, W, C) with C in (1, 3, 4), or (N, C, H, W) with C in (1, 3)"
                if channels_last
                else "(N, C, H, W) with C in (1, 3), or (N, H, W, C) with C in (1, 3, 4)"
            )
            raise ValueError(
                f"X is a 4-D {kind} of shape {shape} with an unsupported number of channels; expected a batch {expected}"
            )
        # Views, not copies: the items are read with the same rule (see _item_layout).
        return list(X)
    if X.ndim in (2, 3):
        raise ValueError(
            f"X is a {X.ndim}-D {kind} of shape {shape}, which is ambiguous: wrap a single "
            "image in a list ([image]), or pass a 4-D batch "
            "(add a channel axis to a stack of grayscale images, e.g. X[..., None])"
        )
    raise ValueError(f"X is a {X.ndim}-D {kind} of shape {shape}; {_EXPECTED_X}")


def _split_numpy(X):
    if X.dtype.kind in "OUS":
        # Object and string arrays hold one item per element: 1-D, or a single
        # column as a ColumnTransformer passes from a numpy input.
        if X.ndim == 1:
            return list(X)
        if X.ndim == 2 and X.shape[1] == 1:
            return list(X[:, 0])
        raise ValueError(
            f"X is a numpy array of dtype {X.dtype} and shape {_shape(X)}; "
            "expected a 1-D array (or a single column) of images or paths"
        )
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: X is a numpy array of dtype {X.dtype}; {_EXPECTED_DTYPE}")
    if X.dtype.kind not in "uif":
        raise ValueError(f"X is a numpy array of dtype {X.dtype}; {_EXPECTED_DTYPE}")
    return _split_batch(X, "numpy array")


def _check_item(item, index):
    """Cheap per-item validation: type, array shape and dtype; no I/O."""
    if _is_path(item):
        if not _path_str(item):
            raise ImageInputError("empty path; expected a path to an image file", index=index, path="")
    elif isinstance(item, Image.Image):
        if item.width == 0 or item.height == 0:
            description, _ = describe_item(item)
            raise ImageInputError("zero-size image; expected at least one pixel", index=index, description=description)
    elif isinstance(item, np.ndarray) or _is_tensor(item):
        _check_array(item, index)
    else:
        raise _unsupported_item(item, index)


def check_images(X):
    """Validate an input container and return its items as a list.

    Only the container and each item's type, shape and dtype are checked:
    no file is opened and no pixel is read (see :func:`load_rgb`).

    Parameters
    ----------
    X : sequence, numpy.ndarray, torch.Tensor, pandas.Series or pandas.DataFrame
        - a list, tuple, 1-D object array or other re-iterable collection of
          items (file paths, PIL images, numpy arrays, torch tensors; kinds may
          be mixed); one-shot iterators (generators, ``map``, file objects:
          anything whose ``iter(X) is X``) are refused;
        - a pandas Series, or a one-column DataFrame (as a ColumnTransformer
          passes), of items, typically paths;
        - a 4-D numpy array ``(N, H, W, C)``, C in (1, 3, 4), or ``(N, C, H,
          W)``, C in (1, 3), when the last dimension is not 1, 3 or 4;
        - a 4-D torch tensor ``(N, C, H, W)``, C in (1, 3), or ``(N, H, W,
          C)``, C in (1, 3, 4), when dimension 1 is not 1 or 3.

    Returns
    -------
    items : list
        The ``n >= 1`` items, in order; for batches, views ``X[i]``.

    Raises
    ------
    TypeError
        If X is None, a single path or PIL image (wrap it in a list), not
        iterable, a one-shot iterator (pass ``list(X)``), a mapping or a set,
        or holds an item of unsupported type.
    ValueError
        If X is empty, a DataFrame with other than one column, a 2-D or 3-D
        numeric array or tensor (ambiguous), or a batch with an unsupported
        channel count or dtype.
    ImageInputError
        If an array or tensor item has an unsupported shape or dtype, is
        zero-size, or a path is empty.

    Examples
    --------
    >>> import numpy as np
    >>> items = check_images(np.zeros((2, 4, 4, 3), dtype=np.uint8))
    >>> len(items), items[0].shape
    (2, (4, 4, 3))
    """
    if X is None:
        raise TypeError(f"X is None; {_EXPECTED_X}")
    if _is_path(X) or isinstance(X, bytes):
        shown = repr(_path_str(X)) if _is_path(X) else repr(X)
        raise TypeError(f"X is a single path ({shown}), not a sequence of images; wrap it in a list: [{shown}]")
    if isinstance(X, Image.Image):
        raise TypeError("X is a single PIL image, not a sequence of images; wrap it in a list: [image]")
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # scipy.sparse, without importing scipy
        raise TypeError(f"X is a sparse matrix ({_type_name(X)}): sparse input is not supported; {_EXPECTED_X}")

    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(X, pandas.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"X is a DataFrame with {X.shape[1]} columns {list(X.columns)!r}; expected "
                "exactly one column of image paths (select it, e.g. X[['path']])"
            )
        X = X.iloc[:, 0]
    if pandas is not None and isinstance(X, pandas.Series):
        items = X.tolist()
    elif isinstance(X, np.ndarray):
        items = _split_numpy(X)
    elif _is_tensor(X):
        items = _split_batch(X, "torch tensor")
    elif isinstance(X, (Mapping, Set)):
        raise TypeError(f"X is a {_type_name(X)}; {_EXPECTED_X}")
    else:
        try:
            iterator = iter(X)
        except TypeError:
            raise TypeError(f"X of type {_type_name(X)} is not a sequence; {_EXPECTED_X}") from None
        if iterator is X:
            # fit, then transform (fit_transform, Pipeline, cross-validation) each read X
            # once: a one-shot iterator would reach the second read empty.
            raise TypeError(
                f"X is a one-shot iterator ({_type_name(X)}): it can be read only once, but fitting then "
                "transforming or predicting reads X again; pass a list instead, e.g. list(X)"
            )
        items = list(iterator)

    if not items:
        raise ValueError("X is empty: expected at least one image")
    for index, item in enumerate(items):
        _check_item(item, index)
    return items


# -- Cache keys ------------------------------------------------------------------


def _hash_fields(*fields):
    """blake2b-128 hex digest of length-prefixed fields (str, int or buffers)."""
    digest = hashlib.blake2b(digest_size=16)
    for field in fields:
        if isinstance(field, str):
            field = field.encode("utf-8", "surrogateescape")
        elif isinstance(field, Integral):
            field = str(int(field)).encode()
        view = memoryview(field)
        # Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        digest.update(view.nbytes.to_bytes(8, "little"))
        digest.update(view)
    return digest.hexdigest()


def image_key(item, index=None, max_pixels="auto"):
    """A stable hex digest identifying an item's image content, for caches.

    Parameters
    ----------
    item : str, os.PathLike, PIL.Image.Image, numpy.ndarray or torch.Tensor
        One input item.
    index : int or None, default=None
        Position of the item in ``X``, used in error messages.
    max_pixels : int, None or "auto", default="auto"
        Pixel budget for PIL images, which are loaded to be hashed (see
        :func:`load_rgb`).

    Returns
    -------
    key : str
        32 hexadecimal characters (blake2b, 16 bytes), computed from:

        - paths: the absolute path with symlinks resolved, the file size and
          its modification time in nanoseconds (the file is not read; a
          touched or rewritten file gets a new key);
        - PIL images: mode, size, palette and pixel bytes (the image is loaded);
        - arrays and tensors: dtype, shape and the bytes in C order (tensors
          copied to the CPU).

        Items of different kinds never share a key.

    Raises
    ------
    ImageInputError
        If a path cannot be inspected (missing, not a regular file) or a PIL
        image is over the pixel budget or cannot be loaded.
    TypeError
        If ``item`` is of an unsupported type, or an array holding objects.
    """
    if _is_path(item):
        path = _path_str(item)
        try:
            resolved = os.path.realpath(path)
            status = os.stat(resolved)
        except (OSError, ValueError) as exc:
            raise ImageInputError(_os_error_reason(exc, path), index=index, path=path) from exc
        reason = _not_regular_reason(status.st_mode)
        if reason is not None:
            raise ImageInputError(reason, index=index, path=path)
        return _hash_fields("path", resolved, status.st_size, status.st_mtime_ns)
    if isinstance(item, Image.Image):
        description, _ = describe_item(item)

        def fail(reason, cause=None):
            raise ImageInputError(reason, index=index, description=description) from cause

        max_pixels = _resolve_max_pixels(max_pixels)
        _check_budget(item.width, item.height, max_pixels, fail)
        try:
            with decoding(max_pixels):
                item.load()
        except _OverBudget as exc:
            fail(_over_budget_reason(*exc.size, exc.max_pixels), exc)
        except Exception as exc:  # noqa: BLE001
            fail(f"cannot load the image data ({type(exc).__name__}: {exc})", exc)
        # Two palette images with the same indices differ by their palettes.
        palette = bytes(item.getpalette() or ()) if item.palette is not None else b""
        return _hash_fields("pil", item.mode, item.width, item.height, palette, item.tobytes())
    if isinstance(item, np.ndarray):
        if item.dtype.hasobject:
            raise TypeError(
                _format_item_message(f"numpy array of dtype {item.dtype} holds Python objects", index, None)
                + f"; {_EXPECTED_DTYPE}"
            )
        data = np.ascontiguousarray(item)
        shape = ",".join(map(str, item.shape))
        return _hash_fields("numpy", data.dtype.str, shape, data.reshape(-1).view(np.uint8))
    if _is_tensor(item):
        torch = sys.modules["torch"]
        tensor = item.detach().cpu().resolve_conj().resolve_neg().contiguous()
        shape = ",".join(map(str, tensor.shape))
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        return _hash_fields("torch", str(tensor.dtype), shape, raw)
    raise _unsupported_item(item, index)


# -- Ordered parallel decoding ----------------------------------------------------


def parallel_map(fn, items, num_workers, lookahead):
    """Yield ``fn(i, item)`` for each item, in order, computing ahead in threads.

    PIL's decoding and resizing release the GIL, so a few threads decode
    the next images while the caller computes on the current one.

    Parameters
    ----------
    fn : callable
        Called as ``fn(index, item)``.
    items : iterable
        The items; consumed lazily, at most ``lookahead`` ahead.
    num_workers : int
        Number of worker threads; 0 runs ``fn`` inline in the caller's thread.
    lookahead : int
        Maximum number of items submitted but not yet yielded (>= 1); bounds
        memory. Values below ``num_workers`` leave workers idle. Ignored when
        ``num_workers`` is 0.

    Yields
    ------
    result : object
        ``fn(i, item)``, in the order of ``items``.

    Raises
    ------
    Exception
        Whatever ``fn`` (or iterating ``items``) raised, at the position of the
        failing item, after the results before it were yielded.

    Notes
    -----
    Closing the generator early (``close()``, ``break`` out of a loop,
    garbage collection) cancels the pending calls and waits for the at most
    ``num_workers`` running ones, so no work outlives the generator.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, Integral) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    if isinstance(lookahead, bool) or not isinstance(lookahead, Integral) or lookahead < 1:
        raise ValueError(f"lookahead must be an integer >= 1, got {lookahead!r}")
    # Arguments are checked above, at call time; the work starts at the first next().
    if num_workers == 0:
        return _inline_map(fn, items)
    return _threaded_map(fn, items, int(num_workers), int(lookahead))


def _inline_map(fn, items):
    for index, item in enumerate(items):
        yield fn(index, item)


def _threaded_map(fn, items, num_workers, lookahead):
    enumerated = enumerate(items)
    pending = deque()
    source_error = None
    executor = ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="skvgg-images")

    def submit_next():
        # An error raised by `items` itself is kept until the results before
        # it have been yielded, so it surfaces at its own position.
        nonlocal source_error
        if source_error is not None:
            return
        try:
            index, item = next(enumerated)
        except StopIteration:
            source_error = StopIteration
            return
        except Exception as exc:  # noqa: BLE001
            source_error = exc
            return
        pending.append(executor.submit(fn, index, item))

    try:
        for _ in range(lookahead):
            submit_next()
        while pending:
            result = pending.popleft().result()
            # Refill before yielding, so the workers keep going while the caller
            # uses this result.
            submit_next()
            yield result
        if source_error is not None and source_error is not StopIteration:
            raise source_error
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
