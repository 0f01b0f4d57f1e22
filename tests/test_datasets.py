"""Dataset loaders: the real layouts, every error path, and download=True (simulated offline)."""

import os
import re
import shutil
import urllib.error

import numpy as np
import pandas as pd
import pytest
import torchvision.datasets
from PIL import Image

from skvgg import DatasetDownloadError, DatasetFormatError, DatasetNotFoundError
from skvgg.datasets import (
    VOC_CLASSES,
    load_caltech101,
    load_caltech256,
    load_image_folder,
    load_voc,
    load_voc2007,
    load_voc2012,
)
from skvgg.testing import (
    CALTECH101_COUNTS,
    CALTECH256_COUNTS,
    VOC_IMAGES,
    make_caltech101,
    make_caltech256,
    make_image_folder,
    make_voc,
    voc_target,
)


def _check_bunch(data, n):
    assert len(data.paths) == n == len(data.frame)
    assert all(isinstance(p, str) and os.path.isabs(p) and os.path.isfile(p) for p in data.paths)
    assert list(data.frame["path"]) == data.paths
    assert isinstance(data.DESCR, str) and data.DESCR
    assert os.path.isdir(data.root)


# -- Caltech-101 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["standard", "torchvision"])
def test_caltech101_layouts(tmp_path, layout):
    base = make_caltech101(tmp_path, layout=layout)
    for root in (tmp_path, base):
        data = load_caltech101(root)
        _check_bunch(data, sum(CALTECH101_COUNTS.values()))
        assert data.root == str(base)
        # sorted() order: upper case first, as torchvision's Caltech101
        assert data.target_names == ["BACKGROUND_Google", "Faces", "Faces_easy", "accordion", "airplanes"]
        expected = [name for name, n in CALTECH101_COUNTS.items() for _ in range(n)]
        assert list(data.target) == expected
        assert list(data.frame["label"]) == expected
        assert data.paths[0] == str(base / "BACKGROUND_Google" / "image_0001.jpg")
        assert data.paths == sorted(data.paths)
        assert data.ignored == []


def test_caltech101_images_are_real_jpegs(tmp_path):
    make_caltech101(tmp_path)
    path = load_caltech101(tmp_path).paths[-1]
    with Image.open(path) as img:
        assert img.format == "JPEG" and img.size == (40, 30)


def test_caltech101_background_and_descr(tmp_path):
    make_caltech101(tmp_path)
    data = load_caltech101(tmp_path, include_background=False)
    assert "BACKGROUND_Google" not in data.target_names
    assert "BACKGROUND_Google" not in set(data.target)
    assert len(data.paths) == sum(CALTECH101_COUNTS.values()) - CALTECH101_COUNTS["BACKGROUND_Google"]
    for number in ("91.8", "92.3", "92.7", "30 training", "50 test", "mean class recall"):
        assert number in data.DESCR


