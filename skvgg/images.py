"""Turning user input ``X`` into RGB images: the one place the estimators interpret their input.

``X`` may be

- a sequence (list, tuple, 1-D object array, Series, one-column DataFrame of
  pandas, polars, pyarrow...) of items, each one a file path (``str`` or
  :class:`os.PathLike`), a PIL image, a numpy array or a torch tensor; kinds may be
  mixed;
- a 4-D batch: a numpy array ``(N, H, W, C)`` or a torch tensor ``(N, C, H, W)``.

This module is the public face of that work, spread over private modules with one
concept each:

- :func:`check_images` (:mod:`skvgg._inputs`) validates the container cheaply (no
  file I/O, no decoding) and returns a plain list of items;
- :func:`load_rgb` turns one item into a fully loaded 8-bit RGB
  :class:`PIL.Image.Image` (decoding: :mod:`skvgg._decode`, 16-bit color files:
  :mod:`skvgg._deep16`, opening files: :mod:`skvgg._files`; pixel conventions are
  described in :mod:`skvgg._decode`);
- :func:`image_key` gives a content key for caching descriptors;
- :func:`decoding` and ``max_pixels`` (:mod:`skvgg._budget`) bound what one image,
  and all decoding threads together, may hold.

Hostile input
-------------
- only regular files are opened: a named pipe, a device, a socket or a
  directory is refused from its ``stat`` before anything reads it;
- every error while opening or decoding an item (``ValueError`` from a
  metadata chunk that decompresses to megabytes, ``MemoryError``,
  ``SyntaxError``, ``struct.error``...) becomes an :class:`ImageInputError`
  naming the item;
- a pixel budget, ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`), is
  checked from the header, before decoding, and applies to every item; Pillow's
  own limit (``PIL.Image.MAX_IMAGE_PIXELS``) neither refuses nor warns about what
  the budget decides (:func:`skvgg._budget.open_image`);
- decoded pixels count against a process-wide allowance of about
  :data:`DECODE_MEMORY_BYTES` (see :func:`decoding`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from numbers import Integral

import numpy as np
from PIL import Image

from ._budget import (
    DECODE_MEMORY_BYTES,
    DEFAULT_MAX_PIXELS,
    check_budget,
    current_max_pixels,
    decoding,
    loading_scope,
    resolve_max_pixels,
)
from ._decode import load_array, load_path, load_pil
from ._files import not_regular_reason, os_error_reason
from ._inputs import (
    _EXPECTED_DTYPE,
    ImageInputError,
    _format_item_message,
    _is_path,
    _is_tensor,
    _path_str,
    _unsupported_item,
    check_images,
    describe_item,
)

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
]


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
    ``'F'`` (read as ``[0, 1]``) by ``round(255 * x)``. 16-bit color PNGs
    (decoded by torchvision) and 16-bit RGB(A) TIFFs (read from their strips)
    get ``round(v / 257)`` too; the 16-bit color TIFFs that
    :mod:`skvgg._deep16` cannot read (tiled, or compressed other than by
    Deflate, LZW or PackBits) keep Pillow's 8-bit reading, ``floor(v / 256)``,
    at most one level lower. ICC profiles are ignored. PIL's global
    ``ImageFile.LOAD_TRUNCATED_IMAGES``
    is left as it is (by default, truncated files fail).
    """
    max_pixels = resolve_max_pixels(max_pixels)
    if _is_path(item):
        load = load_path
    elif isinstance(item, Image.Image):
        load = load_pil
    elif isinstance(item, np.ndarray) or _is_tensor(item):
        load = load_array
    else:
        raise _unsupported_item(item, index)
    with decoding(max_pixels):
        return load(item, index, max_pixels)


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
            raise ImageInputError(os_error_reason(exc, path), index=index, path=path) from exc
        reason = not_regular_reason(status.st_mode)
        if reason is not None:
            raise ImageInputError(reason, index=index, path=path)
        return _hash_fields("path", resolved, status.st_size, status.st_mtime_ns)
    if isinstance(item, Image.Image):
        description, _ = describe_item(item)

        def fail(reason, cause=None):
            raise ImageInputError(reason, index=index, description=description) from cause

        max_pixels = resolve_max_pixels(max_pixels)
        check_budget(item.width, item.height, max_pixels, fail)
        try:
            with decoding(max_pixels), loading_scope(item):
                item.load()
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
