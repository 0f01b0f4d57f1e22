"""A region of Pillow's bilinear resize, computed without resizing the whole image.

``bilinear_region(image, size, top, left, height, width)`` equals, bit for bit,
``np.asarray(image.resize(size, Image.BILINEAR))[top:top + height, left:left + width]``
while only the source pixels that region needs are read, and nothing larger than
the region (plus the filter's margin) is allocated. :mod:`skvgg._pipeline.views` uses it when
resizing the whole image would be large: a 60000x1 px image rescaled to shorter side
256 is 15 million pixels wide, while its centre crop needs a few source pixels.

Why not ``Image.resize(size, box=...)``, which is 5-6x faster: it does not give the same
pixels. Pillow takes the box as C ``float``s and computes the sampling positions from the
box's corner, so a box cut out of a larger output lands a few ULPs away from the full
resize; and it chooses the order of its two passes from the box's size, not the whole
image's. Measured on 2026-12-03 (Pillow 13.0.0, ``benchmarks/resample_region.py``,
``benchmarks/results/resample_region-2026-12-03.json``): on 400 crops (224 px at shorter
sides 256, 384, 512; 32 px at 40; sample photos and random images of 23 sizes) one
``resize(box=...)`` call differs in 290 crops, in 5.6 % of the values, by up to 2 levels;
cutting the source to the pixels the crop needs first (small box coordinates): 0.85 %;
then resizing one axis per call in Pillow's whole-image order: still 0.19 % of the values,
by up to 2 levels, in 258 crops. :func:`skvgg._pipeline.views.rescaled_crop` promises the whole
resize's pixels, so this module stays; it runs only where the whole rescaled image would
be large (an extreme aspect ratio): 39 ms per 224 px crop in that run, on a loaded 2-core AMD EPYC.

How: the coefficients are computed exactly as Pillow's ``precompute_coeffs`` computes
them for the *whole* output (same double arithmetic, same order of operations, same
22-bit fixed point and rounding), and only the rows for the requested outputs are kept.
Pillow resamples in two passes with an 8-bit intermediate, so the order of the passes
matters too; it is Pillow's (``ImagingResampleInner``): horizontal first, except from
Pillow 13 when the height shrinks by more than twice as many pixels as the width.

The exactness is tested against the installed Pillow on many sizes
(``tests/test_hostile_inputs.py``); a Pillow that changes its resampler fails there.
"""

from __future__ import annotations

import math

import numpy as np
import PIL
from PIL import Image

__all__ = ["bilinear_region", "vertical_first"]

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images
_BILINEAR_SUPPORT = 1.0
_PILLOW_MAJOR = int(PIL.__version__.split(".")[0])


def _coefficients(in_size: int, out_size: int, first: int, count: int):
    """Pillow's bilinear coefficients for outputs ``first .. first + count - 1`` of a resize.

    Returns ``(xmin, fixed)``: the first source pixel of each output and its
    ``(count, ksize)`` fixed-point weights (zeros past the window).
    """
    # Pillow's box is float: in0 = 0.0f, in1 = (float)in_size; the scale is a double.
    scale = float(np.float32(in_size)) / out_size
    filterscale = max(scale, 1.0)
    support = _BILINEAR_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    inv_filterscale = 1.0 / filterscale
    center = (np.arange(first, first + count, dtype=np.float64) + 0.5) * scale
    # C's (int) conversion truncates toward zero.
    xmin = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize)
    distance = np.abs((((taps[None, :] + xmin[:, None]).astype(np.float64) - center[:, None]) + 0.5) * inv_filterscale)
    weights = np.where(distance < 1.0, 1.0 - distance, 0.0)
    weights[taps[None, :] >= xmax[:, None]] = 0.0
    # Pillow sums the weights one after the other (np.sum would sum pairwise).
    total = np.add.accumulate(weights, axis=1)[:, -1]
    weights = np.divide(weights, total[:, None], out=weights, where=total[:, None] != 0.0)
    scaled = weights * float(1 << _PRECISION_BITS)
    fixed = np.where(weights < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5)).astype(np.int64)
    return xmin, fixed


def _resample_axis(pixels: np.ndarray, axis: int, xmin: np.ndarray, fixed: np.ndarray, origin: int) -> np.ndarray:
    """One pass of Pillow's 8-bit resampling along ``axis`` (0: rows, 1: columns).

    ``pixels`` starts at source position ``origin`` along ``axis``.
    """
    length = pixels.shape[axis]
    starts = xmin - origin
    shape = [1] * pixels.ndim
    shape[axis] = len(starts)
    acc = np.full(1, 1 << (_PRECISION_BITS - 1), dtype=np.int64)
    for tap in range(fixed.shape[1]):
        weight = fixed[:, tap]
        if not weight.any():
            continue
        # Taps past a window have weight 0; clamping keeps their index valid.
        taken = np.take(pixels, np.minimum(starts + tap, length - 1), axis=axis)
        acc = acc + taken.astype(np.int64) * weight.reshape(shape)
    return np.clip(acc >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def vertical_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    """Whether Pillow's resize of ``in_w x in_h`` to ``out_w x out_h`` resamples rows (the height) first."""
    if _PILLOW_MAJOR < 13:
        return False
    return (in_h - out_h) > 0 and (in_h - out_h) > (in_w - out_w) * 2


def bilinear_region(image: Image.Image, size, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``np.asarray(image.resize(size, Image.BILINEAR))[top:top+height, left:left+width]``, exactly.

    Parameters
    ----------
    image : PIL.Image.Image
        A loaded 8-bit image ('RGB' or 'L').
    size : (int, int)
        ``(width, height)`` of the whole resized image (never allocated).
    top, left, height, width : int
        The region of the resized image, inside it.

    Returns
    -------
    region : ndarray of uint8, shape (height, width[, bands])
    """
    in_w, in_h = image.size
    out_w, out_h = size
    if not (0 <= top and top + height <= out_h and 0 <= left and left + width <= out_w and height > 0 and width > 0):
        raise ValueError(f"region {height}x{width} at ({top}, {left}) is not inside the {out_w}x{out_h} resized image")
    resize_x, resize_y = out_w != in_w, out_h != in_h
    if resize_x:
        xmin, kx = _coefficients(in_w, out_w, left, width)
        x0, x1 = int(xmin.min()), min(int(xmin.max()) + kx.shape[1], in_w)
    else:
        x0, x1 = left, left + width
    if resize_y:
        ymin, ky = _coefficients(in_h, out_h, top, height)
        y0, y1 = int(ymin.min()), min(int(ymin.max()) + ky.shape[1], in_h)
    else:
        y0, y1 = top, top + height
    # Only the source pixels the region's windows reach are copied out of the image.
    # A writable copy of the source region (np.asarray of an image is read-only, which torch warns about).
    pixels = np.array(image.crop((x0, y0, x1, y1)))
    rows_first = vertical_first(in_w, in_h, out_w, out_h)
    if resize_y and rows_first:
        pixels = _resample_axis(pixels, 0, ymin, ky, y0)
    if resize_x:
        pixels = _resample_axis(pixels, 1, xmin, kx, x0)
    if resize_y and not rows_first:
        pixels = _resample_axis(pixels, 0, ymin, ky, y0)
    return pixels
