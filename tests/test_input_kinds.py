"""Input kinds beyond paths and arrays: encoded bytes, file objects, binary table columns, image dicts, URLs.

Every kind must give the descriptor of the same image given as a file (same decode path,
pixel budget and error naming).
"""

import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skvgg import ImageInputError, Preprocessing, VGGFeaturizer
from skvgg.images import check_images, describe_item, image_key, load_rgb

SMALL = Preprocessing(resize_size=40, crop_size=32)


def _jpeg_bytes(seed, orientation=None):
    """A 48x64 JPEG, optionally with an EXIF orientation (so the same EXIF rule must apply to bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """Two images as bytes and as files."""
    folder = tmp_path_factory.mktemp("kinds")
    data = [_jpeg_bytes(1, orientation=6), _jpeg_bytes(2)]
    paths = []
    for i, blob in enumerate(data):
        path = folder / f"img{i}.jpg"
        path.write_bytes(blob)
        paths.append(str(path))
    return data, paths


@pytest.fixture(scope="module")
def reference(encoded, vgg11_file):
    """The featurizer and the descriptors of the images given as files."""
    featurizer = VGGFeaturizer(arch="vgg11", weights=vgg11_file, device="cpu", preprocessing=SMALL, layer="pool5").fit()
    _, paths = encoded
    return featurizer, featurizer.transform(paths)


def _assert_same(featurizer, X, expected):
    np.testing.assert_array_equal(featurizer.transform(X), expected)


def test_bytes_like_and_file_objects_equal_the_file(encoded, reference, tmp_path):
    featurizer, expected = reference
    data, paths = encoded
    # The same position for every kind, each image given both ways.
    _assert_same(featurizer, [data[0], bytearray(data[1])], expected)
    _assert_same(featurizer, [memoryview(data[0]), io.BytesIO(data[1])], expected)
    # A slice of a larger buffer is read as the bytes it shows.
    _assert_same(featurizer, [memoryview(b"prefix" + data[0])[6:], memoryview(bytearray(data[1]))], expected)
    with open(paths[0], "rb") as first, open(paths[1], "rb") as second:
        second.read(10)  # its position is not where the image starts, and is restored
        _assert_same(featurizer, [first, second], expected)
        assert second.tell() == 10
    # A BytesIO just written to (position at its end) is read from its start, as Image.open does.
    written = io.BytesIO()
    written.write(data[1])
    _assert_same(featurizer, [data[0], written], expected)


def test_binary_table_columns_equal_the_file(encoded, reference):
    pa = pytest.importorskip("pyarrow")
    featurizer, expected = reference
    data, _ = encoded
    _assert_same(featurizer, pd.Series(data), expected)
    _assert_same(featurizer, pd.DataFrame({"image": data}), expected)
    _assert_same(featurizer, pa.array(data, type=pa.binary()), expected)
    _assert_same(featurizer, pa.array(data, type=pa.large_binary()), expected)
    _assert_same(featurizer, pa.chunked_array([[data[0]], [data[1]]], type=pa.binary()), expected)
    _assert_same(featurizer, pa.table({"image": pa.array(data, type=pa.binary())}), expected)


def test_polars_binary_columns_equal_the_file(encoded, reference):
    pl = pytest.importorskip("polars")
    featurizer, expected = reference
    data, _ = encoded
    _assert_same(featurizer, pl.Series("image", data, dtype=pl.Binary), expected)
    _assert_same(featurizer, pl.DataFrame({"image": pl.Series(data, dtype=pl.Binary)}), expected)


def test_hugging_face_image_dicts_equal_the_file(encoded, reference):
    featurizer, expected = reference
    data, paths = encoded
    # datasets' Image feature: bytes when present (its path is then only a name), else the path.
    _assert_same(featurizer, [{"bytes": data[0], "path": "img0.jpg"}, {"bytes": None, "path": paths[1]}], expected)
    _assert_same(featurizer, [{"bytes": data[0]}, {"path": paths[1]}], expected)
    # As a datasets table stores them in parquet: a struct column <bytes: binary, path: string>.
    pa = pytest.importorskip("pyarrow")
    column = pa.array([{"bytes": data[0], "path": "img0.jpg"}, {"bytes": data[1], "path": None}])
    _assert_same(featurizer, pa.table({"image": column}), expected)
    _assert_same(featurizer, pd.DataFrame({"image": column.to_pylist()}), expected)


def test_mixed_kinds_in_one_x(encoded, reference):
    featurizer, expected = reference
    data, paths = encoded
    out = featurizer.transform([paths[0], data[1], {"bytes": data[0], "path": None}, io.BytesIO(data[1])])
    np.testing.assert_array_equal(out, np.concatenate([expected, expected]))


def test_content_keys_of_in_memory_inputs(encoded):
    data, paths = encoded
    key = image_key(data[0])
    assert key == image_key(bytearray(data[0])) == image_key(memoryview(data[0])) == image_key(io.BytesIO(data[0]))
    assert key == image_key({"bytes": data[0], "path": "anything.jpg"})
    assert key != image_key(data[1]) and key != image_key(paths[0])  # content vs a file's identity
    assert image_key({"bytes": None, "path": paths[1]}) == image_key(paths[1])
    assert image_key(data[0] + b"\0") != key  # every byte counts


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://example.com/cat.jpg", "URLs are not read: download first"),
        ("http://example.com/cat.jpg", "URLs are not read: download first"),
        ("s3://bucket/cat.jpg", "URLs are not read: download first"),
        ("gs://bucket/cat.jpg", "URLs are not read: download first"),
        ("HF://datasets/x/cat.jpg", "URLs are not read: download first"),
        ("file:///data/cat.jpg", "file:// URLs are not read: pass the local path"),
    ],
)
def test_urls_are_named_as_urls_not_missing_files(url, message, reference):
    with pytest.raises(ImageInputError, match=r"X\[1\] \('" + url.replace(".", r"\.") + "'\\): " + message) as info:
        load_rgb(url, index=1)
    assert "file not found" not in str(info.value)
    with pytest.raises(ImageInputError, match=message):
        image_key(url)
    featurizer, _ = reference
    with pytest.raises(ImageInputError, match=rf"X\[0\].*{message}"):
        featurizer.transform([url])
    with pytest.raises(ImageInputError, match=message):
        featurizer.transform([{"bytes": None, "path": url}])


def test_a_local_file_named_like_a_url_is_read(tmp_path, monkeypatch):
    # "http://x/y.jpg" is the relative path http:/x/y.jpg on POSIX: an existing file is read.
    monkeypatch.chdir(tmp_path)
    os.makedirs("http:/x")
    Image.new("RGB", (5, 4), (10, 20, 30)).save("http:/x/y.png")
    assert load_rgb("http://x/y.png").size == (5, 4)


def test_bad_in_memory_inputs_are_named(tmp_path):
    with pytest.raises(ImageInputError, match=r"^X\[0\] \(bytes of 12 bytes\): not a recognised image file"):
        load_rgb(b"hello, world", index=0)
    with pytest.raises(ImageInputError, match=r"X\[1\] \(bytes of 0 bytes\): empty data"):
        check_images([b"\xff", b""])
    with pytest.raises(ImageInputError, match=r"X\[0\].*text-mode file object; open the file in binary mode"):
        check_images([io.StringIO("abc")])
    closed = io.BytesIO(b"abc")
    closed.close()
    with pytest.raises(ImageInputError, match=r"X\[0\].*closed file object"):
        check_images([closed])
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream, os.fdopen(write_end, "wb"):
        with pytest.raises(ImageInputError, match=r"X\[0\].*cannot seek.*read only once; pass its bytes"):
            check_images([stream])
    with pytest.raises(ImageInputError, match=r"X\[2\] \(image dict\): image dict holds neither bytes nor a path"):
        check_images([b"x", b"y", {"bytes": None, "path": None}])
    with pytest.raises(ImageInputError, match=r"image dict 'bytes' holds str; expected bytes"):
        check_images([{"bytes": "not bytes", "path": None}])
    with pytest.raises(TypeError, match=r"unsupported item type dict \(keys \['image', 'label'\]"):
        check_images([{"image": b"x", "label": 3}])
    # A truncated encoding fails like a truncated file, naming the kind and size.
    blob = _jpeg_bytes(3)
    with pytest.raises(ImageInputError, match=rf"X\[0\] \(bytes of {len(blob) // 2} bytes\): cannot decode"):
        load_rgb(blob[: len(blob) // 2], index=0)
    path = tmp_path / "named.jpg"
    path.write_bytes(b"not an image")
    with open(path, "rb") as handle:
        with pytest.raises(ImageInputError, match=r"file object _io\.BufferedReader named '.*named\.jpg'\): not a recognised"):
            load_rgb(handle)


def test_the_pixel_budget_applies_to_bytes_before_decoding():
    blob = _jpeg_bytes(4)  # 64x48 = 3072 pixels
    with pytest.raises(ImageInputError, match=r"bytes of \d+ bytes\): image of 64x48 pixels .* exceeds the pixel budget"):
        load_rgb(blob, max_pixels=3000)
    assert load_rgb(blob, max_pixels=3072).size == (64, 48)


def test_single_encoded_images_and_bytes_arrays_are_refused_as_containers():
    with pytest.raises(TypeError, match=r"X is a single image \(bytes of 3 bytes\).*wrap it in a list"):
        check_images(b"abc")
    with pytest.raises(TypeError, match=r"X is a single image \(file object _io\.BytesIO\)"):
        check_images(io.BytesIO(b"abc"))
    with pytest.raises(TypeError, match=r"X is a single image \(image dict with 3 bytes\)"):
        check_images({"bytes": b"abc", "path": None})
    # numpy strips the trailing NULs of 'S' items: an encoding would lose its last bytes.
    assert np.array([b"ab\0"])[0] == b"ab"
    with pytest.raises(ValueError, match=r"fixed-size bytes \(dtype \|S3\).*lose their trailing NUL bytes"):
        check_images(np.array([b"ab\0", b"cd\0"]))
    assert check_images(np.array([b"ab\0", b"cd\0"], dtype=object))[0] == b"ab\0"


def test_describe_item_names_each_kind(tmp_path):
    assert describe_item(b"abcd") == ("bytes of 4 bytes", None)
    assert describe_item(bytearray(3)) == ("bytearray of 3 bytes", None)
    assert describe_item(memoryview(np.zeros(3, np.float32))) == ("memoryview of 12 bytes", None)
    assert describe_item(io.BytesIO(b"x")) == ("file object _io.BytesIO", None)
    assert describe_item({"bytes": b"ab", "path": "x.jpg"}) == ("image dict with 2 bytes, path 'x.jpg'", None)
    assert describe_item({"bytes": None, "path": "/d/x.jpg"}) == ("image dict with path '/d/x.jpg'", "/d/x.jpg")


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dok", "lil", "dia", "bsr"])
@pytest.mark.parametrize("container", ["matrix", "array"])
def test_every_sparse_format_is_refused_as_sparse(fmt, container):
    # scipy's DOK format is a dict whose truth value raises: it must meet the sparse message,
    # not crash in the check for a single Hugging Face image dict.
    import scipy.sparse as sp

    make = sp.csr_matrix if container == "matrix" else sp.csr_array
    X = make(np.ones((10, 3))).asformat(fmt)
    with pytest.raises(TypeError, match="sparse input is not supported"):
        check_images(X)


def test_a_mapping_item_that_refuses_bool_is_not_an_image_dict():
    import scipy.sparse as sp

    item = sp.dok_matrix(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"X\[0\] .*unsupported item type"):
        check_images([item])
