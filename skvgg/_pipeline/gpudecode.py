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

Views are cut by the same plan as on the CPU path (:mod:`skvgg._pipeline.plan`), with
:func:`skvgg._pipeline.views.tensor_views`: the images of a decoded chunk that share a size are
resized in one call. Decoding goes through one seam, :mod:`skvgg.images._tvio`
(``decode_jpegs``): switching library (e.g. to nvImageCodec, or TorchCodec once it
decodes images) is a change in that one file.

Decoder options and the libjpeg gap (checked for torchvision 0.29, not measurable
without a GPU): ``torchvision.io.decode_jpeg`` takes only ``mode``, ``device`` and
``apply_exif_orientation``; nothing reaches nvJPEG's decode parameters, so its chroma
upsampling and IDCT cannot be switched to libjpeg-turbo's "fancy" (triangular)
upsampling through torchvision. What remains are the cases where the two decoders agree
more closely by construction: 4:4:4 JPEGs (no chroma upsampling at all), where only the
IDCT differs. ``benchmarks/gpu.py`` reports the cosine to the CPU path per run, so a
library switch behind the seam can be judged by that number.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from PIL import Image

from .._filesystem import open_regular_file
from ..images import DEFAULT_MAX_PIXELS, ImageInputError, decode_jpegs, decoding, orient_tensor
from .batches import ViewGroup, default_num_workers, gather_batches
from .parallel import parallel_map
from .views import tensor_views

__all__ = [
    "JpegHeader",
    "read_jpeg_header",
    "gpu_decodable",
    "JpegSource",
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
        # Only regular files (a pipe or a device could block): the package's one opener, which checks twice.
        with open_regular_file(item) as file:
            data = bytearray(os.fstat(file.fileno()).st_size)
            if file.readinto(data) != len(data):
                return None
    except (OSError, ValueError):
        return None  # the CPU path reports missing, unreadable and special files
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


class JpegSource:
    """Pixels of JPEG files decoded on ``device`` in batches; a source for :func:`skvgg._pipeline.batches.describe`.

    CPU threads read the files and parse their headers, and run the whole CPU path
    (``fallback``, an :class:`~skvgg._pipeline.batches.ImageSource` of the same items) for what
    nvJPEG should not decode; the calling thread decodes up to ``chunk_size`` files (and
    :data:`CHUNK_PIXELS` pixels) per nvJPEG call, applies each file's EXIF orientation,
    and cuts the decoded images with the plan's layouts on the device, one resize for all
    the images of a chunk that share a size (:func:`skvgg._pipeline.views.tensor_views`). An image
    whose views it cannot cut (a dense view over the pixel budget) goes to the CPU path,
    which refuses it naming why. Every view ends on ``device``.

    ``counts``, when given, gets the numbers of images decoded on the device (``"gpu"``)
    and by PIL (``"cpu"``).
    """

    def __init__(self, items, indices, device, *, fallback, chunk_size: int | None = None, counts: dict | None = None):
        self.items = items
        self.indices = list(indices)
        self.device = torch.device(device)
        self.fallback = fallback
        self.chunk_size = chunk_size
        self.counts = counts if counts is not None else {}
        self.counts.setdefault("gpu", 0)
        self.counts.setdefault("cpu", 0)

    def batches(self, plan, batch_size: int, pixels_out=None) -> Iterator:
        return gather_batches(self._groups(plan, batch_size), batch_size, pixels_out)

    def _to_device(self, groups):
        if isinstance(groups, BaseException):
            return groups
        views = [g.views if isinstance(g.views, torch.Tensor) else torch.stack(g.views) for g in groups]
        return [ViewGroup(v.to(self.device, non_blocking=True), g.dense) for v, g in zip(views, groups)]

    def _on_cpu(self, plan, index):
        self.counts["cpu"] += 1
        return self._to_device(self.fallback.groups(plan, index))

    def _cut_same_size(self, plan, images: list) -> list:
        """The view groups of decoded images of one size (a list of ``(3, H, W)``), or None to send them to the CPU path."""
        height, width = images[0].shape[-2:]
        stacked = torch.stack(images) if len(images) > 1 else images[0].unsqueeze(0)
        try:
            with decoding(self.fallback.max_pixels):  # the budget of whole-image (dense) views
                per_group = [(tensor_views(stacked, layout), layout) for layout in plan.layouts(height, width)]
        except (ImageInputError, ValueError):
            return None
        return [
            [ViewGroup(views[k * layout.n_views : (k + 1) * layout.n_views], layout.dense) for views, layout in per_group]
            for k in range(len(images))
        ]

    def _groups(self, plan, batch_size) -> Iterator:
        """``(index, list of ViewGroup or exception)`` per index, in order."""
        workers = default_num_workers() if self.fallback.num_workers is None else self.fallback.num_workers
        lookahead = 2 * batch_size
        max_pixels = self.fallback.max_pixels

        def prepare(position, index):  # in worker threads
            encoded = _read_encoded(self.items[index], max_pixels)
            return encoded if encoded is not None else self.fallback.groups(plan, index)

        def finish(chunk):
            encoded = [prepared for _, prepared in chunk if isinstance(prepared, _Encoded)]
            decoded = iter(_decode_jpegs(encoded, self.device) if encoded else [])
            results: dict = {}
            by_size: dict = {}  # (H, W) -> [(index, oriented image)]
            for index, prepared in chunk:
                if not isinstance(prepared, _Encoded):
                    self.counts["cpu"] += 1
                    results[index] = self._to_device(prepared)
                    continue
                image = next(decoded)
                if image is None:  # refused by the decoder: PIL decodes it, or reports why not
                    results[index] = self._on_cpu(plan, index)
                    continue
                image = orient_tensor(image, prepared.orientation)
                by_size.setdefault(tuple(image.shape[-2:]), []).append((index, image))
            for same_size in by_size.values():
                groups = self._cut_same_size(plan, [image for _, image in same_size])
                for k, (index, _) in enumerate(same_size):
                    if groups is None:
                        results[index] = self._on_cpu(plan, index)
                    else:
                        self.counts["gpu"] += 1
                        results[index] = groups[k]
            for index, _ in chunk:
                yield index, results[index]

        size = self.chunk_size or max(1, lookahead // 2)
        chunk, pixels = [], 0
        prepared_items = parallel_map(prepare, self.indices, workers, lookahead)
        for index, prepared in zip(self.indices, prepared_items):
            chunk.append((index, prepared))
            pixels += prepared.pixels if isinstance(prepared, _Encoded) else 0
            if len(chunk) >= size or pixels >= CHUNK_PIXELS:
                yield from finish(chunk)
                chunk, pixels = [], 0
        yield from finish(chunk)


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
