"""Inputs that used to hang or blow up memory: special files, hostile files, huge or extreme images.

Every case must end with a descriptor or an ImageInputError naming the item, never a hang,
a bare MemoryError or an un-named ValueError; and the memory-saving paths must not change
a single pixel of ordinary images.
"""

import gc
import os
import re
import socket
import struct
import sys
import threading
import time
import warnings
import weakref
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, PngImagePlugin
from sklearn.datasets import load_sample_images
from torchvision import transforms as T

import skvgg._pipeline.batches
import skvgg._pipeline.views
import skvgg.images._budget
from skvgg import ImageInputError, Preprocessing, VGGClassifier, VGGFeaturizer
from skvgg._pipeline.batches import ViewGroup, batched_groups
from skvgg._pipeline.resample import bilinear_region
from skvgg._pipeline.views import center_view, grid_views, random_view, rescale, rescaled_size
from skvgg.images import DEFAULT_MAX_PIXELS, decoding, image_key, load_rgb

SMALL = Preprocessing(resize_size=40, crop_size=32)
TIMEOUT = 20  # seconds; a regression that blocks fails here instead of hanging the suite


# -- helpers ---------------------------------------------------------------------


def finishes(fn, timeout=TIMEOUT):
    """Run fn() in a thread; return its result or raise its exception; fail if it blocks."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"still blocked after {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_gray_png(path, width, height, rows=None):
    """A black 8-bit grayscale PNG written row block by row block, never held in memory.

    ``rows`` < height writes only that many rows: a header promising more data than follows.
    """
    row = b"\x00" * (width + 1)  # filter byte + pixels
    per_block = max(1, (1 << 22) // len(row))
    compressor = zlib.compressobj(1)
    parts, done, total = [], 0, height if rows is None else rows
    while done < total:
        count = min(per_block, total - done)
        parts.append(compressor.compress(row * count))
        done += count
    parts.append(compressor.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(_chunk(b"IDAT", b"".join(parts)))
        f.write(_chunk(b"IEND", b""))
    return path


@pytest.fixture
def decode_calls(monkeypatch):
    """Records every ImageFile.load() (i.e. every attempt to decode pixels)."""
    calls = []
    original = ImageFile.ImageFile.load

    def recording_load(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return calls


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    """12000x12000 black PNG: 144 Mpx, above the default budget but below Pillow's error threshold."""
    return write_gray_png(tmp_path_factory.mktemp("huge") / "huge.png", 12000, 12000)


@pytest.fixture
def featurizer(vgg11_file):
    def make(**params):
        params = {"arch": "vgg11", "weights": vgg11_file, "device": "cpu", "preprocessing": SMALL, "layer": "pool5", **params}
        return VGGFeaturizer(**params)

    return make


