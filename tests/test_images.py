"""Tests for skvgg.images: input containers, decoding to RGB, cache keys, parallel_map."""

import os
import pickle
import re
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

import skvgg
from skvgg._pipeline.parallel import parallel_map
from skvgg.images import (
    ImageInputError,
    check_images,
    describe_item,
    image_key,
    load_rgb,
)

# -- helpers ---------------------------------------------------------------------


def as_array(img):
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    return np.asarray(img)


def noise(shape, seed=0, high=256, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def file_mode(path):
    with Image.open(path) as img:
        return img.mode


def file_convert(path, mode):
    """Pillow's own conversion of a file, for reference."""
    with Image.open(path) as img:
        return img.convert(mode)


def round257(values):
    """Reference: round(v / 257) computed in float64."""
    return np.rint(np.asarray(values, dtype=np.float64) / 257).astype(np.uint8)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(samples, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour PNGs).

    Rows cycle through the five filter types so that unfiltering is exercised.
    """
    samples = np.asarray(samples, dtype=np.uint16)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    rows = samples.astype(">u2").view(np.uint8).reshape(height, -1).astype(np.int32)
    bpp = 2 * channels
    prior = np.zeros(rows.shape[1], np.int32)
    out = []
    for y, row in enumerate(rows):
        kind = y % 5
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        if kind == 0:
            pred = 0
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prior
        elif kind == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes())
        prior = row
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(out)))
        + _png_chunk(b"IEND", b"")
    )


def tiff16_rgb(samples):
    """An uncompressed little-endian 16-bit RGB TIFF written by hand."""
    samples = np.asarray(samples, dtype=np.uint16)
    height, width, _ = samples.shape
    data = samples.astype("<u2").tobytes()
    bits_offset, data_offset = 8, 14
    ifd_offset = data_offset + len(data)
    tags = [  # (tag, type, count, value); type 3 = SHORT, 4 = LONG
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 3, bits_offset),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, data_offset),
        (277, 3, 1, 3),
        (278, 3, 1, height),
        (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ]
    entries = b"".join(
        struct.pack("<HHII", tag, kind, count, value)
        if kind == 4 or count > 1
        else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in tags
    )
    return (
        b"II*\x00"
        + struct.pack("<I", ifd_offset)
        + struct.pack("<HHH", 16, 16, 16)
        + data
        + struct.pack("<H", len(tags))
        + entries
        + struct.pack("<I", 0)
    )


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# -- files in every mode -----------------------------------------------------------


def test_rgb_png_exact_and_odd_sizes(tmp_path):
    for height, width in [(1, 1), (3, 517), (517, 3), (5, 7)]:
        pixels = noise((height, width, 3), seed=height * width)
        path = tmp_path / f"rgb_{height}x{width}.png"
        Image.fromarray(pixels).save(path)
        img = load_rgb(path)
        assert img.size == (width, height)
        np.testing.assert_array_equal(as_array(img), pixels)
        # str and Path give the same result
        np.testing.assert_array_equal(as_array(load_rgb(str(path))), pixels)


def test_grayscale_png_value(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((3, 517), 200, np.uint8)).save(path)
    out = as_array(load_rgb(path))
    assert out.shape == (3, 517, 3)
    assert (out == 200).all()


def test_la_png_drops_alpha_without_compositing(tmp_path):
    path = tmp_path / "la.png"
    gray = np.full((4, 5), 200, np.uint8)
    alpha = np.full((4, 5), 10, np.uint8)
    Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)]).save(path)
    assert file_mode(path) == "LA"
    assert (as_array(load_rgb(path)) == 200).all()


def test_rgba_png_drops_alpha(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = noise((517, 3, 4), seed=1)
    pixels[..., 3] = 0  # fully transparent: colour is kept, not composited onto black/white
    Image.fromarray(pixels).save(path)
    assert file_mode(path) == "RGBA"
    np.testing.assert_array_equal(as_array(load_rgb(path)), pixels[..., :3])


def _palette_image():
    img = Image.new("P", (3, 2))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2, 2, 1, 0])
    return img


@pytest.mark.parametrize("transparency", [None, 0, bytes([0, 128] + [255] * 254)])
def test_palette_png(tmp_path, transparency, no_warnings):
    img = _palette_image()
    if transparency is not None:
        img.info["transparency"] = transparency
    path = tmp_path / "palette.png"
    img.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == "P"
        assert ("transparency" in reopened.info) == (transparency is not None)
    out = as_array(load_rgb(path))  # no_warnings: Pillow's bytes-transparency warning avoided
    expected = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[0, 0, 255], [0, 255, 0], [255, 0, 0]]],
        np.uint8,
    )
    np.testing.assert_array_equal(out, expected)


def test_cmyk_jpeg_matches_pil_convert(tmp_path):
    path = tmp_path / "cmyk.jpg"
    cmyk = Image.new("CMYK", (9, 8), (0, 255, 255, 0))  # C=0 M=255 Y=255 K=0: red
    cmyk.save(path, quality=100)
    assert file_mode(path) == "CMYK"
    out = as_array(load_rgb(path))
    np.testing.assert_array_equal(out, np.asarray(file_convert(path, "RGB")))
    assert (np.abs(out.astype(int) - [255, 0, 0]) <= 3).all()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "RGB"])
def test_8bit_files_match_torchvision_loader(tmp_path, mode):
    folder = pytest.importorskip("torchvision.datasets.folder")
    base = Image.fromarray(noise((6, 7, 3), seed=3))
    img = base.convert(mode) if mode != "P" else base.quantize(8)
    path = tmp_path / ("img.jpg" if mode == "CMYK" else "img.png")
    if mode == "P":
        img.info["transparency"] = 2
    img.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's loader may warn, ours must not matter
        expected = np.asarray(folder.pil_loader(str(path)))
    np.testing.assert_array_equal(as_array(load_rgb(path)), expected)


def test_uint16_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[51400, 0, 65535], [128, 129, 32896]], np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    assert file_mode(path) == "I;16"
    out = as_array(load_rgb(path))
    np.testing.assert_array_equal(out[..., 0], [[200, 0, 255], [0, 1, 128]])
    np.testing.assert_array_equal(out[..., 0], round257(values))
    assert (out == out[..., :1]).all()
    # Pillow's own conversion clips instead; this is why it is not used.
    assert np.asarray(file_convert(path, "L"))[0, 0] == 255


@pytest.mark.parametrize("mode", ["I;16B", "I;16L"])
def test_uint16_pil_modes(mode):
    values = np.array([[51400, 65535, 257]], np.uint16)
    img = Image.frombytes(mode, (3, 1), values.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    np.testing.assert_array_equal(as_array(load_rgb(img))[0, :, 0], [200, 255, 1])


@pytest.mark.parametrize(
    "color_type, channels",
    [(2, 3), (6, 4), (4, 2), (0, 1)],
    ids=["rgb16", "rgba16", "gray-alpha16", "gray16"],
)
def test_16bit_png_exact_scaling(tmp_path, color_type, channels):
    samples = noise((7, 6, channels), seed=4, high=65536, dtype=np.uint16)
    samples[0, 0, 0] = 51400
    samples[0, 1, 0] = 255  # round(255/257) = 1 but the high byte is 0
    path = tmp_path / f"ct{color_type}.png"
    path.write_bytes(png16(samples, color_type))
    out = as_array(load_rgb(path))
    gray = channels <= 2
    expected = round257(samples[..., [0, 0, 0]] if gray else samples[..., :3])
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0, 0] == 200 and out[0, 1, 0] == 1


def test_16bit_png_exif_orientation(tmp_path):
    samples = noise((4, 6, 3), seed=19, high=65536, dtype=np.uint16)
    data = png16(samples, 2)
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = exif.tobytes()
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw  # eXIf holds bare TIFF data
    at = data.index(b"IDAT") - 4
    path = tmp_path / "rotated16.png"
    path.write_bytes(data[:at] + _png_chunk(b"eXIf", raw) + data[at:])
    out = as_array(load_rgb(path))
    np.testing.assert_array_equal(out, np.rot90(round257(samples), k=-1))


def test_16bit_rgb_tiff_exact_scaling(tmp_path):
    samples = noise((5, 4, 3), seed=5, high=65536, dtype=np.uint16)
    samples[0, 0] = [51400, 255, 65535]
    path = tmp_path / "rgb16.tif"
    path.write_bytes(tiff16_rgb(samples))
    out = as_array(load_rgb(path))
    np.testing.assert_array_equal(out, round257(samples))
    np.testing.assert_array_equal(out[0, 0], [200, 1, 255])


def test_mode_I_tiff(tmp_path):
    path = tmp_path / "int32.tif"
    Image.fromarray(np.array([[51400, 0], [65535, 300]], np.int32)).save(path)
    assert file_mode(path) == "I"
    np.testing.assert_array_equal(as_array(load_rgb(path))[..., 1], [[200, 0], [255, 1]])

    bad = tmp_path / "int32_big.tif"
    Image.fromarray(np.array([[70000, 0]], np.int32)).save(bad)
    with pytest.raises(ImageInputError, match=r"X\[2\] .*int32_big\.tif.*\[0, 70000\].*65535"):
        load_rgb(bad, index=2)
    negative = Image.fromarray(np.array([[-1, 0]], np.int32))
    with pytest.raises(ImageInputError, match=r"\[-1, 0\]"):
        load_rgb(negative)


def test_mode_F_tiff(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.5, 1.0], [0.0, 200 / 255]], np.float32)).save(path)
    assert file_mode(path) == "F"
    np.testing.assert_array_equal(as_array(load_rgb(path))[..., 2], [[128, 255], [0, 200]])

    for name, value, pattern in [("nan", np.nan, "NaN"), ("big", 2.0, r"\[0, 2\]")]:
        bad = tmp_path / f"float_{name}.tif"
        Image.fromarray(np.array([[value, 0.0]], np.float32)).save(bad)
        with pytest.raises(ImageInputError, match=pattern) as info:
            load_rgb(bad, index=1)
        assert info.value.path == str(bad) and info.value.index == 1


@pytest.mark.parametrize("mode", ["1", "L", "LA", "PA", "RGBA", "RGBa", "La", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"])
def test_pil_items_in_other_modes(mode):
    base = Image.fromarray(noise((4, 5, 3), seed=6))
    if mode in ("PA", "La", "RGBa", "LAB", "HSV"):  # no conversion from RGB in Pillow
        img = Image.new(mode, (5, 4), (100, 128, 50, 200)[: len(Image.new(mode, (1, 1)).getbands())])
    else:
        img = base.convert(mode)
    out = as_array(load_rgb(img))
    assert out.shape == (4, 5, 3)
    if mode == "La":  # Pillow converts premultiplied 'La' only to 'LA'
        np.testing.assert_array_equal(out, np.asarray(img.convert("LA").convert("RGB")))
    else:
        np.testing.assert_array_equal(out, np.asarray(img.convert("RGB")))


def test_lab_and_hsv_values():
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    hsv = red.convert("HSV")
    np.testing.assert_array_equal(as_array(load_rgb(hsv)), np.asarray(hsv.convert("RGB")))
    assert tuple(as_array(load_rgb(hsv))[0, 0]) == (255, 0, 0)


def test_exif_rotated_jpeg(tmp_path):
    # Quadrants of flat colour, large enough for JPEG to keep them.
    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:16, :24] = (255, 0, 0)
    pixels[:16, 24:] = (0, 255, 0)
    pixels[16:, :24] = (0, 0, 255)
    pixels[16:, 24:] = (255, 255, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    with Image.open(path) as raw:
        assert raw.size == (48, 32)
        reference = np.asarray(ImageOps.exif_transpose(raw).convert("RGB"))

    img = load_rgb(path)
    assert img.size == (32, 48)  # transposed
    out = as_array(img)
    np.testing.assert_array_equal(out, reference)
    rotated = np.rot90(pixels, k=-1)  # 90 degrees clockwise
    assert np.median(np.abs(out.astype(int) - rotated)) <= 2  # JPEG blurs the edges only
    # Quadrant centres: top-left red went to the top-right, and so on.
    for (row, col), colour in {
        (12, 24): (255, 0, 0),
        (36, 24): (0, 255, 0),
        (12, 8): (0, 0, 255),
        (36, 8): (255, 255, 0),
    }.items():
        np.testing.assert_allclose(out[row, col], colour, atol=10)

    # In-memory PIL images are taken as they are: no EXIF rotation.
    with Image.open(path) as raw:
        assert load_rgb(raw).size == (48, 32)


def test_sklearn_sample_images_path_equals_array():
    datasets = pytest.importorskip("sklearn.datasets")
    sample = datasets.load_sample_images()
    assert len(sample.filenames) == 2
    for filename, array in zip(sample.filenames, sample.images):
        from_path = as_array(load_rgb(filename))
        from_array = as_array(load_rgb(array))
        assert from_path.shape == array.shape
        np.testing.assert_array_equal(from_path, array)
        np.testing.assert_array_equal(from_array, array)
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        np.testing.assert_array_equal(as_array(load_rgb(tensor)), array)


# -- bad files -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_fails_with_index_and_path(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    buffer = tmp_path / "whole"
    Image.fromarray(noise((64, 64, 3), seed=7)).save(buffer, format=fmt)
    data = buffer.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageInputError) as info:
        load_rgb(path, index=4)
    error = info.value
    assert error.index == 4 and error.path == str(path)
    message = str(error)
    assert message.startswith(f"X[4] ({str(path)!r}): ")
    assert "truncated" in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image\n")
    with pytest.raises(ImageInputError, match=r"X\[0\] .*notes\.jpg.*not a recognised image") as info:
        load_rgb(path, index=0)
    assert info.value.path == str(path)


def test_missing_file(tmp_path):
    path = tmp_path / "missing.png"
    with pytest.raises(ImageInputError) as info:
        load_rgb(path, index=3)
    assert str(info.value) == f"X[3] ({str(path)!r}): file not found; expected a readable image file"
    assert info.value.reason == "file not found; expected a readable image file"
    # Without an index the message still names the path.
    with pytest.raises(ImageInputError, match=re.escape(repr(str(path)))):
        load_rgb(str(path))


def test_directory(tmp_path):
    with pytest.raises(ImageInputError, match=r"X\[1\] .*directory") as info:
        load_rgb(tmp_path, index=1)
    assert info.value.path == str(tmp_path)


def test_empty_path():
    with pytest.raises(ImageInputError, match="empty path"):
        load_rgb("", index=0)


def test_truncated_pil_item(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(noise((64, 64, 3), seed=8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with Image.open(path) as lazy:
        with pytest.raises(ImageInputError, match=r"X\[5\] \(PIL image of mode 'RGB'.*truncated"):
            load_rgb(lazy, index=5)


def test_zero_size_pil_item():
    with pytest.raises(ImageInputError, match="zero-size"):
        load_rgb(Image.new("RGB", (0, 3)), index=0)


def test_error_is_a_value_error_and_pickles():
    error = ImageInputError("file not found; expected a readable image file", index=3, path="/data/cat.jpg")
    assert isinstance(error, ValueError)
    assert str(error) == "X[3] ('/data/cat.jpg'): file not found; expected a readable image file"
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error)
    assert (clone.index, clone.path, clone.reason) == (3, "/data/cat.jpg", error.reason)


# -- arrays and tensors ------------------------------------------------------------


def test_array_values():
    np.testing.assert_array_equal(as_array(load_rgb(np.full((2, 3), 200, np.uint8))), np.full((2, 3, 3), 200))
    np.testing.assert_array_equal(as_array(load_rgb(np.full((2, 3, 1), 200, np.uint8))), np.full((2, 3, 3), 200))
    np.testing.assert_array_equal(as_array(load_rgb(np.full((2, 3), 51400, np.uint16))), np.full((2, 3, 3), 200))
    np.testing.assert_array_equal(as_array(load_rgb(np.full((2, 3, 3), 0.5))), np.full((2, 3, 3), 128))
    rgba = noise((3, 4, 4), seed=9)
    np.testing.assert_array_equal(as_array(load_rgb(rgba)), rgba[..., :3])
    rgb = noise((1, 517, 3), seed=10)
    np.testing.assert_array_equal(as_array(load_rgb(rgb)), rgb)
    uint16 = noise((4, 5, 3), seed=11, high=65536, dtype=np.uint16)
    np.testing.assert_array_equal(as_array(load_rgb(uint16)), round257(uint16))
    # Channels-first numpy when the last dimension cannot be channels.
    chw = noise((3, 5, 7), seed=12)
    np.testing.assert_array_equal(as_array(load_rgb(chw)), chw.transpose(1, 2, 0))


def test_input_arrays_are_not_modified():
    floats = np.linspace(0, 1, 12).reshape(2, 2, 3)
    before = floats.copy()
    load_rgb(floats)
    np.testing.assert_array_equal(floats, before)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_round_trip_of_every_level(dtype):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = as_array(load_rgb((levels / 255).astype(dtype)))
    np.testing.assert_array_equal(out[..., 0], levels)


def test_float_tolerance_and_range():
    out = as_array(load_rgb(np.array([[1 + 1e-7, -1e-7]])))
    np.testing.assert_array_equal(out[..., 0], [[255, 0]])
    for bad, pattern in [
        (np.array([[0.0, 1.01]]), r"\[0, 1.01\]; expected floats in \[0, 1\]"),
        (np.array([[-0.1, 0.5]]), r"\[-0.1, 0.5\]"),
        (np.array([[np.nan, 0.5]]), "NaN or infinite"),
        (np.array([[np.inf, 0.5]]), "NaN or infinite"),
        (np.array([[0.0, 255.0]]), "divide 0-255 data by 255"),
    ]:
        with pytest.raises(ImageInputError, match=pattern) as info:
            load_rgb(bad, index=7)
        assert str(info.value).startswith("X[7] (numpy array of shape (1, 2)): ")


@pytest.mark.parametrize(
    "item, pattern",
    [
        (np.zeros((5, 5, 2), np.uint8), r"^X\[3\] \(numpy array of shape \(5, 5, 2\)\): expected HxW, HxWx1, HxWx3 or HxWx4"),
        (np.zeros((2, 2, 2, 3), np.uint8), r"shape \(2, 2, 2, 3\)\): expected HxW"),
        (np.zeros(5, np.uint8), r"shape \(5,\)\): expected HxW"),
        (np.zeros((4, 4), np.int64), r"unsupported dtype int64.*astype\(np.uint8\)"),
        (np.zeros((4, 4), bool), "unsupported dtype bool"),
        (np.zeros((4, 4), complex), "unsupported dtype complex128"),
        (np.zeros((0, 5, 3), np.uint8), "zero-size"),
        (np.zeros((5, 0), np.uint8), "zero-size"),
        (torch.zeros(2, 5, 5), r"torch tensor of shape \(2, 5, 5\)\): expected 3xHxW or 1xHxW"),
        (torch.zeros(3, 4, dtype=torch.int64), "unsupported dtype torch.int64"),
        (torch.zeros(3, 0, 4), "zero-size"),
    ],
)
def test_bad_array_items(item, pattern):
    with pytest.raises(ImageInputError, match=pattern) as info:
        load_rgb(item, index=3)
    assert info.value.index == 3 and info.value.path is None
    # check_images finds the same problems without touching pixels.
    with pytest.raises(ImageInputError, match=pattern):
        check_images([np.zeros((2, 2), np.uint8)] * 3 + [item])


def test_tensor_values():
    hwc = noise((5, 7, 3), seed=13)
    chw = torch.from_numpy(hwc).permute(2, 0, 1)  # non-contiguous view
    np.testing.assert_array_equal(as_array(load_rgb(chw)), hwc)
    np.testing.assert_array_equal(as_array(load_rgb(chw.float() / 255)), hwc)
    np.testing.assert_array_equal(as_array(load_rgb((chw.float() / 255).to(torch.bfloat16))).shape, hwc.shape)
    gray = torch.full((1, 4, 6), 200, dtype=torch.uint8)
    np.testing.assert_array_equal(as_array(load_rgb(gray)), np.full((4, 6, 3), 200))
    np.testing.assert_array_equal(as_array(load_rgb(gray[0])), np.full((4, 6, 3), 200))  # HxW
    np.testing.assert_array_equal(as_array(load_rgb(torch.full((2, 2), 0.5))), np.full((2, 2, 3), 128))
    # channels-last tensor when dim 0 cannot be channels
    np.testing.assert_array_equal(as_array(load_rgb(torch.from_numpy(hwc))), hwc)
    if hasattr(torch, "uint16"):
        t16 = torch.full((3, 2, 2), 51400, dtype=torch.int32).to(torch.uint16)
        np.testing.assert_array_equal(as_array(load_rgb(t16)), np.full((2, 2, 3), 200))
    with pytest.raises(ImageInputError, match="NaN"):
        load_rgb(torch.full((3, 2, 2), float("nan")))
    grad = torch.full((3, 2, 2), 0.5, requires_grad=True)
    np.testing.assert_array_equal(as_array(load_rgb(grad)), np.full((2, 2, 3), 128))


def test_unsupported_item_types():
    for item, name in [({"a": 1}, "dict"), (3, "int"), (1.5, "float"), ({1, 2}, "set")]:
        with pytest.raises(TypeError, match=rf"^X\[2\] \(object of type {name}\): unsupported item type {name}"):
            load_rgb(item, index=2)
    # bytes are encoded images since the input package took them (they were refused before):
    # not-an-image bytes fail as a file of those bytes would, naming the item.
    with pytest.raises(ImageInputError, match=r"^X\[2\] \(bytes of 6 bytes\): not a recognised image file"):
        load_rgb(b"/x.jpg", index=2)
    with pytest.raises(TypeError, match=r"X\[0\] \(None\): missing value"):
        load_rgb(None, index=0)


def test_pil_rgb_item_returned_loaded():
    img = Image.fromarray(noise((3, 4, 3), seed=14))
    out = load_rgb(img)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


# -- check_images --------------------------------------------------------------


def test_check_images_sequences(tmp_path):
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]  # need not exist: no I/O
    for X in [paths, tuple(paths), np.array(paths, dtype=object), np.array(paths)]:
        items = check_images(X)
        assert type(items) is list and [str(p) for p in items] == paths
    with pytest.raises(TypeError, match=r"one-shot iterator \(generator\).*list\(X\)"):  # issue 8: fit then transform
        check_images(p for p in paths)
    assert check_images(pd.Series(paths, index=[10, 11, 12])) == paths
    assert check_images(pd.DataFrame({"path": paths})) == paths
    assert check_images(np.array(paths, dtype=object)[:, None]) == paths  # ColumnTransformer on numpy
    assert check_images([Path(p) for p in paths]) == [Path(p) for p in paths]


def test_check_images_mixed_list(tmp_path):
    X = [
        "a.jpg",
        tmp_path / "b.png",
        Image.new("L", (3, 2)),
        np.zeros((2, 3, 3), np.uint8),
        np.zeros((2, 3)),
        torch.zeros(3, 2, 2),
    ]
    items = check_images(X)
    assert len(items) == len(X) and all(a is b for a, b in zip(items, X))


def test_check_images_batches():
    nhwc = noise((4, 5, 6, 3), seed=15)
    items = check_images(nhwc)
    assert len(items) == 4
    for i, item in enumerate(items):
        np.testing.assert_array_equal(as_array(load_rgb(item, i)), nhwc[i])

    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))  # last dim 6: channels first
    for i, item in enumerate(check_images(nchw)):
        np.testing.assert_array_equal(as_array(load_rgb(item, i)), nhwc[i])

    tensor_nchw = torch.from_numpy(nchw)
    for i, item in enumerate(check_images(tensor_nchw)):
        np.testing.assert_array_equal(as_array(load_rgb(item, i)), nhwc[i])

    tensor_nhwc = torch.from_numpy(nhwc)  # dim 1 is 5: channels last
    for i, item in enumerate(check_images(tensor_nhwc)):
        np.testing.assert_array_equal(as_array(load_rgb(item, i)), nhwc[i])

    gray = np.full((2, 3, 3, 1), 0.5)
    assert [as_array(load_rgb(x))[0, 0, 0] for x in check_images(gray)] == [128, 128]
    rgba = noise((2, 3, 3, 4), seed=16)
    assert len(check_images(rgba)) == 2
    assert len(check_images(np.zeros((2, 3, 5, 5), np.uint16))) == 2


@pytest.mark.parametrize(
    "X, error, pattern",
    [
        (None, TypeError, "X is None"),
        ([], ValueError, r"^X is empty: expected at least one image$"),
        ((), ValueError, "X is empty"),
        (pd.Series([], dtype=object), ValueError, "X is empty"),
        (np.zeros((0, 4, 4, 3), np.uint8), ValueError, "X is empty"),
        (np.array([], dtype=object), ValueError, "X is empty"),
        ("cat.jpg", TypeError, r"single path \('cat.jpg'\).*wrap it in a list: \['cat.jpg'\]"),
        (Path("cat.jpg"), TypeError, r"single path.*wrap it in a list"),
        (Image.new("RGB", (2, 2)), TypeError, "single PIL image.*wrap it in a list"),
        (
            np.zeros((4, 4, 3), np.uint8),
            ValueError,
            r"3-D numpy array of shape \(4, 4, 3\).*ambiguous.*wrap a single image in a list.*4-D batch",
        ),
        (np.zeros((5, 4, 4), np.uint8), ValueError, "ambiguous"),
        (np.zeros((4, 4)), ValueError, "2-D numpy array.*ambiguous"),
        (torch.zeros(3, 4, 4), ValueError, "3-D torch tensor.*ambiguous.*wrap a single image in a list"),
        (np.zeros(5), ValueError, r"1-D numpy array of shape \(5,\)"),
        (np.zeros((2, 8, 8, 2), np.uint8), ValueError, r"shape \(2, 8, 8, 2\) with an unsupported number of channels"),
        (torch.zeros(2, 5, 8, 8), ValueError, "unsupported number of channels"),
        (np.zeros((2, 4, 4, 3), np.int64), ValueError, "dtype int64; expected uint8, uint16 or floating point"),
        (np.zeros((2, 4, 4, 3), complex), ValueError, "dtype complex128"),
        (np.zeros((2, 4, 4, 3), bool), ValueError, "dtype bool"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.int64), ValueError, "dtype torch.int64"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.complex64), ValueError, "dtype torch.complex64"),
        (np.array([["a", "b"]], dtype=object), ValueError, r"shape \(1, 2\); expected a 1-D array"),
        (pd.DataFrame({"path": ["a"], "label": [1]}), ValueError, r"2 columns \['path', 'label'\]"),
        (pd.DataFrame(index=[0, 1]), ValueError, r"0 columns \[\]"),
        (5, TypeError, "X of type int is not a sequence"),
        ({"a.jpg": 1}, TypeError, "X is a dict"),
        ({"a.jpg"}, TypeError, "X is a set"),
    ],
)
def test_check_images_errors(X, error, pattern):
    with pytest.raises(error, match=pattern):
        check_images(X)


def test_check_images_item_errors():
    with pytest.raises(TypeError, match=r"X\[2\] \(object of type dict\): unsupported item type dict"):
        check_images(["a.jpg", "b.jpg", {"x": 1}])
    with pytest.raises(TypeError, match=r"X\[1\] \(object of type int\): unsupported item type int"):
        check_images(np.array(["a.jpg", 5], dtype=object))
    with pytest.raises(TypeError, match=r"X\[1\] \(object of type float\): missing value"):
        check_images(pd.Series(["a.jpg", np.nan]))
    with pytest.raises(TypeError, match=r"X\[0\] \(None\): missing value"):
        check_images([None])
    with pytest.raises(ImageInputError, match=r"X\[1\] \(''\): empty path") as info:
        check_images(["a.jpg", ""])
    assert info.value.index == 1


def test_check_images_does_no_io(tmp_path, monkeypatch):
    def no_open(*args, **kwargs):
        raise AssertionError("check_images must not open files")

    monkeypatch.setattr(Image, "open", no_open)
    assert len(check_images([tmp_path / "missing.jpg", tmp_path])) == 2


# -- describe_item ------------------------------------------------------------------


def test_describe_item(tmp_path):
    assert describe_item("/data/cat.jpg") == ("'/data/cat.jpg'", "/data/cat.jpg")
    assert describe_item(Path("/data/cat.jpg")) == ("'/data/cat.jpg'", "/data/cat.jpg")
    assert describe_item(np.str_("/a.png")) == ("'/a.png'", "/a.png")
    assert describe_item(np.zeros((5, 5, 2))) == ("numpy array of shape (5, 5, 2)", None)
    assert describe_item(torch.zeros(3, 8, 8)) == ("torch tensor of shape (3, 8, 8)", None)
    assert describe_item(Image.new("L", (5, 3))) == ("PIL image of mode 'L', width 5, height 3", None)
    path = tmp_path / "x.png"
    Image.new("L", (5, 3)).save(path)
    with Image.open(path) as img:
        assert describe_item(img)[0].endswith(f"read from {str(path)!r}")
    assert describe_item(3.5) == ("object of type float", None)


# -- image_key ------------------------------------------------------------------


def test_image_key_arrays_and_tensors():
    a = noise((4, 5, 3), seed=17)
    key = image_key(a)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert image_key(a.copy()) == key
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert image_key(b) != key
    assert image_key(a.reshape(5, 4, 3)) != key  # same bytes, other shape
    assert image_key(a.view(np.int8)) != key  # same bytes, other dtype
    assert image_key(np.asfortranarray(a)) == key  # layout in memory does not matter
    t = torch.from_numpy(a)
    assert image_key(t) != key  # other kind
    assert image_key(t.clone()) == image_key(t)
    chw = t.permute(2, 0, 1)
    assert image_key(chw) == image_key(chw.contiguous())
    assert image_key(chw.float()) != image_key(chw)
    assert image_key(torch.zeros(2, 2, dtype=torch.bfloat16)) != image_key(torch.zeros(2, 2, dtype=torch.float16))
    with pytest.raises(TypeError):
        image_key(np.array([["a"]], dtype=object))
    with pytest.raises(TypeError, match="unsupported item type"):
        image_key(3)


def test_image_key_pil_images():
    a = Image.fromarray(noise((4, 5, 3), seed=18))
    assert image_key(a) == image_key(a.copy())
    assert image_key(a) != image_key(a.convert("L"))
    assert image_key(a) != image_key(a.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    p = _palette_image()
    q = p.copy()
    q.putpalette([0, 0, 0] * 256)
    assert image_key(p) != image_key(q)  # same indices, other palette


def test_image_key_paths(tmp_path, monkeypatch):
    path = tmp_path / "img.png"
    Image.new("RGB", (2, 2)).save(path)
    key = image_key(path)
    assert image_key(str(path)) == key
    monkeypatch.chdir(tmp_path)
    assert image_key("img.png") == key  # relative and absolute
    link = tmp_path / "link.png"
    try:
        link.symlink_to(path)
    except OSError:
        pass
    else:
        assert image_key(link) == key  # symlinks resolved
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = image_key(path)
    assert touched != key
    assert image_key(path) == touched  # stable
    other = tmp_path / "other.png"
    Image.new("RGB", (2, 2)).save(other)
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert image_key(other) != touched  # same content, size and time; other file
    with pytest.raises(ImageInputError, match=r"X\[4\] .*missing.*file not found"):
        image_key(tmp_path / "missing.png", index=4)
    with pytest.raises(ImageInputError, match="directory"):
        image_key(tmp_path)


# -- parallel_map ---------------------------------------------------------------


def _slow_identity(i, item):
    # Earlier items sleep longer, so threads finish out of order.
    time.sleep(0.002 * (10 - i % 10))
    return (i, item, threading.current_thread().name)


@pytest.mark.parametrize("num_workers, lookahead", [(0, 1), (1, 1), (3, 6), (3, 2), (4, 100)])
def test_parallel_map_order(num_workers, lookahead):
    items = [f"item{i}" for i in range(20)]
    results = list(parallel_map(_slow_identity, items, num_workers=num_workers, lookahead=lookahead))
    assert [(i, item) for i, item, _ in results] == list(enumerate(items))
    threads = {name for _, _, name in results}
    if num_workers == 0:
        assert threads == {threading.current_thread().name}
    else:
        assert threading.current_thread().name not in threads
        assert len(threads) <= num_workers


@pytest.mark.parametrize("num_workers", [0, 3])
def test_parallel_map_error_at_its_index(num_workers):
    def fn(i, item):
        if i == 5:
            raise KeyError(f"bad item {item}")
        return i

    received = []
    with pytest.raises(KeyError, match="bad item 50"):
        for value in parallel_map(fn, [10 * i for i in range(10)], num_workers=num_workers, lookahead=4):
            received.append(value)
    assert received == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_parallel_map_iterator_error_at_its_index(num_workers):
    def source():
        yield from range(3)
        raise RuntimeError("source broke")

    received = []
    with pytest.raises(RuntimeError, match="source broke"):
        for value in parallel_map(lambda i, x: x, source(), num_workers=num_workers, lookahead=5):
            received.append(value)
    assert received == [0, 1, 2]


def test_parallel_map_bounded_lookahead_and_early_close():
    started = []
    lock = threading.Lock()

    def fn(i, item):
        with lock:
            started.append(i)
        time.sleep(0.001)
        return i

    lookahead = 3
    gen = parallel_map(fn, iter(range(1000)), num_workers=2, lookahead=lookahead)
    assert started == []  # lazy: nothing runs before the first next()
    consumed = 0
    for value in gen:
        consumed += 1
        assert value == consumed - 1
        with lock:
            assert len(started) - consumed <= lookahead
        if consumed == 5:
            break
    gen.close()
    with lock:
        count = len(started)
    assert count <= 5 + lookahead
    time.sleep(0.05)
    assert len(started) == count  # nothing runs after close


def test_parallel_map_argument_validation():
    with pytest.raises(ValueError, match="num_workers"):
        parallel_map(_slow_identity, [], num_workers=-1, lookahead=2)
    with pytest.raises(ValueError, match="lookahead"):
        parallel_map(_slow_identity, [], num_workers=2, lookahead=0)
    with pytest.raises(ValueError, match="num_workers"):
        parallel_map(_slow_identity, [], num_workers=1.5, lookahead=2)
    assert list(parallel_map(_slow_identity, [], num_workers=2, lookahead=2)) == []


def test_parallel_map_with_load_rgb(tmp_path):
    paths = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        Image.fromarray(noise((9, 11, 3), seed=100 + i)).save(path)
        paths.append(path)
    paths.insert(6, tmp_path / "missing.png")
    inline = []
    with pytest.raises(ImageInputError, match=r"X\[6\]"):
        for img in parallel_map(lambda i, p: load_rgb(p, i), paths, num_workers=0, lookahead=1):
            inline.append(np.asarray(img))
    threaded = []
    with pytest.raises(ImageInputError, match=r"X\[6\]"):
        for img in parallel_map(lambda i, p: load_rgb(p, i), paths, num_workers=3, lookahead=4):
            threaded.append(np.asarray(img))
    assert len(inline) == len(threaded) == 6
    for a, b in zip(inline, threaded):
        np.testing.assert_array_equal(a, b)


# -- decoding through libraries (issue 9) ------------------------------------------------


def tiff16(samples, compression=1, predictor=1, planar=False, rows_per_strip=2):
    """A little-endian 16-bit RGB(A) TIFF in several strips, optionally Deflate/PackBits, predictor, planar."""
    samples = np.asarray(samples, dtype=np.uint16)
    height, width, channels = samples.shape
    planes = [samples[:, :, c : c + 1] for c in range(channels)] if planar else [samples]
    strips = []
    for plane in planes:
        for top in range(0, height, rows_per_strip):
            block = plane[top : top + rows_per_strip].reshape(-1, width * plane.shape[2]).astype(np.uint16)
            if predictor == 2:
                step = plane.shape[2]
                rows = block.reshape(block.shape[0], width, step)
                block = np.concatenate([rows[:, :1], np.diff(rows, axis=1)], axis=1).reshape(block.shape)
            raw = block.astype("<u2").tobytes()
            if compression == 8:
                raw = zlib.compress(raw)
            elif compression == 32773:  # PackBits, literal runs of at most 128 bytes
                raw = b"".join(bytes([len(raw[i : i + 128]) - 1]) + raw[i : i + 128] for i in range(0, len(raw), 128))
            strips.append(raw)
    bits_at = 8
    offsets_at = bits_at + 2 * channels
    counts_at = offsets_at + 4 * len(strips)
    data_at = counts_at + 4 * len(strips)
    offsets, position = [], data_at
    for strip in strips:
        offsets.append(position)
        position += len(strip)
    ifd_at = position
    tags = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, channels, bits_at),
        (259, 3, 1, compression),
        (262, 3, 1, 2),
        (273, 4, len(strips), offsets_at if len(strips) > 1 else offsets[0]),
        (277, 3, 1, channels),
        (278, 3, 1, rows_per_strip),
        (279, 4, len(strips), counts_at if len(strips) > 1 else len(strips[0])),
        (284, 3, 1, 2 if planar else 1),
        (317, 3, 1, predictor),
    ]
    if channels == 4:
        tags.append((338, 3, 1, 2))  # unassociated alpha
    entries = b"".join(
        struct.pack("<HHII", tag, kind, count, value)
        if kind == 4 or count > 1
        else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in tags
    )
    return (
        b"II*\x00"
        + struct.pack("<I", ifd_at)
        + struct.pack(f"<{channels}H", *[16] * channels)
        + struct.pack(f"<{len(strips)}I", *offsets)
        + struct.pack(f"<{len(strips)}I", *map(len, strips))
        + b"".join(strips)
        + struct.pack("<H", len(tags))
        + entries
        + struct.pack("<I", 0)
    )


@pytest.mark.parametrize(
    "compression, predictor, planar, channels",
    [(1, 1, False, 3), (8, 2, False, 3), (1, 1, True, 3), (32773, 1, False, 4), (8, 2, True, 4)],
    ids=["raw-strips", "deflate-predictor", "raw-planar", "packbits-rgba", "deflate-predictor-planar-rgba"],
)
def test_16bit_tiff_layouts_exact(tmp_path, compression, predictor, planar, channels):
    samples = noise((7, 5, channels), seed=21, high=65536, dtype=np.uint16)
    samples[0, 0, :3] = [51400, 255, 65535]
    path = tmp_path / "deep.tif"
    path.write_bytes(tiff16(samples, compression, predictor, planar))
    with Image.open(path) as img:
        assert img.mode in ("RGB", "RGBA")  # Pillow alone would keep the high bytes...
        assert not np.array_equal(np.asarray(img.convert("RGB")), round257(samples[..., :3]))
    out = as_array(load_rgb(path))  # ...the strips give round(v / 257)
    np.testing.assert_array_equal(out, round257(samples[..., :3]))
    np.testing.assert_array_equal(out[0, 0], [200, 1, 255])


def test_16bit_png_route_is_torchvision(tmp_path, monkeypatch):
    # The colour 16-bit PNGs are decoded by torchvision (uint16), not by Pillow's 8-bit reading.
    import skvgg.images._tvio as tvio

    calls = []
    original = tvio.decode_unchanged

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(out.dtype)
        return out

    monkeypatch.setattr(tvio, "decode_unchanged", recording)
    samples = noise((3, 4, 3), seed=2, high=65536, dtype=np.uint16)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(samples, 2))
    np.testing.assert_array_equal(as_array(load_rgb(path)), round257(samples))
    assert calls == [torch.uint16]
    # A truncated one is a named decoding error, not a crash.
    bad = tmp_path / "cut16.png"
    bad.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ImageInputError, match=r"X\[4\] .*cut16\.png.*cannot decode"):
        load_rgb(bad, index=4)


def test_no_pillow_private_attributes_in_the_sources():
    # Issue 9: decoding uses Pillow's public API only (no tile records, decoders or private checks).
    source_dir = Path(skvgg.__file__).resolve().parent  # the package under test
    forbidden = re.compile(r"\.tile\b|_getdecoder|_decompression_bomb_check|Image\._|ImageFile\._|\bImage\.core\b")
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(source_dir.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []


def test_pillow_limit_is_restored_and_serialised(tmp_path):
    import skvgg.images._budget as budget

    before = Image.MAX_IMAGE_PIXELS
    with budget.pillow_limit_lifted():
        assert Image.MAX_IMAGE_PIXELS is None
        with budget.pillow_limit_lifted():  # re-entrant in one thread
            assert Image.MAX_IMAGE_PIXELS is None
        assert Image.MAX_IMAGE_PIXELS is None
    assert Image.MAX_IMAGE_PIXELS == before


def test_dataframes_of_other_libraries_via_narwhals(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("narwhals")
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    table = pa.table({"path": paths})
    assert check_images(table) == paths
    assert check_images(table.column("path")) == paths  # a ChunkedArray is a Series
    with pytest.raises(ValueError, match=r"DataFrame with 2 columns \['path', 'other'\]"):
        check_images(pa.table({"path": paths, "other": [1, 2, 3]}))
    with pytest.raises(ValueError, match="X is empty"):
        check_images(pa.table({"path": pa.array([], pa.string())}))
    # pandas keeps its own route (works without narwhals) and gives the same items.
    assert check_images(pd.DataFrame({"path": paths})) == check_images(table)


def test_other_modules_use_only_the_input_packages_stated_api():
    # skvgg/images/__init__.py states what siblings may import: __all__ and INTERNAL_API; its
    # underscore modules are its own, and no private name crosses a module boundary.
    import ast
    from pathlib import Path

    import skvgg.images

    allowed = set(skvgg.images.__all__) | set(skvgg.images.INTERNAL_API)
    assert all(hasattr(skvgg.images, name) for name in allowed)
    root = Path(skvgg.images.__file__).parent.parent
    offenders = []
    for path in root.rglob("*.py"):
        inside = path.parent.name == "images"
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level or not node.module:
                continue
            parts = node.module.split(".")
            if "images" in parts and not inside:
                if parts[-1] != "images":
                    offenders.append(f"{path.name}: from {node.module}")
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name not in allowed]
            if inside:
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert offenders == []
