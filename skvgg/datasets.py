"""Loaders for the datasets of the paper's transfer experiments.

Simonyan & Zisserman (2015, Appendix B) evaluate their very deep features on
PASCAL VOC 2007 and 2012 (mean average precision) and on Caltech-101 and
Caltech-256 (mean class recall). The loaders below read the standard extracted
layouts of these datasets (and any folder of class sub-folders) and return
image **paths** with their labels, ready for :class:`skvgg.VGGFeaturizer`::

    data = load_caltech101("~/data")
    X, y = data.paths, data.target

Every loader returns a :class:`sklearn.utils.Bunch` with at least

- ``paths`` : list of str, absolute image paths in a deterministic order;
- ``target`` : the labels (see each loader);
- ``target_names`` : list of str, the classes in their canonical order;
- ``frame`` : :class:`pandas.DataFrame` with a ``path`` column and the labels;
- ``root`` : str, the absolute path of the dataset directory that was read;
- ``DESCR`` : str, the dataset, the paper's protocol and its Table 11 results.

Nothing is dropped silently: a missing directory, a listed image or
annotation that does not exist, an invalid XML file or an empty class folder
raise an error that says what was expected where. The only entries skipped are
those that are not images of the layout (other files, nested directories,
hidden files, e.g. the real Caltech-256's ``198.spider/RENAME2`` and
``056.dog/greg/``); they are listed in the Bunch's ``ignored`` attribute.

``download=True`` delegates to torchvision's dataset classes, then reads the
tree they extracted with the same loader.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = [
    "VOC_CLASSES",
    "IMG_EXTENSIONS",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DatasetDownloadError",
    "load_caltech101",
    "load_caltech256",
    "load_voc",
    "load_voc2007",
    "load_voc2012",
    "load_image_folder",
]

#: The 20 PASCAL VOC classes, in the devkit's canonical order (the columns of ``target``).
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

#: Default extensions of :func:`load_image_folder` (torchvision's ``IMG_EXTENSIONS``), matched case-insensitively.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

_JPEG_EXTENSIONS = (".jpg",)  # matched case-insensitively

_CALTECH101_DIR = "101_ObjectCategories"
_CALTECH101_TV_DIR = "caltech101"
_CALTECH101_BACKGROUND = "BACKGROUND_Google"
_CALTECH101_URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip"

_CALTECH256_DIR = "256_ObjectCategories"
_CALTECH256_TV_DIR = "caltech256"
_CALTECH256_CLUTTER = "clutter"
_CALTECH256_URL = "https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar"
_CALTECH256_FOLDER = re.compile(r"^(\d+)\.(.+)$")

_VOC_YEARS = ("2007", "2008", "2009", "2010", "2011", "2012")
_VOC_IMAGE_SETS = ("train", "val", "trainval", "test")
_VOC_URLS = {
    "2007": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
    "2007-test": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
    "2008": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2008/VOCtrainval_14-Jul-2008.tar",
    "2009": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2009/VOCtrainval_11-May-2009.tar",
    "2010": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
    "2011": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar",
    "2012": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
}
_VOC_SERVER = "http://host.robots.ox.ac.uk:8080/"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset directory or a file that its layout requires does not exist."""


class DatasetFormatError(ValueError):
    """A dataset's files exist but do not have the expected layout or content."""


class DatasetDownloadError(OSError):
    """``download=True`` failed; the message says what to download and where to extract it."""


# -- Descriptions -----------------------------------------------------------------

_CALTECH101_DESCR = """\
Caltech-101 (Fei-Fei, Fergus & Perona, 2004)
--------------------------------------------
About 9K images in 102 classes: 101 object categories plus the
BACKGROUND_Google class, which the paper counts as the 102nd class
(include_background=False drops it; torchvision's Caltech101 drops it too).
The folders Faces and Faces_easy are two versions of the same faces; they are
kept as two classes, as in the original release.

Paper's protocol (Simonyan & Zisserman 2015, Appendix B): 3 random splits,
each with 30 training images per class and up to 50 test images per class
(skvgg.model_selection.PerClassSplit(**CALTECH101_PROTOCOL)); 20% of each
split's training images held out for hyper-parameter validation
(PerClassHoldOut(0.2)). Metric: mean class recall (skvgg.metrics.mean_class_recall).
Descriptors stacked over scales Q in {256, 384, 512}, L2-normalised, linear SVM.

Table 11, mean class recall (%), mean +- std over the 3 splits:
  VGG Net-D (16 layers)   91.8 +- 1.0
  VGG Net-E (19 layers)   92.3 +- 0.5
  Net-D & Net-E stacked   92.7 +- 0.5
  (He et al. 2014, SPP: 93.4 +- 0.5; Chatfield et al. 2014: 88.4 +- 0.6)

Download: https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip
"""