@pytest.fixture
def small_png(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


# -- only regular files are opened -----------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_is_refused_without_blocking(tmp_path, featurizer, small_png):
    fifo = tmp_path / "images.jpg"
    os.mkfifo(fifo)
    try:
        with pytest.raises(ImageInputError, match=r"X\[3\].*not a regular file \(named pipe\); expected an image file") as info:
            finishes(lambda: load_rgb(str(fifo), index=3))
        assert info.value.index == 3 and info.value.path == str(fifo)
        # The estimator's transform (and its cache key, which stats the path) must not block either.
        model = featurizer(cache=True).fit()
        with pytest.raises(ImageInputError, match=r"X\[1\].*named pipe"):
            finishes(lambda: model.transform([small_png, fifo]))
        with pytest.warns(UserWarning, match="named pipe"):
            out = finishes(lambda: featurizer(on_error="nan").fit().transform([fifo, small_png]))
        assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
        # A symbolic link to the pipe is followed and refused alike.
        link = tmp_path / "link.png"
        link.symlink_to(fifo)
        with pytest.raises(ImageInputError, match="named pipe"):
            finishes(lambda: load_rgb(link))
    finally:
        # Should a regression block a reader, a writer releases it.
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_character_devices_are_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with pytest.raises(ImageInputError, match=r"X\[0\].*not a regular file \(character device\)"):
        finishes(lambda: load_rgb(device, index=0))
    with pytest.raises(ImageInputError, match="character device"):
        image_key(device)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets")
def test_socket_and_directory_are_refused(tmp_path):
    path = tmp_path / "s.png"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(ImageInputError, match=r"not a regular file \(socket\)"):
            finishes(lambda: load_rgb(path))
    finally:
        server.close()
    with pytest.raises(ImageInputError, match="is a directory; expected an image file"):
        load_rgb(tmp_path, index=1)


def test_bad_paths_are_named(tmp_path, small_png):
    with pytest.raises(ImageInputError, match=r"X\[2\].*invalid path \(embedded null byte\)") as info:
        load_rgb(str(tmp_path / "a\x00b.png"), index=2)
    assert "\\x00" in str(info.value)  # the path is shown, with its NUL visible
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(ImageInputError, match=r"X\[0\].*cannot open the file"):
        load_rgb(loop, index=0)
    with pytest.raises(ImageInputError, match="cannot open the file"):
        load_rgb(small_png / "inside.png")  # a file used as a directory
    with pytest.raises(ImageInputError, match="invalid path"):
        image_key("x\x00.png")


def test_nul_path_through_the_estimator(featurizer, small_png):
    with pytest.warns(UserWarning, match="invalid path"):
        out = featurizer(on_error="nan", cache=True).fit().transform([small_png, "bad\x00.png"])
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


# -- every decoding error is named ----------------------------------------------------


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_metadata_that_decompresses_to_megabytes(tmp_path, kind):
    info = PngImagePlugin.PngInfo()
    text = "A" * (8 * 2**20)  # 8 MB of text, a few KB compressed
    if kind == "zTXt":
        info.add_text("comment", text, zip=True)
    else:
        info.add_itxt("comment", text, zip=True)
    path = tmp_path / f"{kind}.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageInputError, match=r"X\[4\].*ValueError: Decompressed [Dd]ata [Tt]oo [Ll]arge") as raised:
        load_rgb(path, index=4)
    assert raised.value.path == str(path)


@pytest.mark.parametrize(
    "error",
    [MemoryError(), SyntaxError("broken chunk"), struct.error("unpack requires a buffer"), ValueError("odd"), OSError("I/O")],
)
def test_any_decoding_error_becomes_a_named_input_error(small_png, monkeypatch, error):
    def failing_load(self):
        raise error

    monkeypatch.setattr(ImageFile.ImageFile, "load", failing_load)
    named = rf"X\[5\] \({re.escape(repr(str(small_png)))}\): "
    with pytest.raises(ImageInputError, match=named + rf"(.*{type(error).__name__}|ran out of memory)") as info:
        load_rgb(small_png, index=5)
    assert info.value.__cause__ is error
    if isinstance(error, MemoryError):
        assert "ran out of memory decoding the 64x48 image" in str(info.value)
    # An unloaded PIL image fails the same way, named.
    with Image.open(small_png) as img:
        with pytest.raises(ImageInputError, match=r"X\[1\] \(PIL image"):
            load_rgb(img, index=1)


def test_memory_error_while_cutting_views_is_named(small_png, monkeypatch):
    def make_groups(image, index):
        raise MemoryError

    events = list(batched_groups([small_png], [0], make_groups, batch_size=4, num_workers=0, on_error="nan"))
    ((index, error),) = events
    assert index == 0 and isinstance(error, ImageInputError) and error.index == 0
    assert "ran out of memory cutting the views" in str(error) and str(small_png) in str(error)


# -- the pixel budget -----------------------------------------------------------------


def test_over_budget_file_is_refused_before_decoding(huge_png, decode_calls):
    assert huge_png.stat().st_size < 1_000_000  # a few hundred KB on disk...
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ...and no DecompressionBombWarning from Pillow either
        with pytest.raises(ImageInputError) as info:
            load_rgb(huge_png, index=7)
    message = str(info.value)
    assert "X[7]" in message and str(huge_png) in message
    assert "12000x12000 pixels (144.0 Mpx)" in message and f"max_pixels={DEFAULT_MAX_PIXELS}" in message
    assert "pass a larger max_pixels=" in message
    assert decode_calls == []  # ...refused from the header: nothing was decoded
    # The same file opened by the caller (not yet loaded; Pillow only warns) is refused the same way.
    with pytest.warns(Image.DecompressionBombWarning):
        img = Image.open(huge_png)
    with img:
        with pytest.raises(ImageInputError, match=r"12000x12000 pixels.*max_pixels"):
            load_rgb(img)
        with pytest.raises(ImageInputError, match="max_pixels"):
            image_key(img)
    assert decode_calls == []


def test_budget_is_a_parameter_of_both_estimators(huge_png, small_png, featurizer, decode_calls):
    model = featurizer().fit()
    assert model.max_pixels == DEFAULT_MAX_PIXELS == 89_478_485
    with pytest.raises(ImageInputError, match=r"X\[1\].*12000x12000"):
        model.transform([small_png, huge_png])
    assert (12000, 12000) not in decode_calls
    # A smaller budget refuses the small image too, naming the limit.
    with pytest.raises(ImageInputError, match=r"X\[0\].*64x48 pixels.*max_pixels=1000\b"):
        featurizer(max_pixels=1000).fit().transform([small_png])
    with pytest.raises(ValueError, match="max_pixels"):
        featurizer(max_pixels=0).fit()
    assert VGGClassifier().max_pixels == DEFAULT_MAX_PIXELS
    assert VGGClassifier(max_pixels=None).get_params()["max_pixels"] is None


def test_arrays_are_checked_too():
    with pytest.raises(ImageInputError, match=r"X\[2\] \(numpy array of shape \(100, 120, 3\)\): array of 120x100 pixels"):
        load_rgb(np.zeros((100, 120, 3), np.uint8), index=2, max_pixels=5000)
    with decoding(max_pixels=5000):  # the block's budget is the default inside it
        with pytest.raises(ImageInputError, match="max_pixels=5000"):
            load_rgb(torch.zeros(3, 100, 120))
    assert load_rgb(np.zeros((100, 120, 3), np.uint8), max_pixels=None).size == (120, 100)


@pytest.fixture(scope="module")
def beyond_pillow_png(tmp_path_factory):
    """A 20000x10000 header (200 Mpx, over Pillow's 2 x MAX_IMAGE_PIXELS error threshold), 2 rows of data."""
    return write_gray_png(tmp_path_factory.mktemp("beyond") / "beyond.png", 20000, 10000, rows=2)


def test_pillow_bomb_check_follows_a_larger_budget(beyond_pillow_png, monkeypatch):
    # Outside skvgg, Pillow refuses the header itself.
    with pytest.raises(Image.DecompressionBombError):
        Image.open(beyond_pillow_png)
    # With the default budget, our own refusal (naming the file and the limit), not Pillow's.
    with pytest.raises(ImageInputError, match=r"20000x10000 pixels \(200.0 Mpx\).*max_pixels=89478485"):
        load_rgb(beyond_pillow_png)
    # With no limit, Pillow's check does not stand in the way: decoding is attempted (and
    # here fails on the missing rows, which is a different, named error).
    attempted = []

    def stop_load(self):
        attempted.append(self.size)
        raise OSError("stopped by the test")

    monkeypatch.setattr(ImageFile.ImageFile, "load", stop_load)
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageInputError, match="cannot decode the image data.*stopped by the test"):
            load_rgb(beyond_pillow_png, max_pixels=None)
        with pytest.raises(ImageInputError, match="cannot decode"):
            load_rgb(beyond_pillow_png, max_pixels=300_000_000)
    assert attempted == [(20000, 10000)] * 2
    assert Image.MAX_IMAGE_PIXELS == before  # Pillow's global is never touched


