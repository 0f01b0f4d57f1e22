"""JPEG files decoded, resized and cropped on the GPU: ``VGGFeaturizer(decode="gpu")``.

PIL on CPU threads decodes a few hundred JPEGs per second per core, far below what a
large GPU computes VGG16 at. This path reads file bytes on CPU threads, decodes them in
batches with nvJPEG (:func:`torchvision.io.decode_jpeg` with ``device="cuda"``), applies
the EXIF orientation, and resizes (antialiased bilinear) and crops on the GPU.

The CPU path stays the reference. Everything this path cannot reproduce exactly goes
there, image by image: items that are not files, files that are not 8-bit baseline,
extended or progressive JPEGs with three YCbCr components (PNG, grayscale, CMYK/YCCK,
RGB-coded, 12-bit, arithmetic-coded or lossless JPEG), files without an end-of-image
marker (truncated: PIL reports them), orientation metadata this module does not read
as PIL does (several EXIF blocks, XMP orientation), images or dense views over the pixel
budget ``max_pixels`` (refused there, with the reason), and any batch nvJPEG refuses
(retried image by image). Results differ from
the CPU path only by the JPEG decoder's arithmetic (nvJPEG's IDCT and chroma upsampling
against libjpeg-turbo's) and the resize's (float on the GPU against PIL's fixed point);
:doc:`/user-guide/featurizer` gives the measured differences.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F2

from .images import DEFAULT_MAX_PIXELS, current_max_pixels, decode_jpegs, decoding
from .pipeline import ViewGroup
from .views import crop_with_mirror

__all__ = [
    "JpegHeader",
    "read_jpeg_header",
    "gpu_decodable",
    "orient",
    "resized_shape",
    "rescale",
    "evaluation_groups",
    "gpu_decoder",
    "check_gpu_decoding",
]

#: Most decoded pixels held on the device at once (one nvJPEG call): ~0.8 GB of uint8 RGB.
CHUNK_PIXELS = 256 * 2**20

#: Tests set this to run the whole path with torchvision's CPU JPEG decoder instead of
#: nvJPEG (``VGGFeaturizer(decode="gpu", device="cpu")`` is otherwise refused).
EMULATE_ON_CPU = False

_SOF_DECODABLE = {0xC0, 0xC1, 0xC2}  # baseline, extended sequential, progressive (Huffman)
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG's markers say before the scan data (no pixel is decoded).

    ``orientation`` is the EXIF orientation (1 when there is no EXIF block or tag), or
    None when the EXIF block could not be read unambiguously.
    """

    sof: int
    precision: int
    height: int
    width: int
    component_ids: tuple
    adobe_transform: int | None
    orientation: int | None
    exif_blocks: int
    xmp: bool
    complete: bool  # an end-of-image marker follows the first scan


