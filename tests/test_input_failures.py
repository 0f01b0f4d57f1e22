"""Classes of silent input failure, each fixed at its cause (issue 18 item 4), with examples of each.

- a PIL image or file object in X more than once, or in two threads' X, is read by one thread at a time;
- a path is checked as the kernel resolves it before any cache lookup;
- CSV values are paths read verbatim, relative to the CSV file's folder;
- the folder walk takes what Pillow identifies and names what it skips;
- a file replaced with its size and modification time restored gets a new cache key;
- torchvision's decoders run without changing the process-wide warning filters.
"""

import io
import os
import struct
import threading
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile, features

from skvgg import ImageInputError, Preprocessing, VGGFeaturizer
from skvgg.cli import main
from skvgg.images import expand_inputs, image_key, is_image_file, load_rgb

SMALL = Preprocessing(resize_size=40, crop_size=32)


def _noise(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path, seed=0, fmt=None, size=(24, 18), **params):
    Image.fromarray(_noise((size[1], size[0], 3), seed)).save(path, fmt, **params)
    return str(path)


@pytest.fixture(scope="module")
def featurizer(vgg11_file):
    return VGGFeaturizer(arch="vgg11", weights=vgg11_file, device="cpu", preprocessing=SMALL, layer="pool5").fit()


# -- shared objects: one reader at a time ---------------------------------------------------


@pytest.fixture
def concurrent_loads(monkeypatch):
    """Records, per image object, the most threads decoding it in Pillow's load() at once (load made slow)."""
    original = ImageFile.ImageFile.load
    inside, most, lock = {}, {}, threading.Lock()

    def slow_load(self):
        if not self.tile:  # already decoded: load() only returns the pixel access
            return original(self)
        with lock:
            inside[id(self)] = inside.get(id(self), 0) + 1
            most[id(self)] = max(most.get(id(self), 0), inside[id(self)])
        try:
            time.sleep(0.02)  # a window for a second thread to enter
            return original(self)
        finally:
            with lock:
                inside[id(self)] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    return most


def test_a_shared_unloaded_pil_image_is_loaded_by_one_thread(tmp_path, concurrent_loads):
    path = _save(tmp_path / "shared.png", seed=1)
    for reader in (load_rgb, image_key):
        image = Image.open(path)  # lazy: load() decodes, and changes the object
        barrier = threading.Barrier(4)

        def read(_, image=image, reader=reader, barrier=barrier):
            barrier.wait()
            return reader(image)

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(read, range(4)))
        assert concurrent_loads[id(image)] == 1, reader.__name__
        if reader is load_rgb:
            for rgb in results:
                np.testing.assert_array_equal(np.asarray(rgb), np.asarray(Image.open(path).convert("RGB")))
        else:
            assert len(set(results)) == 1


def test_the_same_pil_image_many_times_in_x(tmp_path, featurizer, concurrent_loads):
    path = _save(tmp_path / "repeated.png", seed=2)
    image = Image.open(path)
    expected = featurizer.transform([path])
    out = featurizer.set_params(num_workers=4).transform([image] * 6)
    featurizer.set_params(num_workers=None)
    assert concurrent_loads[id(image)] == 1
    np.testing.assert_array_equal(out, np.repeat(expected, 6, axis=0))


def test_the_same_file_object_many_times_in_x(tmp_path, featurizer):
    paths = [_save(tmp_path / f"f{i}.jpg", seed=10 + i) for i in range(2)]
    expected = featurizer.transform(paths)
    with open(paths[0], "rb") as first:
        second = io.BytesIO(open(paths[1], "rb").read())
        X = [first, second] * 4
        out = featurizer.set_params(num_workers=4).transform(X)
        featurizer.set_params(num_workers=None)
    np.testing.assert_array_equal(out, np.tile(expected, (4, 1)))


# -- paths as the kernel resolves them, before the cache ---------------------------------------


def test_paths_the_kernel_cannot_open_get_no_key(tmp_path):
    path = _save(tmp_path / "cat.png", seed=3)
    image_key(path)  # the file itself has a key
    for unopenable in (str(tmp_path / "missing" / ".." / "cat.png"), path + "/", path + "/.", str(tmp_path / "cat.png" / "..")):
        with pytest.raises(ImageInputError, match=r"file not found|cannot open the file|is a directory"):
            image_key(unopenable)
        with pytest.raises(ImageInputError):
            load_rgb(unopenable)