_CALTECH256_DESCR = """\
Caltech-256 (Griffin, Holub & Perona, 2007)
-------------------------------------------
About 31K images in 257 classes: 256 object categories plus 257.clutter,
which the paper counts as the 257th class (include_clutter=False drops it).
Labels are the folder names without their number ("001.ak47" -> "ak47");
target_names keep the folders' numeric order.

Paper's protocol (Simonyan & Zisserman 2015, Appendix B): 3 random splits,
each with 60 training images per class and the rest for testing
(skvgg.model_selection.PerClassSplit(**CALTECH256_PROTOCOL)); 20% of each
split's training images held out for hyper-parameter validation
(PerClassHoldOut(0.2)). Metric: mean class recall (skvgg.metrics.mean_class_recall).
Descriptors stacked over scales Q in {256, 384, 512}, L2-normalised, linear SVM.

Table 11, mean class recall (%), mean +- std over the 3 splits:
  VGG Net-D (16 layers)   85.0 +- 0.2
  VGG Net-E (19 layers)   85.1 +- 0.3
  Net-D & Net-E stacked   86.2 +- 0.3
  (Chatfield et al. 2014: 77.6 +- 0.1; Zeiler & Fergus: 74.2 +- 0.3)

Download: https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar
"""

_VOC_DESCR = """\
PASCAL VOC {year}, image set "{image_set}" (Everingham et al.)
----------------------------------------------------------
Multi-label classification of 20 classes with pre-defined train, val,
trainval and test sets (VOC-2007: about 10K images; VOC-2012: about 22.5K).

Labels (target, one column per class of VOC_CLASSES), the devkit's own
encoding of its per-class ImageSets/Main/<class>_<set>.txt files:
   1  the class is present: at least one non-difficult object;
   0  only "difficult" objects of the class: ignored by the evaluation;
  -1  the class is absent.
target_difficult is (target == 0). Y is the 0/1 indicator (target >= 0) to
train on: a difficult-only image does show the class, so it is a positive,
never a negative; the evaluation ignores it whichever way it is trained.

Paper's protocol (Simonyan & Zisserman 2015, Appendix B): train on
trainval, test on test; descriptors averaged over scales
Q in {{256, 384, 512, 640, 768}}, L2-normalised, one linear SVM per class.
Metric: mean average precision; VOC-2007 uses the 11-point interpolated AP
(skvgg.metrics.voc07_map_scorer), VOC-2010 and later the area under the
interpolated curve (voc12_map_scorer). The VOC-2012 test labels are not
public: that test set is scored by the evaluation server.

Table 11, mAP (%):      VOC-2007   VOC-2012
  VGG Net-D (16 layers)   89.3       89.0
  VGG Net-E (19 layers)   89.3       89.0
  Net-D & Net-E stacked   89.7       89.3
  (Chatfield et al. 2014: 82.4 and 83.2)
"""

_IMAGE_FOLDER_DESCR = """\
Image folder: {root}
Images in class sub-folders (as torchvision's ImageFolder); labels are the
sub-folder names, classes sorted by name. {n_images} images, {n_classes} classes.
"""


# -- Small helpers ------------------------------------------------------------------