def test_caltech101_missing_tree(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError, match=f"directory {re.escape(str(missing))} does not exist"):
        load_caltech101(missing)
    expected = re.escape(
        f"expected {tmp_path}/101_ObjectCategories/<class>/*.jpg: directory {tmp_path}/101_ObjectCategories not found"
    )
    with pytest.raises(DatasetNotFoundError, match=expected) as info:
        load_caltech101(tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert "caltech101/101_ObjectCategories" in str(info.value)  # torchvision's layout was tried too
    assert "download=True" in str(info.value)


def test_caltech101_empty_class_and_no_class(tmp_path):
    base = make_caltech101(tmp_path, counts={"accordion": 2, "ant": 0})
    with pytest.raises(DatasetFormatError, match=re.escape(f"class folder {base / 'ant'} contains no *.jpg")):
        load_caltech101(tmp_path)
    shutil.rmtree(base)
    base.mkdir()
    (base / "README.txt").write_text("not a class")
    with pytest.raises(DatasetFormatError, match="no class folders in"):
        load_caltech101(tmp_path)


def test_caltech101_non_images_are_listed_not_dropped_silently(tmp_path):
    base = make_caltech101(tmp_path, counts={"accordion": 2})
    (base / "accordion" / "notes.txt").write_text("x")
    (base / "accordion" / ".DS_Store").write_text("x")
    data = load_caltech101(tmp_path)
    assert len(data.paths) == 2
    assert sorted(data.ignored) == sorted([str(base / "accordion" / ".DS_Store"), str(base / "accordion" / "notes.txt")])


def test_root_type_and_flag_validation(tmp_path):
    # validate_params' messages (issue 9): the parameter, the function, what it must be, what it got
    with pytest.raises(TypeError, match=r"'root' parameter of load_caltech101 must be an instance of 'str' or .*os.PathLike"):
        load_caltech101(3)
    with pytest.raises(TypeError, match="'download' parameter of load_caltech101 must be an instance of 'bool'.* Got 'yes'"):
        load_caltech101(tmp_path, download="yes")


# -- Caltech-256 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["standard", "torchvision"])
def test_caltech256_layouts_and_quirks(tmp_path, layout):
    base = make_caltech256(tmp_path, layout=layout)
    for root in (tmp_path, base):
        data = load_caltech256(root)
        _check_bunch(data, sum(CALTECH256_COUNTS.values()))
        assert data.target_names == ["ak47", "american-flag", "dog", "spider", "clutter"]
        assert list(data.frame["class_number"].unique()) == [1, 2, 56, 198, 257]
        assert data.target[0] == "ak47" and data.target[-1] == "clutter"
        assert data.paths[0] == str(base / "001.ak47" / "001_0001.jpg")
        # the real archive's non-images are listed, not read as images
        assert sorted(data.ignored) == [str(base / "056.dog" / "greg"), str(base / "198.spider" / "RENAME2")]
    assert "85.0" in data.DESCR and "86.2" in data.DESCR and "60 training" in data.DESCR


def test_caltech256_numeric_order_and_clutter(tmp_path):
    make_caltech256(tmp_path, counts={"10.ten": 1, "9.nine": 1, "257.clutter": 2, "100.hundred": 1})
    data = load_caltech256(tmp_path)
    assert data.target_names == ["nine", "ten", "hundred", "clutter"]
    data = load_caltech256(tmp_path, include_clutter=False)
    assert data.target_names == ["nine", "ten", "hundred"]
    assert "clutter" not in set(data.target)


def test_caltech256_malformed(tmp_path):
    base = make_caltech256(tmp_path, counts={"001.ak47": 1, "ak48": 1})
    with pytest.raises(DatasetFormatError, match=r"ak48 is not named NNN.<name> \(e.g. 001.ak47\)"):
        load_caltech256(tmp_path)
    shutil.rmtree(base / "ak48")
    make_caltech256(tmp_path, counts={"001.ak47b": 1})
    with pytest.raises(DatasetFormatError, match="001.ak47 and 001.ak47b .* have the same number"):
        load_caltech256(tmp_path)
    shutil.rmtree(base / "001.ak47b")
    make_caltech256(tmp_path, counts={"002.bat": 0})
    with pytest.raises(DatasetFormatError, match=re.escape(f"class folder {base / '002.bat'} contains no *.jpg")):
        load_caltech256(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="256_ObjectCategories/NNN.<name>/\\*.jpg"):
        load_caltech256(tmp_path / "other")


# -- Image folder ----------------------------------------------------------------------------------------


def test_image_folder_matches_torchvision(tmp_path):
    root = make_image_folder(tmp_path / "imgs", counts={"cat": 3, "dog": 2, "ant": 1}, nested=True)
    data = load_image_folder(root)
    reference = torchvision.datasets.ImageFolder(str(root))
    assert data.target_names == reference.classes == ["ant", "cat", "dog"]
    assert data.paths == [p for p, _ in reference.samples]
    assert list(data.target) == [reference.classes[k] for _, k in reference.samples]
    _check_bunch(data, 3 + 2 + 1 + 3)
    assert "3 classes" in data.DESCR


def test_image_folder_extensions_and_ignored(tmp_path):
    root = make_image_folder(tmp_path, counts={"a": 2, "b": 1}, extension=".PNG")
    make_image_folder(tmp_path, counts={"a": 1}, extension=".jpg")
    (tmp_path / "a" / "labels.csv").write_text("x")
    (tmp_path / "top.jpg").write_text("x")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    data = load_image_folder(root, extensions=("png",))
    assert len(data.paths) == 3 and all(p.endswith(".PNG") for p in data.paths)
    assert str(tmp_path / "top.jpg") in data.ignored
    assert str(tmp_path / ".ipynb_checkpoints") in data.ignored
    assert str(tmp_path / "a" / "labels.csv") in data.ignored
    assert len(load_image_folder(root).paths) == 4  # default extensions: png and jpg
    with pytest.raises(DatasetFormatError, match=re.escape(f"class folder {tmp_path / 'a'} contains no *.gif")):
        load_image_folder(root, extensions=".gif")
    with pytest.raises(ValueError, match="extensions must be non-empty"):
        load_image_folder(root, extensions=())


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(DatasetFormatError, match="no class folders"):
        load_image_folder(tmp_path)


# -- PASCAL VOC ----------------------------------------------------------------------------------------


@pytest.fixture
def voc2007(tmp_path):
    make_voc(tmp_path, "2007")
    return tmp_path


def _expected(year, image_sets):
    spec = VOC_IMAGES[year]
    ids = sorted(i for i, (s, _) in spec.items() if s in image_sets)
    return ids, np.array([voc_target(spec[i][1]) for i in ids])


@pytest.mark.parametrize("where", ["root", "VOCdevkit", "VOC2007"])
def test_voc_layouts(voc2007, where):
    root = {"root": voc2007, "VOCdevkit": voc2007 / "VOCdevkit", "VOC2007": voc2007 / "VOCdevkit" / "VOC2007"}[where]
    data = load_voc(root)
    ids, target = _expected("2007", ("train", "val"))
    _check_bunch(data, len(ids))
    assert data.image_ids == ids
    assert data.root == str(voc2007 / "VOCdevkit" / "VOC2007")
    assert data.paths == [str(voc2007 / "VOCdevkit" / "VOC2007" / "JPEGImages" / f"{i}.jpg") for i in ids]
    np.testing.assert_array_equal(data.target, target)
    assert data.target_names == list(VOC_CLASSES)
    assert (data.year, data.image_set) == ("2007", "trainval")


def test_voc_encoding_hand_checked(voc2007):
    data = load_voc(voc2007, "2007", "trainval")
    t = pd.DataFrame(data.target, index=data.image_ids, columns=VOC_CLASSES)
    assert t.loc["000005", "chair"] == 1  # one plain chair and one difficult chair
    assert t.loc["000005", "pottedplant"] == 0  # only a difficult pottedplant
    assert t.loc["000005", "dog"] == -1
    assert t.loc["000016", "bicycle"] == 0
    assert t.loc["000017", "horse"] == 0 and t.loc["000017", "person"] == 1
    assert t.loc["000007", "car"] == 1  # truncated objects are not difficult
    np.testing.assert_array_equal(data.target_difficult, data.target == 0)
    np.testing.assert_array_equal(data.Y, (data.target >= 0).astype(int))
    assert set(np.unique(data.Y)) == {0, 1}
    # the frame holds the same values, one column per class
    assert list(data.frame.columns) == ["path", "image_id", *VOC_CLASSES]
    np.testing.assert_array_equal(data.frame[list(VOC_CLASSES)].to_numpy(), data.target)


def test_voc_encoding_equals_devkit_class_files(voc2007):
    """The target columns are exactly the devkit's ImageSets/Main/<class>_<set>.txt files."""
    main = voc2007 / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main"
    for image_set in ("train", "val", "trainval", "test"):
        data = load_voc(voc2007, "2007", image_set)
        for k, cls in enumerate(VOC_CLASSES):
            rows = [line.split() for line in (main / f"{cls}_{image_set}.txt").read_text().splitlines()]
            assert [r[0] for r in rows] == data.image_ids
            np.testing.assert_array_equal([int(r[1]) for r in rows], data.target[:, k])


def test_voc_objects_table(voc2007):
    objects = load_voc(voc2007).objects
    assert list(objects.columns) == ["image_id", "name", "difficult", "truncated", "pose", "xmin", "ymin", "xmax", "ymax"]
    chairs = objects[(objects.image_id == "000005") & (objects.name == "chair")]
    assert list(chairs.difficult) == [False, True]
    assert chairs.pose.iloc[0] == "Rear"
    assert chairs[["xmin", "ymin", "xmax", "ymax"]].iloc[0].tolist() == [1.0, 2.0, 38.0, 29.0]


def test_voc2007_sets_and_wrappers(voc2007):
    train, val, test = (load_voc2007(voc2007, s) for s in ("train", "val", "test"))
    assert set(train.image_ids).isdisjoint(val.image_ids)
    assert sorted(train.image_ids + val.image_ids) == load_voc2007(voc2007).image_ids
    ids, target = _expected("2007", ("test",))
    assert test.image_ids == ids
    np.testing.assert_array_equal(test.target, target)
    assert "89.3" in test.DESCR and "89.7" in test.DESCR and "11-point" in test.DESCR
    assert load_voc(voc2007, 2007, "val").image_ids == val.image_ids  # int year


def test_voc2012_annotations_without_difficult_and_with_parts(tmp_path):
    make_voc(tmp_path, "2012")
    data = load_voc2012(tmp_path, "train")
    t = pd.DataFrame(data.target, index=data.image_ids, columns=VOC_CLASSES)
    # a person without <difficult> is not difficult; its <part><name>head</name> is no object
    assert t.loc["2008_000008", "person"] == 1
    assert list(data.objects[data.objects.image_id == "2008_000008"].name) == ["horse", "person"]
    assert t.loc["2008_000015", "bottle"] == 0
    ids, target = _expected("2012", ("train", "val"))
    np.testing.assert_array_equal(load_voc2012(tmp_path).target, target)
    assert "89.0" in data.DESCR and "89.3" in data.DESCR


def test_voc2012_test_set_has_no_labels(tmp_path):
    voc = make_voc(tmp_path, "2012")
    assert not (voc / "Annotations" / "2008_000001.xml").exists()
    data = load_voc2012(tmp_path, "test")
    assert data.image_ids == ["2008_000001", "2008_000004"]
    assert data.target is None and data.Y is None and data.target_difficult is None and data.objects is None
    assert list(data.frame.columns) == ["path", "image_id"]
    assert "labels are not public" in data.DESCR
    # an annotation file of another task there is not read
    (voc / "Annotations" / "2008_000001.xml").write_text("<not xml")
    assert load_voc2012(tmp_path, "test").target is None


def test_voc_missing_tree_and_year_hint(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=re.escape(f"expected {tmp_path}/VOCdevkit/VOC2007/")):
        load_voc(tmp_path)
    voc = make_voc(tmp_path, "2012")
    with pytest.raises(DatasetNotFoundError, match="did you mean year='2012'"):
        load_voc(voc, "2007")


def test_voc_missing_image_set_file(voc2007):
    main = voc2007 / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main"
    (main / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"ImageSets/Main/test.txt .*VOCtest_06-Nov-2007.tar"):
        load_voc(voc2007, "2007", "test")


def test_voc_missing_jpeg(voc2007):
    voc = voc2007 / "VOCdevkit" / "VOC2007"
    (voc / "JPEGImages" / "000007.jpg").unlink()
    with pytest.raises(
        DatasetNotFoundError, match="ImageSets/Main/trainval.txt lists 000007 but JPEGImages/000007.jpg is missing"
    ):
        load_voc(voc2007)
    (voc / "JPEGImages" / "000012.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"is missing \(and 1 more: 000012\)"):
        load_voc(voc2007)


def test_voc_missing_annotation(voc2007):
    (voc2007 / "VOCdevkit" / "VOC2007" / "Annotations" / "000009.xml").unlink()
    with pytest.raises(DatasetNotFoundError, match="lists 000009 but Annotations/000009.xml is missing"):
        load_voc(voc2007, "2007", "train")


def test_voc_invalid_xml(voc2007):
    path = voc2007 / "VOCdevkit" / "VOC2007" / "Annotations" / "000005.xml"
    path.write_text(path.read_text()[:-30])
    with pytest.raises(DatasetFormatError, match=re.escape(f"VOC annotation {path} is not valid XML: ")):
        load_voc(voc2007)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("<name>chair</name>", "<name>armchair</name>", "object #0 has <name>armchair</name>, which is not one"),
        ("<difficult>1</difficult>", "<difficult>yes</difficult>", "object #1 has <difficult>yes</difficult>"),
        ("<name>chair</name>", "<name> </name>", "object #0 has no <name>"),
        ("<annotation>", "<annotations>", None),
    ],
)
def test_voc_malformed_annotation(voc2007, old, new, message):
    path = voc2007 / "VOCdevkit" / "VOC2007" / "Annotations" / "000005.xml"
    text = path.read_text().replace(old, new, 1)
    if message is None:  # rename the root element
        text = text[: text.rindex("</annotation>")] + "</annotations>\n"
        message = "has root element <annotations>; expected <annotation>"
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=re.escape(message)):
        load_voc(voc2007)