def test_bomb_check_override_is_per_thread(beyond_pillow_png):
    inside, done = threading.Event(), threading.Event()

    def hold_a_block():
        with decoding(max_pixels=None):
            inside.set()
            done.wait(TIMEOUT)

    thread = threading.Thread(target=hold_a_block, daemon=True)
    thread.start()
    try:
        assert inside.wait(TIMEOUT)
        # Another thread, while the first is inside a no-limit block, still gets Pillow's check.
        with pytest.raises(Image.DecompressionBombError):
            Image.open(beyond_pillow_png)
        with pytest.warns(Image.DecompressionBombWarning):
            Image._decompression_bomb_check((12000, 12000))
    finally:
        done.set()
        thread.join(TIMEOUT)


# -- extreme aspect ratios: crops from the source region only -------------------------------


@pytest.mark.parametrize("size", [(60000, 1), (1, 60000)])
def test_extreme_aspect_ratio_gives_a_descriptor(tmp_path, featurizer, size, monkeypatch):
    path = tmp_path / "line.png"
    ramp = (np.arange(max(size)) % 256).astype(np.uint8).reshape(size[1], size[0])
    Image.fromarray(ramp).save(path)
    image = load_rgb(path)

    def no_whole_resize(*args, **kwargs):
        raise AssertionError("the whole image was resized")

    with monkeypatch.context() as patch:
        patch.setattr(skvgg._pipeline.views.TF, "resize", no_whole_resize)
        views = center_view(image, 256, 224, mirror=True)
    assert [tuple(v.shape) for v in views] == [(3, 224, 224)] * 2
    # Those pixels are exactly the crop of the (never materialised) 15-Mpx-wide resize.
    width, height = rescaled_size(*image.size, 256)
    top, left = int(round((height - 224) / 2.0)), int(round((width - 224) / 2.0))
    expected = bilinear_region(image, (width, height), top, left, 224, 224)
    np.testing.assert_array_equal(views[0].permute(1, 2, 0).numpy(), expected)
    # Through the estimator: a finite descriptor, single view and flip.
    out = featurizer(flip=True).fit().transform([path])
    assert out.shape == (1, 512) and np.isfinite(out).all()