def _as_root(root):
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike), got {type(root).__name__}")
    return os.path.abspath(os.path.expanduser(os.fsdecode(os.fspath(root))))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _normalize_extensions(extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    try:
        extensions = tuple(extensions)
    except TypeError:
        raise TypeError(f"extensions must be a string or a sequence of strings, got {extensions!r}") from None
    if not extensions or not all(isinstance(ext, str) and ext.strip(".") for ext in extensions):
        raise ValueError(f"extensions must be non-empty strings such as '.jpg', got {extensions!r}")
    return tuple("." + ext.lower().lstrip(".") for ext in extensions)


def _pattern(extensions):
    return "*" + extensions[0] if len(extensions) == 1 else "*{" + ",".join(extensions) + "}"


def _scan_flat(directory, extensions, ignored):
    """Sorted image files directly in ``directory``; other entries go to ``ignored``."""
    images = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                ignored.append(entry.path)
            elif entry.name.lower().endswith(extensions) and entry.is_file():
                images.append(entry.path)
            else:
                ignored.append(entry.path)
    return images


def _scan_tree(directory, extensions, ignored):
    """Sorted image files anywhere below ``directory`` (as torchvision's ImageFolder)."""
    images = []
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        hidden = sorted(d for d in dirnames if d.startswith("."))
        ignored.extend(os.path.join(dirpath, d) for d in hidden)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not name.startswith(".") and name.lower().endswith(extensions):
                images.append(path)
            else:
                ignored.append(path)
    # torchvision's order: sorted(os.walk(...)) by directory path, then file names.
    return sorted(images, key=lambda p: (os.path.dirname(p), os.path.basename(p)))


def _class_folders(directory, expected, ignored):
    """Sorted visible sub-directories of ``directory``; files go to ``ignored``."""
    folders = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if not entry.name.startswith(".") and entry.is_dir():
                folders.append(entry.name)
            else:
                ignored.append(entry.path)
    if not folders:
        raise DatasetFormatError(f"expected {expected}: no class folders in {directory}")
    return folders


def _read_classes(directory, folders, labels, extensions, expected, ignored, recursive=False):
    """Images and labels of each class folder; an empty class folder is an error."""
    paths, target = [], []
    for folder, label in zip(folders, labels):
        class_dir = os.path.join(directory, folder)
        scan = _scan_tree if recursive else _scan_flat
        images = scan(class_dir, extensions, ignored)
        if not images:
            raise DatasetFormatError(
                f"expected {expected}: class folder {class_dir} contains no {_pattern(extensions)} images "
                "(an incomplete extraction or copy?); remove the folder or restore its images"
            )
        paths.extend(images)
        target.extend([label] * len(images))
    return paths, target


def _labels_bunch(paths, target, target_names, root, descr, ignored):
    target = np.asarray(target, dtype=object)
    frame = pd.DataFrame({"path": pd.Series(paths, dtype=object), "label": pd.Series(target, dtype=object)})
    return Bunch(
        paths=list(paths),
        target=target,
        target_names=list(target_names),
        frame=frame,
        root=root,
        ignored=list(ignored),
        DESCR=descr,
    )


def _find_dir(root, candidates):
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    return None


def _not_found(root, expected, missing, also=(), hint=""):
    if not os.path.isdir(root):
        reason = f"directory {root} does not exist"
    else:
        reason = f"directory {missing} not found"
        if also:
            reason += " (also looked for " + ", ".join(also) + ")"
    message = f"expected {expected}: {reason}"
    if hint:
        message += f"; {hint}"
    return DatasetNotFoundError(message)


def _torchvision_datasets():
    import torchvision.datasets  # imported on demand: only downloads need it

    return torchvision.datasets


def _locate(root, find, download, dataset, url, how, factory):
    """``find(root)``; when that finds nothing and ``download`` is set, download first.

    ``factory`` runs torchvision's downloader (imported lazily by the caller's lambda).
    """
    directory = find(root)
    if directory is None and download:
        _download(dataset, url, how, factory)
        directory = find(root)
    return directory


def _download(dataset, url, how, factory):
    """Run a torchvision download; any failure becomes a DatasetDownloadError."""
    try:
        factory()
    except Exception as exc:  # noqa: BLE001 - network, checksum and extraction errors alike
        raise DatasetDownloadError(f"could not download {dataset} from {url} ({type(exc).__name__}: {exc}); {how}") from exc


# -- Caltech-101 ---------------------------------------------------------------------


def _caltech101_dir(root):
    candidates = [os.path.join(root, _CALTECH101_DIR), os.path.join(root, _CALTECH101_TV_DIR, _CALTECH101_DIR)]
    if os.path.basename(root) == _CALTECH101_DIR:
        candidates.insert(0, root)
    return _find_dir(root, candidates)


def load_caltech101(root, *, download=False, include_background=True):
    """Load the Caltech-101 image paths and class names.

    Reads ``root/101_ObjectCategories/<class>/*.jpg``. ``root`` may also be the
    ``101_ObjectCategories`` directory itself, or the root of torchvision's
    layout, ``root/caltech101/101_ObjectCategories``.

    Parameters
    ----------
    root : str or os.PathLike
        Directory holding ``101_ObjectCategories`` (or that directory).
    download : bool, default=False
        If the tree is not found, download and extract it with
        ``torchvision.datasets.Caltech101(root, download=True)`` (into
        ``root/caltech101``), then read it.
    include_background : bool, default=True
        Keep the ``BACKGROUND_Google`` class, the 102nd class of the paper's
        protocol. False drops it (torchvision's ``Caltech101`` drops it too).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        paths : list of str
            Image paths, by class (sorted folder names, as ``sorted()`` orders
            them: upper case first) then by file name.
        target : ndarray of str, shape (n_images,)
            Class name of each image: the folder name, unchanged
            (``"Faces"`` and ``"Faces_easy"`` stay two classes).
        target_names : list of str
            The classes, in the order above.
        frame : DataFrame
            Columns ``path`` and ``label``.
        root : str
            The ``101_ObjectCategories`` directory that was read.
        ignored : list of str
            Entries that are not ``*.jpg`` files of a class folder.
        DESCR : str
            The dataset, the paper's protocol and its Table 11 results.

    Raises
    ------
    DatasetNotFoundError
        If the directory is not found (and ``download`` is False).
    DatasetFormatError
        If there are no class folders or a class folder holds no image.
    DatasetDownloadError
        If ``download=True`` was needed and failed.

    Examples
    --------
    >>> data = load_caltech101("~/data")  # doctest: +SKIP
    >>> len(data.target_names)  # doctest: +SKIP
    102
    """
    root = _as_root(root)
    download = _check_bool(download, "download")
    include_background = _check_bool(include_background, "include_background")
    manual = (
        f"download {_CALTECH101_URL}, unzip it and extract caltech-101/101_ObjectCategories.tar.gz "
        f"into {root}, so that {os.path.join(root, _CALTECH101_DIR, '<class>', '*.jpg')} exist"
    )
    directory = _locate(
        root, _caltech101_dir, download, "Caltech-101", _CALTECH101_URL, manual,
        lambda: _torchvision_datasets().Caltech101(root, download=True),
    )  # fmt: skip
    expected = os.path.join(root, _CALTECH101_DIR, "<class>", "*.jpg")
    if directory is None:
        raise _not_found(
            root,
            expected,
            os.path.join(root, _CALTECH101_DIR),
            also=[os.path.join(root, _CALTECH101_TV_DIR, _CALTECH101_DIR)],
            hint=f"pass download=True, or {manual}",
        )
    expected = os.path.join(directory, "<class>", "*.jpg")
    ignored = []
    folders = _class_folders(directory, expected, ignored)
    if not include_background:
        folders = [f for f in folders if f != _CALTECH101_BACKGROUND]
        if not folders:
            raise DatasetFormatError(f"expected {expected}: no class folders other than {_CALTECH101_BACKGROUND}")
    paths, target = _read_classes(directory, folders, folders, _JPEG_EXTENSIONS, expected, ignored)
    return _labels_bunch(paths, target, folders, directory, _CALTECH101_DESCR, ignored)


# -- Caltech-256 ---------------------------------------------------------------------


def _caltech256_dir(root):
    candidates = [os.path.join(root, _CALTECH256_DIR), os.path.join(root, _CALTECH256_TV_DIR, _CALTECH256_DIR)]
    if os.path.basename(root) == _CALTECH256_DIR:
        candidates.insert(0, root)
    return _find_dir(root, candidates)


def load_caltech256(root, *, download=False, include_clutter=True):
    """Load the Caltech-256 image paths and class names.

    Reads ``root/256_ObjectCategories/NNN.<name>/*.jpg``. ``root`` may also be
    the ``256_ObjectCategories`` directory itself, or the root of
    torchvision's layout, ``root/caltech256/256_ObjectCategories``.

    Parameters
    ----------
    root : str or os.PathLike
        Directory holding ``256_ObjectCategories`` (or that directory).
    download : bool, default=False
        If the tree is not found, download and extract it with
        ``torchvision.datasets.Caltech256(root, download=True)`` (into
        ``root/caltech256``), then read it.
    include_clutter : bool, default=True
        Keep ``257.clutter``, the 257th class of the paper's protocol.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        paths : list of str
            Image paths, by class (numeric folder order) then by file name.
        target : ndarray of str, shape (n_images,)
            Class name of each image: the folder name without its number
            (``"001.ak47"`` -> ``"ak47"``, ``"257.clutter"`` -> ``"clutter"``).
        target_names : list of str
            The classes, in numeric folder order.
        frame : DataFrame
            Columns ``path``, ``label`` and ``class_number`` (the folder's number).
        root : str
            The ``256_ObjectCategories`` directory that was read.
        ignored : list of str
            Entries that are not ``*.jpg`` files of a class folder, such as
            the real archive's ``198.spider/RENAME2`` file and empty
            ``056.dog/greg/`` directory.
        DESCR : str
            The dataset, the paper's protocol and its Table 11 results.

    Raises
    ------
    DatasetNotFoundError
        If the directory is not found (and ``download`` is False).
    DatasetFormatError
        If a folder is not named ``NNN.<name>``, two folders share a number
        or a name, or a class folder holds no image.
    DatasetDownloadError
        If ``download=True`` was needed and failed.
    """
    root = _as_root(root)
    download = _check_bool(download, "download")
    include_clutter = _check_bool(include_clutter, "include_clutter")
    manual = (
        f"download {_CALTECH256_URL} and extract it into {root}, "
        f"so that {os.path.join(root, _CALTECH256_DIR, 'NNN.<name>', '*.jpg')} exist"
    )
    directory = _locate(
        root, _caltech256_dir, download, "Caltech-256", _CALTECH256_URL, manual,
        lambda: _torchvision_datasets().Caltech256(root, download=True),
    )  # fmt: skip
    if directory is None:
        raise _not_found(
            root,
            os.path.join(root, _CALTECH256_DIR, "NNN.<name>", "*.jpg"),
            os.path.join(root, _CALTECH256_DIR),
            also=[os.path.join(root, _CALTECH256_TV_DIR, _CALTECH256_DIR)],
            hint=f"pass download=True, or {manual}",
        )
    expected = os.path.join(directory, "NNN.<name>", "*.jpg")
    ignored = []
    folders = _class_folders(directory, expected, ignored)
    parsed = []
    for folder in folders:
        match = _CALTECH256_FOLDER.match(folder)
        if match is None:
            raise DatasetFormatError(
                f"expected {expected}: folder {os.path.join(directory, folder)} is not named NNN.<name> (e.g. 001.ak47)"
            )
        parsed.append((int(match.group(1)), match.group(2), folder))
    parsed.sort()
    for (num_a, _, folder_a), (num_b, _, folder_b) in zip(parsed, parsed[1:]):
        if num_a == num_b:
            raise DatasetFormatError(f"folders {folder_a} and {folder_b} in {directory} have the same number")
    names = [name for _, name, _ in parsed]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DatasetFormatError(f"several folders in {directory} have the class name(s) {duplicated}")
    if not include_clutter:
        parsed = [p for p in parsed if p[1] != _CALTECH256_CLUTTER]
        if not parsed:
            raise DatasetFormatError(f"expected {expected}: no class folders other than 257.clutter")
    folders = [folder for _, _, folder in parsed]
    names = [name for _, name, _ in parsed]
    paths, target = _read_classes(directory, folders, names, _JPEG_EXTENSIONS, expected, ignored)
    data = _labels_bunch(paths, target, names, directory, _CALTECH256_DESCR, ignored)
    number = {name: num for num, name, _ in parsed}
    data.frame["class_number"] = np.array([number[label] for label in target], dtype=np.int64)
    return data


# -- Image folder ----------------------------------------------------------------------


def load_image_folder(root, *, extensions=IMG_EXTENSIONS):
    """Load any folder of class sub-folders, as torchvision's ``ImageFolder``.

    Reads ``root/<class>/**/<image>``: each visible sub-folder of ``root`` is a
    class, and every file below it (at any depth, symbolic links followed)
    whose extension is in ``extensions`` is one of its images.

    Parameters
    ----------
    root : str or os.PathLike
        The directory holding the class folders.
    extensions : str or tuple of str, default=IMG_EXTENSIONS
        Image file extensions, matched case-insensitively (``".jpg"`` also
        matches ``"x.JPG"``); the leading dot is optional.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        paths : list of str
            Image paths, by class, then by directory and file name: the
            order of torchvision's ``ImageFolder(root).samples``.
        target : ndarray of str, shape (n_images,)
            The class folder name of each image.
        target_names : list of str
            Class folder names, sorted (as ``sorted()`` and torchvision do).
        frame : DataFrame
            Columns ``path`` and ``label``.
        root : str
            Absolute path of ``root``.
        ignored : list of str
            Files directly in ``root``, hidden entries (names starting with
            ".", which torchvision would take as classes, e.g.
            ``.ipynb_checkpoints``) and files with other extensions.
        DESCR : str
            A short description.

    Raises
    ------
    DatasetNotFoundError
        If ``root`` is not a directory.
    DatasetFormatError
        If it has no class folder, or a class folder holds no image.
    """
    root = _as_root(root)
    extensions = _normalize_extensions(extensions)
    expected = os.path.join(root, "<class>", _pattern(extensions))
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"expected {expected}: directory {root} does not exist")
    ignored = []
    folders = _class_folders(root, expected, ignored)
    paths, target = _read_classes(root, folders, folders, extensions, expected, ignored, recursive=True)
    descr = _IMAGE_FOLDER_DESCR.format(root=root, n_images=len(paths), n_classes=len(folders))
    return _labels_bunch(paths, target, folders, root, descr, ignored)