def test_voc_malformed_image_set(voc2007):
    main = voc2007 / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main"
    (main / "train.txt").write_text("000005 1\n")
    with pytest.raises(DatasetFormatError, match="line 1 is '000005 1': expected one image id per line"):
        load_voc(voc2007, "2007", "train")
    (main / "train.txt").write_text("\n\n")
    with pytest.raises(DatasetFormatError, match="lists no image ids"):
        load_voc(voc2007, "2007", "train")
    (main / "train.txt").write_text("000005\n000007\n000005\n")
    with pytest.raises(DatasetFormatError, match=r"more than once: \['000005'\]"):
        load_voc(voc2007, "2007", "train")


def test_voc_argument_validation(voc2007):
    with pytest.raises(ValueError, match="'year' parameter of load_voc must be a str among .*'2012'.* Got '2013'"):
        load_voc(voc2007, "2013")
    with pytest.raises(ValueError, match="'image_set' parameter of load_voc must be a str among .*'trainval'.* Got 'minival'"):
        load_voc(voc2007, "2007", "minival")


# -- download=True, simulated -----------------------------------------------------------------------------


def _offline(calls):
    class Offline:
        def __init__(self, root, *args, **kwargs):
            calls.append((root, args, kwargs))
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    return Offline


@pytest.mark.parametrize(
    "loader, cls, url",
    [
        (load_caltech101, "Caltech101", "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip"),
        (load_caltech256, "Caltech256", "https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar"),
        (load_voc, "VOCDetection", "https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar"),
    ],
)
def test_download_failure_is_a_clear_oserror(tmp_path, monkeypatch, loader, cls, url):
    calls = []
    monkeypatch.setattr(torchvision.datasets, cls, _offline(calls))
    with pytest.raises(DatasetDownloadError) as info:
        loader(tmp_path, download=True)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    message = str(info.value)
    assert url in message and "Temporary failure in name resolution" in message
    assert f"extract it into {tmp_path}" in message or f"into {tmp_path}," in message
    assert len(calls) == 1 and calls[0][0] == str(tmp_path)


