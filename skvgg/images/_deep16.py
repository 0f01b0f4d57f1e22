"""Exact samples of 16-bit color files, which Pillow reduces to 8 bits.

Pillow has no 16-bit-per-channel color mode: 16-bit RGB(A) and gray+alpha PNGs, and
16-bit RGB(A) TIFFs, open as 8-bit images that keep the high byte of each sample,
``floor(v / 256)``, up to one level away from ``round(v / 257)``, the scaling used for
every other 16-bit input. Two routes through public API give the 16-bit samples:

- PNG: :func:`torchvision.io.decode_image` returns 16-bit PNGs as ``uint16``
  (libpng, every filter and interlacing);
- TIFF: the file's own strips, located by the tags Pillow parsed (``tag_v2``),
  uncompressed, Deflate (zlib), PackBits or LZW (those two through Pillow's
  public ``Image.frombytes`` with a decoder name), with or without the horizontal
  predictor, chunky or planar.

Anything else (tiled TIFFs, other compressions, signed or float samples) returns
None, and the caller keeps Pillow's 8-bit reading: at most one level off.
16-bit gray PNGs and TIFFs need neither route: Pillow reads them as ``I;16``.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image

__all__ = ["deep_png_samples", "deep_tiff_samples", "is_deep_png", "is_deep_png_or_tiff"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {2: "RGB", 4: "gray+alpha", 6: "RGBA"}  # 16-bit ones Pillow reduces to 8 bits

# TIFF tags (TIFF 6.0 specification)
_BITS, _COMPRESSION, _PHOTOMETRIC, _FILL_ORDER, _STRIP_OFFSETS = 258, 259, 262, 266, 273
_SAMPLES, _ROWS_PER_STRIP, _STRIP_BYTES, _PLANAR, _PREDICTOR, _TILE_OFFSETS, _SAMPLE_FORMAT = (
    277,
    278,
    279,
    284,
    317,
    324,
    339,
)
_DEFLATE = (8, 32946)
_PIL_DECODERS = {5: "tiff_lzw", 32773: "packbits"}


def is_deep_png(fp, img):
    """Whether ``img`` (opened from ``fp``) is a 16-bit PNG that Pillow reduces to 8 bits."""
    if img.format != "PNG" or img.mode not in ("RGB", "RGBA"):
        return False
    fp.seek(0)
    head = fp.read(26)  # signature, IHDR length and type, width, height, bit depth, color type
    return len(head) == 26 and head.startswith(_PNG_SIGNATURE) and head[24] == 16 and head[25] in _PNG_COLOR_TYPES


def is_deep_png_or_tiff(fp, img):
    """Whether ``img`` is a 16-bit color PNG or TIFF (the TIFF may still be of a layout not read here)."""
    return is_deep_png(fp, img) or is_deep_tiff(img)


def is_deep_tiff(img):
    """Whether ``img`` is a 16-bit RGB(A) TIFF, which Pillow reduces to 8 bits."""
    if img.format != "TIFF" or img.mode not in ("RGB", "RGBA") or getattr(img, "tag_v2", None) is None:
        return False
    bits = _tag(img, _BITS, (1,))
    return set(bits if isinstance(bits, tuple) else (bits,)) == {16}


def deep_png_samples(fp):
    """The uint16 samples ``(H, W, C)`` of a 16-bit PNG file, C in (2, 3, 4)."""
    import torch

    from ._tvio import decode_unchanged

    fp.seek(0)
    data = torch.frombuffer(bytearray(fp.read()), dtype=torch.uint8)
    samples = decode_unchanged(data)
    if samples.dtype != torch.uint16:
        raise ValueError(f"torchvision decoded a 16-bit PNG as {samples.dtype}")
    # numpy has no view of torch.uint16: reinterpret the same bytes.
    return samples.permute(1, 2, 0).contiguous().view(torch.int16).numpy().view(np.uint16)


def _tag(img, tag, default=None):
    value = img.tag_v2.get(tag, default)
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _strip_bytes(data, compression, nbytes):
    """The decompressed bytes of one strip, or None for an unsupported compression."""
    if compression == 1:
        return data
    if compression in _DEFLATE:
        return zlib.decompress(data)
    decoder = _PIL_DECODERS.get(compression)
    if decoder is None:
        return None
    # Pillow's decoders, through its public frombytes: the bytes come back as 8-bit pixels.
    return Image.frombytes("L", (nbytes, 1), data, decoder, "L").tobytes()


def deep_tiff_samples(fp, img):
    """The uint16 samples ``(H, W, C)`` of a 16-bit RGB(A) TIFF's first image, or None.

    None when the file is not one (Pillow's reading is then exact or the only one),
    or uses a layout this reader does not handle (see the module docstring).
    """
    if not is_deep_tiff(img):
        return None
    channels = _tag(img, _SAMPLES, 1)
    formats = _tag(img, _SAMPLE_FORMAT, (1,))
    formats = formats if isinstance(formats, tuple) else (formats,)
    if (
        channels not in (3, 4)
        or set(formats) != {1}
        or _tag(img, _PHOTOMETRIC) != 2
        or _tag(img, _FILL_ORDER, 1) != 1
        or _tag(img, _TILE_OFFSETS) is not None
        or _tag(img, _PREDICTOR, 1) not in (1, 2)
    ):
        return None
    offsets, counts = _tag(img, _STRIP_OFFSETS), _tag(img, _STRIP_BYTES)
    if offsets is None or counts is None:
        return None
    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
    counts = counts if isinstance(counts, tuple) else (counts,)
    width, height = img.size
    planar = _tag(img, _PLANAR, 1) == 2
    rows_per_strip = min(int(_tag(img, _ROWS_PER_STRIP, height) or height), height)
    per_plane = -(-height // rows_per_strip)
    planes = channels if planar else 1
    if len(offsets) != per_plane * planes or len(counts) != len(offsets):
        return None
    fp.seek(0)
    dtype = np.dtype("<u2" if fp.read(2) == b"II" else ">u2")
    samples_per_row = width * (1 if planar else channels)
    compression = _tag(img, _COMPRESSION, 1)
    out = np.empty((planes, height, samples_per_row), np.uint16)
    for strip, (offset, count) in enumerate(zip(offsets, counts)):
        plane, first = divmod(strip, per_plane)
        top = first * rows_per_strip
        rows = min(rows_per_strip, height - top)
        fp.seek(offset)
        data = _strip_bytes(fp.read(count), compression, rows * samples_per_row * 2)
        if data is None:
            return None
        if len(data) < rows * samples_per_row * 2:
            raise ValueError(f"TIFF strip {strip} holds {len(data)} bytes, expected {rows * samples_per_row * 2}")
        out[plane, top : top + rows] = np.frombuffer(data, dtype, rows * samples_per_row).reshape(rows, samples_per_row)
    if _tag(img, _PREDICTOR, 1) == 2:
        # Horizontal differencing: each sample stored as the difference from its left
        # neighbour of the same channel, modulo 2**16.
        step = 1 if planar else channels
        view = out.reshape(planes, height, width, step)
        np.cumsum(view, axis=2, dtype=np.uint16, out=view)
    if planar:
        return np.moveaxis(out, 0, -1)
    return out.reshape(height, width, channels)