# -- PASCAL VOC ----------------------------------------------------------------------------


def _check_voc_args(year, image_set):
    if isinstance(year, (int, np.integer)) and not isinstance(year, bool):
        year = str(int(year))
    if not isinstance(year, str) or year not in _VOC_YEARS:
        raise ValueError(f"year must be one of {list(_VOC_YEARS)}, got {year!r}")
    if not isinstance(image_set, str) or image_set not in _VOC_IMAGE_SETS:
        raise ValueError(f"image_set must be one of {list(_VOC_IMAGE_SETS)}, got {image_set!r}")
    return year, image_set


def _voc_dir(root, year):
    name = f"VOC{year}"
    candidates = [
        os.path.join(root, "VOCdevkit", name),
        os.path.join(root, name),
        os.path.join(root, "TrainVal", "VOCdevkit", name),  # torchvision's VOC-2011 layout
    ]
    if os.path.basename(root) == name:
        candidates.insert(0, root)
    return _find_dir(root, candidates)


def _voc_archive(year, image_set):
    """URL of the archive holding ``image_set`` of ``year``."""
    if image_set == "test" and year == "2007":
        return _VOC_URLS["2007-test"]
    return _VOC_URLS[year]


def _read_image_set(path, rel):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    ids = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise DatasetFormatError(
                f"{rel} line {number} is {line.strip()!r}: expected one image id per line "
                "(the per-class <class>_<set>.txt files are not image sets)"
            )
        ids.append(fields[0])
    if not ids:
        raise DatasetFormatError(f"{rel} ({path}) lists no image ids")
    if len(set(ids)) != len(ids):
        seen, duplicates = set(), []
        for image_id in ids:
            if image_id in seen:
                duplicates.append(image_id)
            seen.add(image_id)
        raise DatasetFormatError(f"{rel} ({path}) lists image ids more than once: {duplicates[:5]}")
    return ids