def _exif_orientation(block: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an ``Exif\\0\\0`` APP1 block; 1 if absent; None if unreadable."""
    tiff = block[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        magic, ifd = struct.unpack_from(order + "HI", tiff, 2)
        if magic != 42:
            return None
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for entry in range(count):
            tag, kind, n = struct.unpack_from(order + "HHI", tiff, ifd + 2 + 12 * entry)
            if tag == 0x0112:
                if kind != 3 or n != 1:  # not one SHORT: let PIL interpret it
                    return None
                return struct.unpack_from(order + "H", tiff, ifd + 2 + 12 * entry + 8)[0]
    except struct.error:
        return None
    return 1


def read_jpeg_header(data) -> JpegHeader | None:
    """Parse the markers of a JPEG file's bytes up to its first scan; None if it is not a readable JPEG."""
    if not isinstance(data, bytes | bytearray):
        data = bytes(data)
    if data[:2] != b"\xff\xd8":
        return None
    position, size = 2, len(data)
    sof = precision = height = width = None
    component_ids: tuple = ()
    adobe = orientation = None
    exif_blocks, xmp = 0, False
    while position < size:
        if data[position] != 0xFF:
            return None
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            return None
        marker = data[position]
        position += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # stand-alone markers
            continue
        if marker == 0xD9:  # end of image before any scan
            return None
        if position + 2 > size:
            return None
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2 or position + length > size:
            return None
        segment = data[position + 2 : position + length]
        if marker == 0xDA:  # start of scan: the header is over
            if sof is None:
                return None
            # The last end-of-image marker must lie after the scan starts, or the file is
            # truncated (an EXIF thumbnail has its own, earlier one).
            complete = data.rfind(b"\xff\xd9") > position
            return JpegHeader(
                sof, precision, height, width, component_ids, adobe, orientation if exif_blocks else 1, exif_blocks, xmp,
                complete,
            )  # fmt: skip
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if sof is not None or len(segment) < 6:
                return None
            sof = marker
            precision, height, width, components = struct.unpack_from(">BHHB", segment)
            if len(segment) < 6 + 3 * components:
                return None
            component_ids = tuple(segment[6 + 3 * i] for i in range(components))
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            exif_blocks += 1
            orientation = _exif_orientation(segment)
        elif marker == 0xE1 and segment.startswith(_XMP_PREFIX):
            xmp = True
        elif marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12:
            adobe = segment[11]
        position += length
    return None


def gpu_decodable(header: JpegHeader | None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bool:
    """Whether nvJPEG's RGB output for this file is what PIL's ``convert("RGB")`` gives, up to the decoders' arithmetic.

    Images over the pixel budget ``max_pixels`` are left to the CPU path, which refuses them.
    """
    if header is None or not header.complete:
        return False
    if header.sof not in _SOF_DECODABLE or header.precision != 8 or len(header.component_ids) != 3:
        return False
    if header.component_ids == (ord("R"), ord("G"), ord("B")) or header.adobe_transform == 0:
        return False  # RGB-coded, not YCbCr
    if header.height == 0 or header.width == 0:  # height given later, by a DNL marker
        return False
    if header.exif_blocks > 1 or header.orientation is None:
        return False
    if header.xmp and header.exif_blocks == 0:
        return False  # PIL reads the orientation from XMP when EXIF has none
    return max_pixels is None or header.height * header.width <= max_pixels


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Apply an EXIF orientation to a ``(C, H, W)`` tensor as :func:`PIL.ImageOps.exif_transpose` does."""
    if orientation == 2:  # mirrored
        return image.flip(-1)
    if orientation == 3:  # rotated 180
        return image.flip(-2, -1)
    if orientation == 4:  # mirrored vertically
        return image.flip(-2)
    if orientation == 5:  # PIL's TRANSPOSE: swap rows and columns
        return image.transpose(-2, -1)
    if orientation == 6:  # PIL's ROTATE_270: a quarter turn clockwise
        return torch.rot90(image, -1, dims=(-2, -1))
    if orientation == 7:  # PIL's TRANSVERSE
        return torch.rot90(image, 2, dims=(-2, -1)).transpose(-2, -1)
    if orientation == 8:  # PIL's ROTATE_90: a quarter turn counter-clockwise
        return torch.rot90(image, 1, dims=(-2, -1))
    return image


def resized_shape(height: int, width: int, shorter_side: int) -> tuple[int, int]:
    """The output size of torchvision's ``resize(image, shorter_side)`` (the long side truncated)."""
    if width <= height:
        return int(shorter_side * height / width), shorter_side
    return shorter_side, int(shorter_side * width / height)


def rescale(image: torch.Tensor, shorter_side: int) -> torch.Tensor:
    """Uint8 ``(..., 3, H, W)`` with the shorter side rescaled to ``shorter_side``, antialiased bilinear.

    The tensor counterpart of :func:`skvgg.views.rescale` (same output size; an axis
    whose size does not change is not resampled). As PIL does, the width is resampled
    first and rounded to integers, then the height: with the float arithmetic of
    torchvision's tensor resize in each pass this differs from PIL's fixed point in 0.4%
    of the values (by at most 2 levels), against ~12% for one unrounded 2-D pass
    (measured, :doc:`/user-guide/featurizer`). On a CPU tensor the same arithmetic runs, so the
    agreement with PIL is measured without a GPU.
    """
    height, width = image.shape[-2:]
    new_height, new_width = resized_shape(height, width, shorter_side)
    x = image.float()
    for size in ([height, new_width], [new_height, new_width]):
        if list(x.shape[-2:]) != size:
            x = F2.resize(x, size, interpolation=InterpolationMode.BILINEAR, antialias=True).round_().clamp_(0, 255)
    return x.to(torch.uint8)


class NeedsCpuPath(Exception):
    """This image's views are for the CPU path to make (or refuse, naming why)."""


def evaluation_groups(image: torch.Tensor, preprocessing, scales, mirror: bool) -> list[ViewGroup]:
    """:func:`skvgg.pipeline.evaluation_groups` for a decoded uint8 ``(3, H, W)`` tensor.

    Raises :class:`NeedsCpuPath` for a dense view over the pixel budget
    (:func:`skvgg.images.current_max_pixels`): the CPU path refuses it with its reason.
    """
    if scales is None:
        return [ViewGroup(crop_with_mirror(rescale(image, preprocessing.resize_size), preprocessing.crop_size, mirror))]
    budget = current_max_pixels()
    groups = []
    for q in scales:
        height, width = resized_shape(*image.shape[-2:], q)
        if budget is not None and height * width > budget:
            raise NeedsCpuPath(f"dense view of {width}x{height} pixels exceeds max_pixels={budget}")
        full = rescale(image, q)
        groups.append(ViewGroup([full, full.flip(-1)] if mirror else [full], dense=True))
    return groups


@dataclass
class _Encoded:
    data: torch.Tensor  # the file's bytes, uint8 (n,)
    orientation: int
    pixels: int


def _read_encoded(item, max_pixels) -> _Encoded | None:
    """The file's bytes if it is a JPEG this path decodes exactly; None sends it to the CPU path."""
    if not isinstance(item, str | os.PathLike):
        return None
    try:
        # Only regular files: opening a pipe or a device can block (the CPU path names them).
        if not stat.S_ISREG(os.stat(item).st_mode):
            return None
        with open(item, "rb") as file:
            size = os.fstat(file.fileno())
            if not stat.S_ISREG(size.st_mode):
                return None
            data = bytearray(size.st_size)
            if file.readinto(data) != len(data):
                return None
    except (OSError, ValueError):
        return None  # the CPU path reports missing or unreadable files
    header = read_jpeg_header(data)
    if not gpu_decodable(header, max_pixels):
        return None
    return _Encoded(torch.frombuffer(data, dtype=torch.uint8), header.orientation, header.height * header.width)


def _decode_jpegs(encoded: list, device: torch.device) -> list:
    """Decoded ``(3, H, W)`` uint8 tensors on ``device``, or None for each image the decoder refused."""
    try:
        return decode_jpegs([e.data for e in encoded], device)
    except RuntimeError:
        if len(encoded) == 1:
            return [None]
    # One bad file fails the whole batch: find it, image by image.
    return [_decode_jpegs([e], device)[0] for e in encoded]


def gpu_decoder(device, chunk_size: int | None = None, counts: dict | None = None) -> Callable:
    """A ``decoder`` for :func:`skvgg.pipeline.batched_groups` that decodes JPEG files on ``device``.

    CPU threads read the files and parse their headers (and run the whole CPU path,
    ``on_cpu``, for what nvJPEG should not decode); the calling thread decodes up to
    ``chunk_size`` files (and ``CHUNK_PIXELS`` pixels) per nvJPEG call and cuts each
    decoded image into view groups with ``make_groups``, which receives a uint8 tensor
    on the device. Every view is moved to ``device``. ``counts``, when given, gets the
    numbers of images decoded on the device (``"gpu"``) and by PIL (``"cpu"``).
    """
    device = torch.device(device)
    tally = counts if counts is not None else {}
    tally.setdefault("gpu", 0)
    tally.setdefault("cpu", 0)

    def decoder(items, indices, *, on_cpu, make_groups, num_workers, lookahead, on_error, max_pixels) -> Iterator:
        from ._parallel import parallel_map

        def prepare(position, index):  # in worker threads
            encoded = _read_encoded(items[index], max_pixels)
            return encoded if encoded is not None else on_cpu(position, index)

        def to_device(groups):
            if isinstance(groups, BaseException):
                return groups
            return [ViewGroup([view.to(device, non_blocking=True) for view in g.views], g.dense) for g in groups]

        def cut(image, position, index):
            try:
                with decoding(max_pixels):  # the budget of whole-image (dense) views
                    return make_groups(image, index)
            except NeedsCpuPath:
                tally["gpu"], tally["cpu"] = tally["gpu"] - 1, tally["cpu"] + 1
                return to_device(on_cpu(position, index))
            except Exception as error:
                if on_error == "raise":
                    raise
                return error

        def finish(chunk):
            encoded = [prepared for _, _, prepared in chunk if isinstance(prepared, _Encoded)]
            decoded = iter(_decode_jpegs(encoded, device) if encoded else [])
            for position, index, prepared in chunk:
                if not isinstance(prepared, _Encoded):
                    tally["cpu"] += 1
                    yield to_device(prepared)
                    continue
                image = next(decoded)
                if image is None:  # refused by the decoder: PIL decodes it, or reports why not
                    tally["cpu"] += 1
                    yield to_device(on_cpu(position, index))
                    continue
                tally["gpu"] += 1
                yield cut(orient(image, prepared.orientation), position, index)

        size = chunk_size or max(1, lookahead // 2)
        chunk, pixels = [], 0
        prepared_items = parallel_map(prepare, indices, num_workers, lookahead)
        for position, (index, prepared) in enumerate(zip(indices, prepared_items)):
            chunk.append((position, index, prepared))
            pixels += prepared.pixels if isinstance(prepared, _Encoded) else 0
            if len(chunk) >= size or pixels >= CHUNK_PIXELS:
                yield from finish(chunk)
                chunk, pixels = [], 0
        yield from finish(chunk)

    return decoder


def check_gpu_decoding(device) -> None:
    """Raise a ``ValueError`` saying why JPEG files cannot be decoded on ``device`` (a tiny test decode)."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(buffer, format="JPEG")
    data = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    try:
        decoded = decode_jpegs([data], device)[0]
    except RuntimeError as error:
        raise ValueError(
            f"decode='gpu' needs torchvision's nvJPEG decoder on {device}, which failed: {error}; use decode='cpu'"
        ) from error
    if tuple(decoded.shape) != (3, 48, 64):
        raise ValueError(f"decode='gpu': the test decode on {device} gave shape {tuple(decoded.shape)}, expected (3, 48, 64)")
