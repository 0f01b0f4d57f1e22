"""Decoding one item into an 8-bit RGB PIL image: arrays, tensors, PIL images and files.

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

Files and encoded bytes are decoded by Pillow, except 16-bit colour files, whose exact
samples come from :mod:`skvgg.images._deep16`. Only Pillow's public API is used.

Shared objects
--------------
A PIL image that is not yet loaded, or a file object, changes state while it is read
(Pillow's lazy ``load()``, the file position). The same object may appear several
times in ``X``, or reach two threads at once (two ``transform`` calls): it is read under
its own lock (:func:`object_lock`), so that one thread loads it and the others find it
loaded.
"""

from __future__ import annotations

import io
import sys
import threading

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from ._budget import check_budget, loading_scope, open_image, reserve
from ._deep16 import deep_png_samples, deep_tiff_samples, is_deep_png, is_deep_png_or_tiff
from ._files import open_image_file
from ._inputs import (
    ImageInputError,
    array_kind,
    check_array,
    describe_item,
    image_dict_source,
    is_encoded,
    is_image_dict,
    is_path,
    is_tensor,
    path_str,
    shape_of,
    unsupported_item,
)

__all__ = [
    "EXIF_TRANSPOSE",
    "encoded_bytes",
    "exif_transpose_method",
    "load_array",
    "load_encoded",
    "load_item",
    "load_path",
    "load_pil",
    "object_lock",
    "orient_tensor",
]

# Floats a hair outside [0, 1] are rounding error of float arithmetic (e.g. a
# normalisation undone), not bad data: they are clipped rather than rejected.
_FLOAT_TOLERANCE = 1e-6

_UINT16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})

#: EXIF orientation -> the transpose that shows the image upright: the table of
#: :func:`PIL.ImageOps.exif_transpose`, kept here so that the exact 16-bit path (which
#: builds a new image) and GPU decoding apply the same orientations.
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def exif_transpose_method(orientation):
    """The :class:`PIL.Image.Transpose` for an EXIF orientation (1-8), or None (upright, unknown)."""
    return EXIF_TRANSPOSE.get(orientation)


# Each PIL transpose on a (..., H, W) tensor (tensor methods only: no torch import here).
_TENSOR_TRANSPOSE = {
    Image.Transpose.FLIP_LEFT_RIGHT: lambda t: t.flip(-1),
    Image.Transpose.ROTATE_180: lambda t: t.flip(-2, -1),
    Image.Transpose.FLIP_TOP_BOTTOM: lambda t: t.flip(-2),
    Image.Transpose.TRANSPOSE: lambda t: t.transpose(-2, -1),
    Image.Transpose.ROTATE_270: lambda t: t.rot90(-1, (-2, -1)),  # a quarter turn clockwise
    Image.Transpose.TRANSVERSE: lambda t: t.rot90(2, (-2, -1)).transpose(-2, -1),
    Image.Transpose.ROTATE_90: lambda t: t.rot90(1, (-2, -1)),  # a quarter turn counter-clockwise
}


def orient_tensor(image, orientation):
    """A ``(C, H, W)`` tensor turned upright by its EXIF orientation, as :data:`EXIF_TRANSPOSE` turns PIL images."""
    method = EXIF_TRANSPOSE.get(orientation)
    return image if method is None else _TENSOR_TRANSPOSE[method](image)


# Striped locks: one per object would need weak references, which not every object
# takes; 64 stripes make two different objects rarely wait for each other.
_OBJECT_LOCKS = tuple(threading.RLock() for _ in range(64))


def object_lock(obj):
    """The lock under which ``obj`` (a PIL image, a file object) is loaded or read."""
    return _OBJECT_LOCKS[(id(obj) >> 4) % len(_OBJECT_LOCKS)]


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


def load_array(item, index, max_pixels):
    layout = check_array(item, index)
    kind = array_kind(item)
    shape = shape_of(item)
    height, width = shape[1:] if layout == "chw" else shape[:2]

    def fail(reason):
        description, _ = describe_item(item)
        raise ImageInputError(reason, index=index, description=description)

    # Already in memory, but converting it (floats to uint8, to RGB) and resizing it
    # allocate in proportion: the budget applies to arrays too.
    check_budget(width, height, max_pixels, fail, what="array")
    reserve(width * height * (4 if kind == "uint8" else 8))
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


def _exif_orientation(img):
    try:
        return int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # noqa: BLE001
        # Corrupt EXIF is metadata damage, not pixel damage: keep the image
        # unrotated, as a loader that ignores EXIF (torchvision's) would.
        return 1


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
    if isinstance(exc, MemoryError):
        return "ran out of memory reading the image header; the file may be corrupt or hostile"
    return f"cannot read the image header ({type(exc).__name__}: {exc}); the file may be corrupt or not an image"


def _decode_failure(exc, img):
    if isinstance(exc, Image.DecompressionBombError):  # a frame or tile larger than the header said
        return f"Pillow refused a frame or tile of the image as a decompression bomb ({exc}); expected an image within max_pixels"
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