def test_download_voc2007_test_names_the_test_archive(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torchvision.datasets, "VOCDetection", _offline(calls))
    with pytest.raises(DatasetDownloadError, match="VOCtest_06-Nov-2007.tar"):
        load_voc(tmp_path, "2007", "test", download=True)
    assert calls[0][2] == {"year": "2007", "image_set": "test", "download": True}


def test_download_voc2012_test_is_not_attempted(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torchvision.datasets, "VOCDetection", _offline(calls))
    with pytest.raises(DatasetDownloadError, match="evaluation server"):
        load_voc(tmp_path, "2012", "test", download=True)
    assert calls == []


def test_download_creates_tree_then_loads(tmp_path, monkeypatch):
    calls = []

    def fake(kind):
        class Fake:
            def __init__(self, root, *args, download=False, **kwargs):
                calls.append((kind, root, kwargs, download))
                if kind == "caltech101":
                    make_caltech101(root, layout="torchvision")
                elif kind == "caltech256":
                    make_caltech256(root, layout="torchvision")
                else:
                    make_voc(root, kwargs["year"])

        return Fake

    monkeypatch.setattr(torchvision.datasets, "Caltech101", fake("caltech101"))
    monkeypatch.setattr(torchvision.datasets, "Caltech256", fake("caltech256"))
    monkeypatch.setattr(torchvision.datasets, "VOCDetection", fake("voc"))

    data = load_caltech101(tmp_path / "c101", download=True)
    assert data.root == str(tmp_path / "c101" / "caltech101" / "101_ObjectCategories")
    assert len(data.paths) == sum(CALTECH101_COUNTS.values())
    data = load_caltech256(tmp_path / "c256", download=True)
    assert len(data.target_names) == len(CALTECH256_COUNTS)
    data = load_voc(tmp_path / "voc", "2012", "val", download=True)
    assert data.image_ids == ["2008_000019", "2008_000023"]
    assert calls == [
        ("caltech101", str(tmp_path / "c101"), {}, True),
        ("caltech256", str(tmp_path / "c256"), {}, True),
        ("voc", str(tmp_path / "voc"), {"year": "2012", "image_set": "val"}, True),
    ]
    # already there: no second download
    load_caltech101(tmp_path / "c101", download=True)
    load_caltech256(tmp_path / "c256", download=True)
    load_voc(tmp_path / "voc", "2012", "val", download=True)
    assert len(calls) == 3