def test_dense_view_over_budget_is_a_named_error(tmp_path, featurizer):
    path = tmp_path / "line.png"
    Image.new("L", (60000, 1), 128).save(path)
    with pytest.raises(ImageInputError, match=r"X\[0\] \('.*line.png'\): rescaling this 60000x1 image to shorter side 224 gives"):
        featurizer(scales=224).fit().transform([path])
    # The budget is the budget: a tiny image's 224x224 dense view is over 10000 px too.
    with pytest.raises(ImageInputError, match=r"X\[0\] \(numpy array of shape \(4, 4, 3\)\): .*224x224 view"):
        featurizer(scales=224, max_pixels=10_000).fit().transform([np.zeros((4, 4, 3), np.uint8), path])
    # Multi-crop and random crops only compute their crops.
    image = load_rgb(path)
    assert len(grid_views(image, 256, 224, mirror=False)) == 25
    assert random_view(image, np.random.default_rng(0), scale=(256, 320)).shape == (3, 224, 224)
    with decoding(max_pixels=DEFAULT_MAX_PIXELS), pytest.raises(ImageInputError, match="pixel budget"):
        rescale(image, 256)


# -- exactness: the crop-only path equals the whole resize, bit for bit ---------------------


def _odd_images():
    rng = np.random.default_rng(11)
    photos = load_sample_images()
    for name, pixels in zip(photos.filenames, photos.images):
        yield os.path.basename(name), Image.fromarray(pixels)
    sizes = [(257, 999), (300, 224), (225, 10000), (999, 257), (224, 225), (1001, 1000), (640, 427), (17, 1300), (3, 5)]
    sizes += [tuple(int(v) for v in rng.integers(2, 900, 2)) for _ in range(12)]
    for w, h in sizes:
        yield f"{w}x{h}", Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_region_resample_equals_whole_resize():
    checked = 0
    for name, image in _odd_images():
        for shorter, crop in [(256, 224), (40, 32), (384, 224)]:
            width, height = rescaled_size(*image.size, shorter)
            if crop > min(width, height):
                continue
            resized = image.resize((width, height), Image.BILINEAR) if (width, height) != image.size else image
            whole = np.asarray(resized)
            centre = (int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0)))
            for top, left in [centre, (0, 0), (height - crop, width - crop), (height - crop, 0)]:
                region = bilinear_region(image, (width, height), top, left, crop, crop)
                np.testing.assert_array_equal(region, whole[top : top + crop, left : left + crop], err_msg=f"{name} {shorter}")
                checked += 1
        gray = image.convert("L")
        width, height = rescaled_size(*gray.size, 40)
        if min(width, height) >= 32:
            expected = np.asarray(gray.resize((width, height), Image.BILINEAR))[:32, :32]
            np.testing.assert_array_equal(bilinear_region(gray, (width, height), 0, 0, 32, 32), expected)
    assert checked > 150