def _missing_listed(set_rel, ids, what):
    first = ids[0]
    message = f"{set_rel} lists {first} but {what(first)} is missing"
    if len(ids) > 1:
        shown = ", ".join(ids[1:6]) + (", ..." if len(ids) > 6 else "")
        message += f" (and {len(ids) - 1} more: {shown})"
    return message


def _xml_int(node, tag, path, index, default):
    text = node.findtext(tag)
    if text is None or not text.strip():
        return default
    try:
        return int(float(text.strip()))
    except ValueError:
        raise DatasetFormatError(
            f"VOC annotation {path}: object #{index} has <{tag}>{text.strip()}</{tag}>; expected 0 or 1"
        ) from None


def _xml_float(node, tag, path, index):
    text = node.findtext(tag) if node is not None else None
    if text is None or not text.strip():
        return np.nan
    try:
        return float(text.strip())
    except ValueError:
        raise DatasetFormatError(
            f"VOC annotation {path}: object #{index} has <{tag}>{text.strip()}</{tag}>; expected a number"
        ) from None


def _parse_voc_annotation(path, image_id):
    """The objects of one VOC XML file, as a list of dicts."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise DatasetFormatError(f"VOC annotation {path} is not valid XML: {exc}") from exc
    node = tree.getroot()
    if node.tag != "annotation":
        raise DatasetFormatError(f"VOC annotation {path} has root element <{node.tag}>; expected <annotation>")
    objects = []
    for index, obj in enumerate(node.findall("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DatasetFormatError(f"VOC annotation {path}: object #{index} has no <name>")
        if name not in VOC_CLASSES:
            raise DatasetFormatError(
                f"VOC annotation {path}: object #{index} has <name>{name}</name>, "
                f"which is not one of the 20 VOC classes {list(VOC_CLASSES)}"
            )
        difficult = _xml_int(obj, "difficult", path, index, default=0)
        truncated = _xml_int(obj, "truncated", path, index, default=0)
        if difficult not in (0, 1) or truncated not in (0, 1):
            bad = "difficult" if difficult not in (0, 1) else "truncated"
            raise DatasetFormatError(f"VOC annotation {path}: object #{index} has <{bad}> not 0 or 1")
        box = obj.find("bndbox")
        objects.append(
            {
                "image_id": image_id,
                "name": name,
                "difficult": bool(difficult),
                "truncated": bool(truncated),
                "pose": (obj.findtext("pose") or "").strip() or None,
                "xmin": _xml_float(box, "xmin", path, index),
                "ymin": _xml_float(box, "ymin", path, index),
                "xmax": _xml_float(box, "xmax", path, index),
                "ymax": _xml_float(box, "ymax", path, index),
            }
        )
    return objects


def _read_voc(root, year, image_set):
    voc = _voc_dir(root, year)
    name = f"VOC{year}"
    layout = f"VOCdevkit/{name}/{{JPEGImages,Annotations,ImageSets/Main}}"
    if voc is None:
        hint = ""
        base = os.path.basename(root)
        if re.fullmatch(r"VOC\d{4}", base) and base != name:
            hint = f"root ends with {base}: did you mean year={base[3:]!r}?"
        also = [os.path.join(root, name), os.path.join(root, "TrainVal", "VOCdevkit", name)]
        raise _not_found(root, os.path.join(root, layout), os.path.join(root, "VOCdevkit", name), also, hint)
    annotated = not (image_set == "test" and year != "2007")
    set_rel = f"ImageSets/Main/{image_set}.txt"
    set_path = os.path.join(voc, "ImageSets", "Main", f"{image_set}.txt")
    if not os.path.isfile(set_path):
        hint = ""
        if image_set == "test":
            hint = (
                f"; the VOC-2007 test set is a separate archive ({_VOC_URLS['2007-test']}), to extract next to the trainval one"
                if year == "2007"
                else f"; the VOC-{year} test images come from the evaluation server {_VOC_SERVER} (registration)"
            )
        raise DatasetNotFoundError(f"expected the image set {set_path} ({set_rel} of {voc}): file not found{hint}")
    ids = _read_image_set(set_path, set_rel)
    jpeg_dir = os.path.join(voc, "JPEGImages")
    if not os.path.isdir(jpeg_dir):
        raise DatasetNotFoundError(f"expected the images of {set_rel} in {jpeg_dir}: directory not found")
    paths = [os.path.join(jpeg_dir, f"{image_id}.jpg") for image_id in ids]
    missing = [image_id for image_id, path in zip(ids, paths) if not os.path.isfile(path)]
    if missing:
        raise DatasetNotFoundError(
            _missing_listed(set_rel, missing, lambda i: f"JPEGImages/{i}.jpg") + f" (expected in {jpeg_dir})"
        )
    data = Bunch(
        paths=paths,
        image_ids=list(ids),
        target=None,
        target_difficult=None,
        Y=None,
        objects=None,
        target_names=list(VOC_CLASSES),
        year=year,
        image_set=image_set,
        root=voc,
        ignored=[],
        DESCR=_VOC_DESCR.format(year=year, image_set=image_set),
    )
    frame = pd.DataFrame({"path": pd.Series(paths, dtype=object), "image_id": pd.Series(ids, dtype=object)})
    if not annotated:
        data.frame = frame
        data.DESCR += (
            f"\nThis is the VOC-{year} test set, whose labels are not public: target, "
            "target_difficult, Y and objects are None; score predictions on the evaluation server.\n"
        )
        return data

    annotation_dir = os.path.join(voc, "Annotations")
    if not os.path.isdir(annotation_dir):
        raise DatasetNotFoundError(f"expected the annotations of {set_rel} in {annotation_dir}: directory not found")
    annotation_paths = [os.path.join(annotation_dir, f"{image_id}.xml") for image_id in ids]
    missing = [image_id for image_id, path in zip(ids, annotation_paths) if not os.path.isfile(path)]
    if missing:
        raise DatasetNotFoundError(
            _missing_listed(set_rel, missing, lambda i: f"Annotations/{i}.xml") + f" (expected in {annotation_dir})"
        )
    column = {name: k for k, name in enumerate(VOC_CLASSES)}
    # -1 everywhere, then 0 for any object of the class, then 1 for a non-difficult one.
    target = np.full((len(ids), len(VOC_CLASSES)), -1, dtype=np.int64)
    objects = []
    for row, (image_id, path) in enumerate(zip(ids, annotation_paths)):
        image_objects = _parse_voc_annotation(path, image_id)
        for obj in image_objects:
            k = column[obj["name"]]
            target[row, k] = max(target[row, k], 0 if obj["difficult"] else 1)
        objects.extend(image_objects)
    data.target = target
    data.target_difficult = target == 0
    data.Y = (target >= 0).astype(np.int64)
    columns = ["image_id", "name", "difficult", "truncated", "pose", "xmin", "ymin", "xmax", "ymax"]
    data.objects = pd.DataFrame(objects, columns=columns)
    for k, name in enumerate(VOC_CLASSES):
        frame[name] = target[:, k]
    data.frame = frame
    return data


def load_voc(root, year="2007", image_set="trainval", *, download=False):
    """Load a PASCAL VOC image set with its image-level multi-label targets.

    Reads ``VOCdevkit/VOC<year>/ImageSets/Main/<image_set>.txt`` (the image
    ids), ``JPEGImages/<id>.jpg`` and ``Annotations/<id>.xml``. ``root`` may
    be the directory holding ``VOCdevkit`` (torchvision's layout), the
    ``VOCdevkit`` directory, or the ``VOC<year>`` directory itself.

    Parameters
    ----------
    root : str or os.PathLike
        See above.
    year : {"2007", "2008", "2009", "2010", "2011", "2012"}, default="2007"
        The challenge year (an int is accepted).
    image_set : {"train", "val", "trainval", "test"}, default="trainval"
        The image set. The test sets after 2007 have no public annotations:
        they load with ``target`` (and ``target_difficult``, ``Y``,
        ``objects``) None, and their annotation files, if any, are not read.
    download : bool, default=False
        If the image set is not found, download and extract it with
        ``torchvision.datasets.VOCDetection(root, year=year,
        image_set=image_set, download=True)`` (into ``root/VOCdevkit``), then
        read it. The VOC-2007 test set is a separate archive, downloaded for
        ``image_set="test"``; the later test sets are not downloadable.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        paths : list of str
            ``JPEGImages/<id>.jpg`` of each image, in the image set's order
            (which is sorted by id in the official files).
        image_ids : list of str
            The ids, in the same order.
        target : ndarray of shape (n_images, 20), dtype int64, or None
            The devkit's encoding, that of its ``<class>_<set>.txt`` files:
            ``1`` the class is present (at least one object not marked
            difficult), ``0`` only difficult objects of the class (ignored by
            the devkit's evaluation), ``-1`` absent. Columns follow
            ``VOC_CLASSES``. :func:`skvgg.metrics.voc_average_precision`
            reads this encoding directly and ignores the 0 entries.
        target_difficult : ndarray of bool, shape (n_images, 20), or None
            ``target == 0``: the entries the evaluation ignores.
        Y : ndarray of shape (n_images, 20), dtype int64, or None
            0/1 indicator to train a multi-label classifier on:
            ``target >= 0``, i.e. difficult-only entries count as positives.
            The class is visible in those images, so calling them negatives
            would teach the classifier that it is absent; calling them
            positives costs nothing at test time, where they are ignored.
        objects : DataFrame or None
            One row per annotated object: ``image_id``, ``name``,
            ``difficult``, ``truncated``, ``pose``, ``xmin``, ``ymin``,
            ``xmax``, ``ymax`` (NaN when absent).
        target_names : list of str
            ``VOC_CLASSES``.
        frame : DataFrame
            Columns ``path``, ``image_id`` and, when annotated, one column per
            class with the ``target`` values.
        year, image_set : str
        root : str
            The ``VOC<year>`` directory that was read.
        ignored : list
            Always empty (kept for symmetry with the other loaders).
        DESCR : str
            The dataset, the paper's protocol and its Table 11 results.

    Raises
    ------
    DatasetNotFoundError
        If the directory, the image set file, a listed image or annotation is
        missing (all missing ids are counted in the message).
    DatasetFormatError
        If an annotation is not valid XML or names an unknown class, or the
        image set file is malformed.
    DatasetDownloadError
        If ``download=True`` was needed and failed.

    Notes
    -----
    An object without a ``<difficult>`` element (some VOC-2012 objects) is not
    difficult, as in the devkit. An annotated image without any object has
    ``-1`` in every column.
    """
    root = _as_root(root)
    year, image_set = _check_voc_args(year, image_set)
    download = _check_bool(download, "download")
    try:
        return _read_voc(root, year, image_set)
    except DatasetNotFoundError:
        if not download:
            raise
    if image_set == "test" and year != "2007":
        raise DatasetDownloadError(
            f"the VOC-{year} test set cannot be downloaded automatically: its images come from the "
            f"evaluation server {_VOC_SERVER} after registration; extract them into "
            f"{os.path.join(root, 'VOCdevkit', f'VOC{year}')}"
        )
    url = _voc_archive(year, image_set)
    how = (
        f"download {url} and extract it into {root}, so that "
        f"{os.path.join(root, 'VOCdevkit', f'VOC{year}', 'ImageSets', 'Main', f'{image_set}.txt')} exists"
    )
    import torchvision.datasets

    _download(
        f"PASCAL VOC {year} ({image_set})",
        url,
        how,
        lambda: torchvision.datasets.VOCDetection(root, year=year, image_set=image_set, download=True),
    )
    return _read_voc(root, year, image_set)


def load_voc2007(root, image_set="trainval", *, download=False):
    """:func:`load_voc` with ``year="2007"`` (train on ``"trainval"``, test on ``"test"``)."""
    return load_voc(root, "2007", image_set, download=download)


def load_voc2012(root, image_set="trainval", *, download=False):
    """:func:`load_voc` with ``year="2012"`` (``"test"`` loads without labels)."""
    return load_voc(root, "2012", image_set, download=download)
