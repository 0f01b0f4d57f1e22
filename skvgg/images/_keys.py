"""Content keys of input items, for the descriptor cache and Dask's parquet parts."""

from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

from .._filesystem import digest_fields
from ._budget import check_budget, decoding, loading_scope, resolve_max_pixels
from ._decode import encoded_bytes, object_lock
from ._files import stat_path
from ._inputs import (
    EXPECTED_DTYPE,
    ImageInputError,
    describe_item,
    format_item_message,
    image_dict_source,
    is_encoded,
    is_image_dict,
    is_path,
    is_tensor,
    path_str,
    unsupported_item,
)

__all__ = ["image_key"]


def _path_key(item, index):
    path = path_str(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, path=path) from cause

    if not path:
        fail("empty path; expected a path to an image file")
    # The path as the kernel resolves it, first: realpath() normalises strings
    # ('missing/../cat.jpg', 'cat.jpg/'), and a key from it alone would serve a cached
    # cat.jpg for a path that cannot be opened.
    status = stat_path(path, fail)
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot resolve the path ({exc}); expected a path to an image file", exc)
    # Size and mtime alone miss a file replaced with both restored (rsync -t, cp -p);
    # the inode and the change time, which no user call can set back, catch it.
    return digest_fields("path", resolved, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _encoded_key(item, index, description=None):
    if description is None:
        description, _ = describe_item(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, description=description) from cause

    # bytes and bytearrays hash in place; memoryviews (any format, any strides) and file objects as their bytes.
    data = item if isinstance(item, (bytes, bytearray)) else encoded_bytes(item, fail)
    return digest_fields("encoded", data)


def _pil_key(item, index, max_pixels):
    description, _ = describe_item(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, description=description) from cause

    max_pixels = resolve_max_pixels(max_pixels)
    check_budget(item.width, item.height, max_pixels, fail)
    with object_lock(item):  # see skvgg.images._decode: one thread loads a shared image
        try:
            with decoding(max_pixels), loading_scope(item):
                item.load()
        except Exception as exc:  # noqa: BLE001
            fail(f"cannot load the image data ({type(exc).__name__}: {exc})", exc)
        # Two palette images with the same indices differ by their palettes.
        palette = bytes(item.getpalette() or ()) if item.palette is not None else b""
        return digest_fields("pil", item.mode, item.width, item.height, palette, item.tobytes())


def image_key(item: object, index: int | None = None, max_pixels: int | str | None = "auto") -> str:
    """A stable hex digest identifying an item's image content, for caches.

    Parameters
    ----------
    item : str, os.PathLike, bytes, bytearray, memoryview, file object, dict, PIL.Image.Image, numpy.ndarray or torch.Tensor
        One input item (see :func:`skvgg.images.load_rgb`).
    index : int or None, default=None
        Position of the item in ``X``, used in error messages.
    max_pixels : int, None or "auto", default="auto"
        Pixel budget for PIL images, which are loaded to be hashed (see
        :func:`skvgg.images.load_rgb`).

    Returns
    -------
    key : str
        32 hexadecimal characters (blake2b, 16 bytes), computed from:

        - paths: the path is first checked as the kernel resolves it (``os.stat``:
          a path that cannot be opened gets no key), then the absolute path with
          symlinks resolved, the device and inode, the file size, its modification
          and change times in nanoseconds (the file is not read; a touched,
          rewritten or replaced file gets a new key, even with its size and
          modification time restored);
        - encoded images (bytes, bytearray, memoryview, file objects, the bytes of
          an image dict): the encoded bytes (a file object is read); an image dict
          with only a path: that path's key;
        - PIL images: mode, size, palette and pixel bytes (the image is loaded);
        - arrays and tensors: dtype, shape and the bytes in C order (tensors
          copied to the CPU).

        Items of different kinds never share a key (except the same encoded bytes
        given as bytes, a file object or an image dict, which decode alike).

    Raises
    ------
    ImageInputError
        If a path cannot be inspected (missing, not a regular file, a URL), a file
        object cannot be read, or a PIL image is over the pixel budget or cannot be
        loaded.
    TypeError
        If ``item`` is of an unsupported type, or an array holding objects.
    """
    if is_path(item):
        return _path_key(item, index)
    if is_encoded(item):
        return _encoded_key(item, index)
    if is_image_dict(item):
        source = image_dict_source(item, index)
        if is_path(source):
            return _path_key(source, index)
        return _encoded_key(source, index, describe_item(item)[0])
    if isinstance(item, Image.Image):
        return _pil_key(item, index, max_pixels)
    if isinstance(item, np.ndarray):
        if item.dtype.hasobject:
            raise TypeError(
                format_item_message(f"numpy array of dtype {item.dtype} holds Python objects", index, None)
                + f"; {EXPECTED_DTYPE}"
            )
        data = np.ascontiguousarray(item)
        shape = ",".join(map(str, item.shape))
        return digest_fields("numpy", data.dtype.str, shape, data.reshape(-1).view(np.uint8))
    if is_tensor(item):
        torch = sys.modules["torch"]
        tensor = item.detach().cpu().resolve_conj().resolve_neg().contiguous()
        shape = ",".join(map(str, tensor.shape))
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        return digest_fields("torch", str(tensor.dtype), shape, raw)
    raise unsupported_item(item, index)