def test_download_not_attempted_when_tree_exists(tmp_path, monkeypatch):
    make_caltech101(tmp_path)  # the plain layout, not torchvision's
    monkeypatch.setattr(torchvision.datasets, "Caltech101", _offline([]))
    assert load_caltech101(tmp_path, download=True).root == str(tmp_path / "101_ObjectCategories")


def test_download_that_leaves_no_tree(tmp_path, monkeypatch):
    class Nothing:
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(torchvision.datasets, "Caltech256", Nothing)
    with pytest.raises(DatasetNotFoundError, match="256_ObjectCategories not found"):
        load_caltech256(tmp_path, download=True)


# -- return_X_y, descriptions as data files, validate_params ---------------------------------------------


def test_return_X_y_gives_the_bunchs_paths_and_target(tmp_path):
    make_caltech101(tmp_path / "c101")
    make_caltech256(tmp_path / "c256")
    make_voc(tmp_path / "voc", "2007")
    folder = make_image_folder(tmp_path / "folder", counts={"cat": 2, "dog": 1})
    for load, root, kwargs in (
        (load_caltech101, tmp_path / "c101", dict(include_background=False)),
        (load_caltech256, tmp_path / "c256", dict(include_clutter=False)),
        (load_image_folder, folder, {}),
        (load_voc, tmp_path / "voc", dict(image_set="val")),
        (load_voc2007, tmp_path / "voc", dict(image_set="test")),
    ):
        data = load(root, **kwargs)
        result = load(root, **kwargs, return_X_y=True)
        assert isinstance(result, tuple) and len(result) == 2, load.__name__
        paths, target = result
        assert paths == data.paths and len(paths) > 0
        np.testing.assert_array_equal(target, data.target)
    paths, labels = load_image_folder(folder, return_X_y=True)
    assert sorted(set(labels)) == ["cat", "dog"] and len(paths) == len(labels) == 3