def test_crop_only_views_equal_torchvision_preset(monkeypatch):
    """With the crop-only path forced for every size: still torchvision's Resize + CenterCrop."""
    monkeypatch.setattr(skvgg._pipeline.views, "WHOLE_RESIZE_PIXELS", 0)
    resize = T.Resize(256, interpolation=T.InterpolationMode.BILINEAR, antialias=True)
    preset = T.Compose([resize, T.CenterCrop(224), T.PILToTensor()])
    mirrored = T.Compose([T.RandomHorizontalFlip(p=1.0), preset])
    for name, image in _odd_images():
        if min(rescaled_size(*image.size, 256)) < 224 or max(image.size) > 3000:
            continue
        view, mirror = center_view(image, 256, 224, mirror=True)
        assert torch.equal(view, preset(image)), name
        assert torch.equal(mirror, mirrored(image)), name


def test_crop_only_grid_and_random_views_equal_the_whole_path(monkeypatch):
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (301, 517, 3), dtype=np.uint8))
    whole_grid = grid_views(image, 256, 224, mirror=True)
    whole_random = [random_view(image, np.random.default_rng(s), scale=(256, 384), flip=True) for s in range(5)]
    monkeypatch.setattr(skvgg._pipeline.views, "WHOLE_RESIZE_PIXELS", 0)
    assert all(torch.equal(a, b) for a, b in zip(whole_grid, grid_views(image, 256, 224, mirror=True)))
    crop_random = [random_view(image, np.random.default_rng(s), scale=(256, 384), flip=True) for s in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(whole_random, crop_random))


# -- bounded memory while decoding --------------------------------------------------------


def test_decoding_threads_share_a_bounded_allowance(tmp_path, monkeypatch):
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((300, 400, 3), 40 * i, np.uint8)).save(path)
        paths.append(path)
    one_image = 300 * 400 * 4  # Pillow stores RGB in 4 bytes per pixel
    gate = skvgg.images._budget._MemoryGate(int(2.5 * one_image))
    monkeypatch.setattr(skvgg.images._budget, "_GATE", gate)
    peak = []
    original_acquire = gate.acquire

    def acquire(nbytes, holding):
        got = original_acquire(nbytes, holding)
        peak.append(gate.in_use)
        return got

    gate.acquire = acquire
    seen = set()

    def make_groups(image, index):
        seen.add(index)
        return [ViewGroup([torch.zeros(3, 4, 4, dtype=torch.uint8)])]

    batches = finishes(lambda: list(batched_groups(paths, range(6), make_groups, batch_size=2, num_workers=4)))
    assert seen == set(range(6)) and sum(len(b.units) for b in batches) == 6
    assert max(peak) <= 2 * one_image < gate.capacity  # at most two decoded at once
    assert gate.in_use == 0  # everything given back
    # An image larger than the whole allowance is decoded alone, not refused or deadlocked.
    small_gate = skvgg.images._budget._MemoryGate(one_image // 3)
    monkeypatch.setattr(skvgg.images._budget, "_GATE", small_gate)
    batches = finishes(lambda: list(batched_groups(paths, range(6), make_groups, batch_size=2, num_workers=4)))
    assert sum(len(b.units) for b in batches) == 6 and small_gate.in_use == 0


def test_decoded_images_are_dropped_once_views_exist(tmp_path, monkeypatch):
    paths = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((60, 80, 3), 20 * i, np.uint8)).save(path)
        paths.append(path)
    decoded = {}
    original = skvgg._pipeline.batches.load_rgb

    def tracking_load(item, index):
        image = original(item, index)
        decoded[index] = weakref.ref(image)
        return image

    monkeypatch.setattr(skvgg._pipeline.batches, "load_rgb", tracking_load)
    groups = lambda image, index: [ViewGroup(center_view(image, 40, 32))]  # noqa: E731
    stream = batched_groups(paths, range(8), groups, batch_size=2, num_workers=2)
    first = next(stream)  # the workers have decoded ahead (lookahead 4)
    # A worker may still be cutting views from the image it decodes right now: give the
    # decodes in flight time to finish. A leak keeps images alive however long we wait.
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        alive = [i for i, ref in decoded.items() if ref() is not None]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(decoded) >= 2
    assert alive == []  # only views are held
    assert first.pixels.shape == (2, 3, 32, 32)
    stream.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")
def test_regular_files_still_decode_after_the_checks(small_png):
    # The descriptor path (fstat'd descriptor, not the name) gives the very same pixels.
    with Image.open(small_png) as img:
        expected = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(np.asarray(load_rgb(small_png)), expected)
