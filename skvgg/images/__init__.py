"""Turning user input ``X`` into RGB images: the one place skvgg interprets its input.

What is accepted
----------------
``X`` may be

- a sequence (list, tuple, 1-D object array, Series, one-column DataFrame of
  pandas, polars, pyarrow..., a pyarrow ``Array``/``ChunkedArray``) of items; kinds
  may be mixed. Each item is one of

  - a file path (``str`` or :class:`os.PathLike`); URLs are refused with a message
    saying so ("URLs are not read: download first");
  - encoded image data: ``bytes``, ``bytearray``, ``memoryview``, or a seekable
    binary file object (``io.BytesIO``, ``open(path, "rb")``): decoded exactly as a
    file of those bytes; a binary column of a table holds such bytes;
  - a Hugging Face ``datasets`` image dict ``{"bytes": ..., "path": ...}`` (bytes
    when not None, else the path);
  - a PIL image, a numpy array or a torch tensor;
- a 4-D batch: a numpy array ``(N, H, W, C)`` or a torch tensor ``(N, C, H, W)``.

Every kind goes through the same decode path, pixel budget and error naming
(:class:`ImageInputError`: ``X[3] ('/data/cat.jpg'): file not found; ...``).
The command line's inputs (files, folders walked for what Pillow identifies, CSV
files of paths) become such a list through :func:`expand_inputs`.

Public face
-----------
:func:`check_images` validates the container cheaply (no file I/O, no decoding) and
returns a plain list of items; :func:`load_rgb` turns one item into a fully loaded
8-bit RGB :class:`PIL.Image.Image`; :func:`image_key` gives a content key for
caching descriptors; :func:`decoding`, :func:`current_max_pixels` and
:data:`DEFAULT_MAX_PIXELS` bound what one image, and all decoding threads together
(:data:`DECODE_MEMORY_BYTES`), may hold; :func:`describe_item` describes an item for
messages; :class:`ImageInputError` (a bad item) and :class:`ImageFailureWarning`
(rows left NaN by ``on_error="nan"``) are the error and warning types.

Internal API
------------
Other skvgg modules import from ``skvgg.images`` only, never from its underscore
modules. Besides the public face they may use :func:`is_image_file` (the walk's test),
:func:`path_problem` (why a path cannot be opened, in words, URLs named as such),
:data:`EXIF_TRANSPOSE`, :func:`exif_transpose_method` and :func:`orient_tensor` (EXIF
orientation: one table for CPU and GPU decoding), and ``decode_jpegs`` (torchvision's JPEG decoder,
nvJPEG on CUDA; imported on first use, as it needs torch). Regular-file opening,
atomic writes and content digests, which are not about images, are
:mod:`skvgg._filesystem`'s. The modules inside, one concept each:

- ``_inputs``: kinds of items and containers (:class:`ImageInputError` and :class:`ImageFailureWarning`
  are defined in :mod:`skvgg.exceptions`, with skvgg's other errors and warnings);
- ``_decode``: one item to RGB (pixel conventions, shared objects read under a lock);
- ``_deep16``: exact samples of 16-bit colour PNG and TIFF files;
- ``_files``: opening files (regular files only, via :mod:`skvgg._filesystem`), paths
  checked as the kernel resolves them, URLs named;
- ``_budget``: the pixel budget and the process-wide decoded-memory allowance;
- ``_keys``: content keys;
- ``_sources``: the command line's folders and CSV files;
- ``_tvio``: torchvision's decoders, called without touching warning filters.

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
  the budget decides;
- decoded pixels count against a process-wide allowance of about
  :data:`DECODE_MEMORY_BYTES` (see :func:`decoding`).
"""

from __future__ import annotations

from PIL import Image

from ..exceptions import ImageFailureWarning, ImageInputError
from ._budget import DECODE_MEMORY_BYTES, DEFAULT_MAX_PIXELS, current_max_pixels, decoding, resolve_max_pixels
from ._decode import EXIF_TRANSPOSE as EXIF_TRANSPOSE
from ._decode import exif_transpose_method as exif_transpose_method
from ._decode import load_item
from ._decode import orient_tensor as orient_tensor
from ._files import path_problem as path_problem
from ._inputs import check_images, describe_item
from ._keys import image_key
from ._sources import expand_inputs
from ._sources import is_image_file as is_image_file

#: The internal API: names other skvgg modules may import besides ``__all__`` (see above).
INTERNAL_API = ("EXIF_TRANSPOSE", "decode_jpegs", "exif_transpose_method", "is_image_file", "orient_tensor", "path_problem")

__all__ = [
    "DECODE_MEMORY_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageFailureWarning",
    "ImageInputError",
    "check_images",
    "current_max_pixels",
    "decoding",
    "describe_item",
    "expand_inputs",
    "image_key",
    "load_rgb",
]


def __getattr__(name):
    # torchvision's decoders need torch: imported when first asked for, not with the package.
    if name == "decode_jpegs":
        from ._tvio import decode_jpegs

        return decode_jpegs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_rgb(item: object, index: int | None = None, max_pixels: int | str | None = "auto") -> Image.Image:
    """Return one input item as a fully loaded 8-bit RGB PIL image.

    Parameters
    ----------
    item : str, os.PathLike, bytes, bytearray, memoryview, file object, dict, PIL.Image.Image, numpy.ndarray or torch.Tensor
        The image:

        - a path: opened with PIL, decoded completely, rotated by its EXIF
          orientation (as :func:`PIL.ImageOps.exif_transpose` does), and
          converted to RGB; a URL (``https://``, ``s3://``, ``file://``...) is
          refused with "URLs are not read";
        - encoded image data: ``bytes``, ``bytearray``, ``memoryview`` or a
          seekable binary file object (read whole from its start, as
          :func:`PIL.Image.open` does, position restored): decoded exactly as a
          file holding those bytes;
        - a Hugging Face ``datasets`` image dict ``{"bytes": ..., "path": ...}``:
          its bytes when not None, else its path;
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
        If the file is missing, a URL, not a regular file (a directory, a named
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
    :mod:`skvgg.images._deep16` cannot read (tiled, or compressed other than by
    Deflate, LZW or PackBits) keep Pillow's 8-bit reading, ``floor(v / 256)``,
    at most one level lower. ICC profiles are ignored. PIL's global
    ``ImageFile.LOAD_TRUNCATED_IMAGES``
    is left as it is (by default, truncated files fail).
    """
    max_pixels = resolve_max_pixels(max_pixels)
    with decoding(max_pixels):
        return load_item(item, index, max_pixels)