def test_return_X_y_of_an_unlabelled_test_set_has_no_target(tmp_path):
    make_voc(tmp_path, "2012")
    paths, target = load_voc2012(tmp_path, "test", return_X_y=True)
    assert len(paths) == 2 and target is None


def test_descriptions_are_the_package_data_files(tmp_path):
    from importlib import resources

    descr = resources.files("skvgg.datasets").joinpath("descr")
    assert sorted(p.name for p in descr.iterdir() if p.name.endswith(".rst")) == [
        "caltech101.rst",
        "caltech256.rst",
        "image_folder.rst",
        "imagenet.rst",
        "voc.rst",
    ]
    make_caltech101(tmp_path / "c101")
    make_caltech256(tmp_path / "c256")
    assert load_caltech101(tmp_path / "c101").DESCR == descr.joinpath("caltech101.rst").read_text(encoding="utf-8")
    assert load_caltech256(tmp_path / "c256").DESCR == descr.joinpath("caltech256.rst").read_text(encoding="utf-8")
    make_voc(tmp_path / "voc", "2007")
    text = load_voc2007(tmp_path / "voc", "val").DESCR
    assert text.startswith('PASCAL VOC 2007, image set "val"') and "{year}" not in text and "{image_set}" not in text
    assert "Q in {256, 384, 512, 640, 768}" in text  # the file's literal braces stay


def test_image_folder_description_takes_the_root_literally(tmp_path):
    # A root whose name looks like a placeholder is not substituted again.
    root = make_image_folder(tmp_path / "photos{n_classes}", counts={"cat": 2, "dog": 1})
    text = load_image_folder(root).DESCR
    assert text.startswith(f"Image folder: {root}\n")
    assert "3 images, 2 classes" in text


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda root: load_image_folder(root, return_X_y="yes"), "'return_X_y' parameter of load_image_folder must be"),
        (lambda root: load_image_folder(root, extensions=3), "'extensions' parameter of load_image_folder must be"),
        (lambda root: load_caltech256(root, include_clutter=None), "'include_clutter' parameter of load_caltech256 must be"),
        (lambda root: load_voc2012(root, image_set="minival"), "'image_set' parameter of load_voc2012 must be a str among"),
        (lambda root: load_voc(b"/data"), "'root' parameter of load_voc must be an instance of 'str'"),
    ],
)
def test_bad_arguments_are_refused_by_validate_params(tmp_path, call, message):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=message):
        call(tmp_path)