def _deep_rgb(fp, img):
    """Exact RGB of a 16-bit colour file (see :mod:`skvgg.images._deep16`), or None."""
    if is_deep_png(fp, img):
        samples = deep_png_samples(fp)
    else:
        samples = deep_tiff_samples(fp, img)
        if samples is None:
            return None
    if samples.shape[2] == 2:  # gray + alpha
        samples = samples[:, :, :1]
    return _rgb_from_hwc(_uint16_to_uint8(samples))


def _decode_file(fp, fail, max_pixels):
    """The RGB image of an encoded image read from the binary file object ``fp``."""
    try:
        opened = open_image(fp)
    except Exception as exc:  # noqa: BLE001 - header parsers raise many types
        fail(_open_failure(exc), exc)
    with opened as img:
        # The header gives the size; nothing has been decoded yet.
        check_budget(img.width, img.height, max_pixels, fail)
        try:
            rotated = _header_orientation(img) in EXIF_TRANSPOSE
            deep = is_deep_png_or_tiff(fp, img)
            reserve(_decoded_bytes(img, rotated) + (img.width * img.height * 8 if deep else 0))  # + the uint16 samples
            rgb = _deep_rgb(fp, img) if deep else None
            if rgb is None:
                # load() decodes everything now, so truncated or corrupt data fails
                # here, with the index and path, rather than later in a transform.
                with loading_scope(img):
                    img.load()
                check_budget(img.width, img.height, max_pixels, fail)  # frames may grow the image
                rgb = _pil_to_rgb(img, fail)
            method = EXIF_TRANSPOSE.get(_exif_orientation(img))
            if method is not None:
                rgb = rgb.transpose(method)
        except ImageInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise many types, MemoryError included
            fail(_decode_failure(exc, img), exc)
    return rgb


def load_path(item, index, max_pixels):
    """The RGB image of a file (see :func:`skvgg.images.load_rgb`)."""
    path = path_str(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, path=path) from cause

    if not path:
        fail("empty path; expected a path to an image file")
    with open_image_file(path, fail) as fp:
        return _decode_file(fp, fail, max_pixels)


def encoded_bytes(item, fail):
    """The encoded bytes of ``item`` (bytes, bytearray, memoryview or binary file object), without copying bytes.

    A file object is read whole from its start, as :func:`PIL.Image.open` does, under its
    :func:`object_lock`, and its position is restored: reading it again (fit, then
    transform) gives the same image.
    """
    if isinstance(item, bytes):
        return item
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    with object_lock(item):
        try:
            position = item.tell()
            item.seek(0)
            try:
                data = item.read()
            finally:
                item.seek(position)
        except Exception as exc:  # noqa: BLE001 - file-like objects raise many types
            fail(f"cannot read the file object ({type(exc).__name__}: {exc}); expected a readable binary file", exc)
    if not isinstance(data, (bytes, bytearray)):
        fail(f"reading the file object returned {type(data).__name__}; expected bytes (open the file in binary mode)")
    if not data:
        fail("the file object is empty; expected the bytes of an encoded image")
    return bytes(data)


def load_encoded(item, index, max_pixels, description=None):
    """The RGB image of encoded bytes or a binary file object, decoded as a file of those bytes would be."""
    if description is None:
        description, _ = describe_item(item)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, description=description) from cause

    return _decode_file(io.BytesIO(encoded_bytes(item, fail)), fail, max_pixels)


def _load_image_dict(item, index, max_pixels):
    source = image_dict_source(item, index)
    if is_path(source):
        return load_path(source, index, max_pixels)
    description, _ = describe_item(item)
    return load_encoded(source, index, max_pixels, description)


def load_item(item, index, max_pixels):
    """The RGB image of any supported item (the dispatch of :func:`skvgg.images.load_rgb`)."""
    if is_path(item):
        return load_path(item, index, max_pixels)
    if isinstance(item, Image.Image):
        return load_pil(item, index, max_pixels)
    if isinstance(item, np.ndarray) or is_tensor(item):
        return load_array(item, index, max_pixels)
    if is_encoded(item):
        return load_encoded(item, index, max_pixels)
    if is_image_dict(item):
        return _load_image_dict(item, index, max_pixels)
    raise unsupported_item(item, index)


def load_pil(img, index, max_pixels):
    """The RGB image of a PIL image item, loaded if it was not (see :func:`skvgg.images.load_rgb`).

    Loaded and converted under the image's :func:`object_lock`: the same object may be
    in ``X`` twice, or in another thread's ``X``, and Pillow's lazy ``load()`` is not
    safe to run twice at once.
    """
    description, _ = describe_item(img)

    def fail(reason, cause=None):
        raise ImageInputError(reason, index=index, description=description) from cause

    # An unloaded image (from Image.open) is checked from its header, before load().
    check_budget(img.width, img.height, max_pixels, fail)
    with object_lock(img):
        try:
            # Whether it is loaded is not public: reserve what loading and converting it would take.
            reserve(_decoded_bytes(img))
            with loading_scope(img):
                img.load()
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