def test_a_symlink_then_dotdot_follows_the_kernel_not_the_string(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    outer = _save(tmp_path / "cat.png", seed=4)
    inner = _save(tmp_path / "sub" / "cat.png", seed=5)
    (tmp_path / "link").symlink_to(tmp_path / "sub" / "deeper")
    tricky = str(tmp_path / "link" / ".." / "cat.png")  # the kernel: sub/cat.png; os.path.normpath: cat.png
    assert os.path.normpath(tricky) == outer
    assert image_key(tricky) == image_key(inner) != image_key(outer)
    np.testing.assert_array_equal(np.asarray(load_rgb(tricky)), np.asarray(load_rgb(inner)))


def test_the_cache_never_serves_a_path_the_kernel_cannot_open(tmp_path, featurizer):
    path = _save(tmp_path / "cat.png", seed=6)
    cached = featurizer.set_params(cache=True)
    try:
        cached.transform([path])  # now in the memory cache
        for unopenable in (str(tmp_path / "missing" / ".." / "cat.png"), path + "/"):
            with pytest.raises(ImageInputError, match=r"X\[1\]"):
                cached.transform([path, unopenable])
    finally:
        featurizer.set_params(cache=None)


# -- a replaced file with size and mtime restored ---------------------------------------------


def _bmp_pair(tmp_path):
    """Two BMPs of equal size (uncompressed, same dimensions) and different pixels."""
    a, b = tmp_path / "a.bmp", tmp_path / "b.bmp"
    _save(a, seed=7, fmt="BMP")
    _save(b, seed=8, fmt="BMP")
    assert a.stat().st_size == b.stat().st_size and a.read_bytes() != b.read_bytes()
    return a, b


def _restore_times(path, status):
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    now = os.stat(path)
    assert (now.st_size, now.st_mtime_ns) == (status.st_size, status.st_mtime_ns)


@pytest.mark.parametrize("how", ["renamed over (cp -p, rsync -t)", "rewritten in place"])
def test_a_replaced_file_with_size_and_mtime_restored_is_not_served_stale(tmp_path, featurizer, how):
    a, b = _bmp_pair(tmp_path)
    target = tmp_path / "photo.bmp"
    target.write_bytes(a.read_bytes())
    before = os.stat(target)
    key = image_key(target)
    cached = featurizer.set_params(cache=str(tmp_path / "cache"))
    try:
        first = cached.transform([str(target)])
        time.sleep(0.01)  # a distinct change time on coarse clocks
        if how.startswith("renamed"):
            staging = tmp_path / "staging.bmp"
            staging.write_bytes(b.read_bytes())
            os.replace(staging, target)
        else:
            with open(target, "r+b") as handle:
                handle.write(b.read_bytes())
        _restore_times(target, before)
        assert image_key(target) != key
        second = cached.transform([str(target)])
    finally:
        featurizer.set_params(cache=None)
    np.testing.assert_array_equal(second, featurizer.transform([str(b)]))
    assert not np.array_equal(first, second)


# -- CSV files: verbatim strings, relative to the CSV ----------------------------------------


def test_csv_values_are_verbatim_paths_relative_to_the_csv(tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "list.csv").write_text(
        "path,label\nNA,1\nnull,2\n0042,3\n spaced.png,4\nsub/x.png,5\n"
        f"{tmp_path / 'abs.png'},6\nhttps://example.com/a.jpg,7\nTrue,8\n1e3,9\n",
        encoding="utf-8",
    )
    # Decoys in the working directory with the same names: never taken.
    monkeypatch.chdir(tmp_path)
    for name in ("NA", "null", "0042"):
        (tmp_path / name).write_bytes(b"decoy")
    paths = expand_inputs([str(lists / "list.csv")], report=pytest.fail)
    expected = [os.path.join(str(lists), name) for name in ("NA", "null", "0042", " spaced.png", "sub/x.png")]
    assert paths == [*expected, str(tmp_path / "abs.png"), "https://example.com/a.jpg", str(lists / "True"), str(lists / "1e3")]


def test_csv_errors_name_the_file_and_line(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text('path\na.png\n""\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.csv, line 3: column 'path' is empty"):
        expand_inputs([str(listing)])
    listing.write_text("file,label\na.png,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"has columns \['file', 'label'\]; name the one holding image paths with --path-column"):
        expand_inputs([str(listing)])
    assert expand_inputs([str(listing)], path_column="file") == [str(tmp_path / "a.png")]
    listing.write_bytes("\ufeffpath\nb.png\n".encode())  # a BOM, as spreadsheet programs write
    assert expand_inputs([str(listing)]) == [str(tmp_path / "b.png")]
    listing.write_bytes(b"path\n\xff\xfe.png\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        expand_inputs([str(listing)])
    with pytest.raises(ValueError, match=r"CSV file .*nope\.csv not found"):
        expand_inputs([str(tmp_path / "nope.csv")])


def test_cli_reads_csv_names_that_pandas_would_turn_into_missing_values(tmp_path, capsys, monkeypatch, vgg11_file):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed, name in enumerate(("NA", "0042")):
        _save(folder / name, seed=20 + seed, fmt="PNG")  # no extension: read by content
    pd.DataFrame({"path": ["NA", "0042"]}).to_csv(folder / "list.csv", index=False)
    monkeypatch.chdir(tmp_path)  # relative to the CSV, not here
    output = tmp_path / "out.csv"
    code = main(["featurize", str(folder / "list.csv"), "-o", str(output), "--arch", "vgg11", "--weights", str(vgg11_file),
                 "--layer", "pool5", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert [os.path.basename(p) for p in table["path"]] == ["NA", "0042"]


def test_cli_names_urls_before_describing(tmp_path, capsys, vgg11_file):
    code = main(["featurize", "https://example.com/cat.jpg", "-o", str(tmp_path / "o.npz"), "--arch", "vgg11",
                 "--weights", str(vgg11_file), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "URLs are not read: download first" in err and "file not found" not in err


# -- the folder walk: what Pillow identifies, skipped files named ----------------------------


def _big_exif_jpeg_bytes():
    """A JPEG whose EXIF segment pushes the frame header past the walk's 4 KiB header read."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 20_000  # ImageDescription
    buffer = io.BytesIO()
    Image.fromarray(_noise((10, 12, 3), 9)).save(buffer, "JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    assert len(data) > 20_000
    return data


def test_the_walk_takes_every_file_pillow_identifies(tmp_path):
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    taken = [
        _save(root / "a.gif", seed=1),
        _save(root / "b.jfif", seed=2, fmt="JPEG"),
        _save(root / "c.ico", seed=3, size=(16, 16)),
        _save(root / "no_extension", seed=4, fmt="PNG"),
        _save(root / "nested" / "d.dat", seed=5, fmt="JPEG"),
        _save(root / "e.JPG", seed=6, fmt="JPEG"),
        _save(root / "f.webp", seed=7),
    ]
    if features.check("avif"):
        taken.append(_save(root / "g.avif", seed=8))
    big = root / "nested" / "big_exif"
    big.write_bytes(_big_exif_jpeg_bytes())
    taken.append(str(big))
    (root / "notes.txt").write_text("not an image\n")
    (root / "README").write_text("P6 is a PPM magic number, but this is text\n")
    (root / "nested" / "blob.bin").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "empty").write_bytes(b"")
    # Pillow identifies HDF5 (a stub: it cannot decode it) by extension and signature: not an image.
    (root / "weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(5000))
    (root / "loop").symlink_to(root)  # a link back up the tree is walked once
    messages = []
    paths = expand_inputs([str(root)], report=messages.append)
    assert paths == sorted(taken)
    (message,) = messages
    assert "skipped 5 file(s)" in message and "Pillow does not identify as images" in message
    for name in ("'notes.txt'", "'README'", "'nested/blob.bin'", "'empty'", "'weights.h5'"):
        assert name in message
    # Every file taken decodes.
    for path in paths:
        assert load_rgb(path).mode == "RGB"


def test_is_image_file_reads_a_bounded_header(tmp_path, monkeypatch):
    import skvgg.images._sources as sources

    big = tmp_path / "big_exif"
    big.write_bytes(_big_exif_jpeg_bytes())
    reads = []

    class Recording(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    def opening(path):
        with open(path, "rb") as handle:
            return Recording(handle.read())

    monkeypatch.setattr(sources, "open_regular_file", opening)
    assert is_image_file(big)
    assert reads and all(0 < size <= 4096 for size in reads)
    assert not is_image_file(tmp_path)  # a folder
    assert not is_image_file(tmp_path / "missing")


def test_the_walk_reports_on_stderr_by_default(tmp_path, capsys):
    _save(tmp_path / "a.png")
    (tmp_path / "b.csv").write_text("path\n")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / "a.png")]
    assert "skipped 1 file(s)" in capsys.readouterr().err


def test_a_folder_that_cannot_be_listed_is_named(tmp_path):
    """chmod 0 on a subfolder; as root, run without CAP_DAC_OVERRIDE (as test_cache does)."""
    import shutil
    import subprocess
    import sys

    _save(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    _save(locked / "b.png")
    script = "import sys; from skvgg.images import expand_inputs; print(expand_inputs([sys.argv[1]]))"
    command = [sys.executable, "-c", script, str(tmp_path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (to drop CAP_DAC_OVERRIDE) is not installed")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--", *command]
    locked.chmod(0)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([str(tmp_path / "a.png")])
    assert f"cannot list folder {locked} (Permission denied)" in result.stderr


def test_a_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no image files"):
        expand_inputs([str(tmp_path)], report=lambda message: None)


# -- torchvision's decoders leave the warning filters alone ---------------------------------


def _png16_rgb(height, width, seed):
    samples = np.random.default_rng(seed).integers(0, 65536, (height, width, 3), dtype=np.uint16)
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in samples)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return png, samples


def test_16bit_decoding_in_threads_leaves_warning_filters_alone(tmp_path):
    png, samples = _png16_rgb(6, 5, seed=1)
    path = tmp_path / "deep.png"
    path.write_bytes(png)
    filters = warnings.filters
    snapshot = list(filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inside = warnings.filters
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: np.asarray(load_rgb(path)), range(8)))
        # catch_warnings() in a thread would have swapped the module's list for a copy.
        assert warnings.filters is inside
    assert warnings.filters is filters and list(filters) == snapshot
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)], [str(w.message) for w in caught]
    expected = ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8)
    for rgb in results:
        np.testing.assert_array_equal(rgb, expected)


# -- one EXIF table for PIL images and tensors ---------------------------------------------


def test_one_exif_table_for_pil_images_and_tensors():
    import torch

    from skvgg.images import EXIF_TRANSPOSE, exif_transpose_method, orient_tensor

    pixels = _noise((3, 5, 3), seed=30)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)
    assert sorted(EXIF_TRANSPOSE) == list(range(2, 9))
    for orientation in range(0, 10):
        method = exif_transpose_method(orientation)
        expected = np.asarray(Image.fromarray(pixels).transpose(method)) if method is not None else pixels
        turned = orient_tensor(tensor, orientation)
        np.testing.assert_array_equal(turned.permute(1, 2, 0).numpy(), expected, err_msg=str(orientation))


def test_torchvision_decoders_match_the_public_functions_without_their_notice(tmp_path):
    import torch
    import torchvision.io

    from skvgg.images import decode_jpegs
    from skvgg.images._tvio import decode_unchanged

    png, _ = _png16_rgb(4, 3, seed=2)
    jpegs = [torch.frombuffer(bytearray(blob), dtype=torch.uint8) for blob in _two_jpegs()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = decode_unchanged(torch.frombuffer(bytearray(png), dtype=torch.uint8))
        ours_jpegs = decode_jpegs(jpegs, "cpu")
    assert not caught, [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = torchvision.io.decode_image(torch.frombuffer(bytearray(png), dtype=torch.uint8))
        theirs_jpegs = torchvision.io.decode_jpeg(jpegs, mode=torchvision.io.ImageReadMode.RGB)
    assert ours.dtype == torch.uint16 and torch.equal(ours.view(torch.int16), theirs.view(torch.int16))
    assert len(ours_jpegs) == 2 and all(torch.equal(a, b) for a, b in zip(ours_jpegs, theirs_jpegs))


def _two_jpegs():
    out = []
    for seed in (1, 2):
        buffer = io.BytesIO()
        Image.fromarray(_noise((6, 7, 3), seed)).save(buffer, "JPEG")
        out.append(buffer.getvalue())
    return out
