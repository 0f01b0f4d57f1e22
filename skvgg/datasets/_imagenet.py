"""The ILSVRC-2012 validation set (the paper's Tables 3-7), labelled in torchvision's 1000-class order."""

from __future__ import annotations

import os
import re
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._typing import StrPath
from ._base import DatasetFormatError, DatasetNotFoundError, as_root, bunch_or_X_y, load_descr

__all__ = ["IMAGENET_N_CLASSES", "imagenet_categories", "load_imagenet_val"]

#: Classes of ILSVRC-2012 (and outputs of every VGG's fc8 trained on it).
IMAGENET_N_CLASSES = 1000

DEVKIT_DIR = "ILSVRC2012_devkit_t12"
GROUND_TRUTH = os.path.join("data", "ILSVRC2012_validation_ground_truth.txt")
META_MAT = os.path.join("data", "meta.mat")
META_BIN = "meta.bin"
IMAGES_DIR = "ILSVRC2012_img_val"
_VAL_IMAGE = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)

#: What to obtain, and where, when no layout is found (the loader downloads nothing).
HOW_TO_OBTAIN = (
    "obtain ILSVRC2012_img_val.tar (6.3 GB, 50,000 JPEGs) and ILSVRC2012_devkit_t12.tar.gz from "
    "https://image-net.org/download-images (free registration; skvgg downloads nothing), then either "
    "(a) extract both into ROOT, so that ROOT/ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG and "
    f"ROOT/{DEVKIT_DIR}/{GROUND_TRUTH} exist, or (b) put both archives in ROOT and run "
    "torchvision.datasets.ImageNet(ROOT, split='val') once, which writes ROOT/val/<wnid>/*.JPEG and ROOT/meta.bin; "
    "or (c) pass a CSV file of path,label rows (labels 0-999 in torchvision's class order)"
)


def imagenet_categories() -> list[str]:
    """The 1000 class names in torchvision's order (the order of every VGG's fc8 outputs).

    Read from the weights' metadata shipped with torchvision (no download).
    """
    from torchvision.models import VGG16_Weights

    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


# -- The devkit's files ---------------------------------------------------------------------


def read_devkit_meta(path: str) -> list[str]:
    """The WNIDs of the 1000 classes, indexed by ILSVRC2012_ID - 1, from the devkit's ``meta.mat``.

    ``synsets`` also lists the inner nodes of the hierarchy (``num_children`` > 0,
    ILSVRC2012_ID above 1000); only the 1000 leaves are classes.
    """
    from scipy.io import loadmat

    try:
        synsets = loadmat(path, squeeze_me=True)["synsets"]
        ids, wnids, children = synsets["ILSVRC2012_ID"], synsets["WNID"], synsets["num_children"]
    except Exception as error:  # noqa: BLE001 - scipy raises several types for a bad file
        raise DatasetFormatError(
            f"{path} is not the devkit's meta.mat (a 'synsets' struct array with ILSVRC2012_ID, WNID and "
            f"num_children fields): {type(error).__name__}: {error}"
        ) from None
    by_id = {int(i): str(w) for i, w, c in zip(np.atleast_1d(ids), np.atleast_1d(wnids), np.atleast_1d(children)) if int(c) == 0}
    expected = set(range(1, IMAGENET_N_CLASSES + 1))
    if set(by_id) != expected:
        missing = sorted(expected - set(by_id))[:5]
        extra = sorted(set(by_id) - expected)[:5]
        raise DatasetFormatError(
            f"{path}: expected leaf synsets with ILSVRC2012_ID 1..{IMAGENET_N_CLASSES}; missing {missing}, unexpected {extra}"
        )
    return [by_id[i] for i in range(1, IMAGENET_N_CLASSES + 1)]


def read_ground_truth(path: str) -> np.ndarray:
    """One ILSVRC2012_ID (1..1000) per validation image, in image-number order."""
    ids = []
    with open(path, encoding="ascii", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text.isdigit() or not 1 <= int(text) <= IMAGENET_N_CLASSES:
                raise DatasetFormatError(
                    f"{path}, line {number}: expected an ILSVRC2012_ID between 1 and {IMAGENET_N_CLASSES}, got {text!r}"
                )
            ids.append(int(text))
    if not ids:
        raise DatasetFormatError(f"{path} is empty; expected one ILSVRC2012_ID per validation image")
    return np.asarray(ids, dtype=np.int64)


def read_torchvision_meta(path: str) -> list[str]:
    """The WNIDs of the 1000 classes, in torchvision's order, from ``meta.bin`` (``(wnid_to_classes, val_wnids)``)."""
    import torch

    try:
        wnid_to_classes, _ = torch.load(path, weights_only=True)
        wnids = sorted(str(w) for w in wnid_to_classes)
    except Exception as error:  # noqa: BLE001 - pickle and torch errors alike
        raise DatasetFormatError(
            f"{path} is not torchvision's ImageNet meta.bin (a torch.save of (wnid_to_classes, val_wnids)): "
            f"{type(error).__name__}: {error}"
        ) from None
    if len(wnids) != IMAGENET_N_CLASSES:
        raise DatasetFormatError(f"{path} lists {len(wnids)} classes; expected {IMAGENET_N_CLASSES}")
    return wnids


# -- The three layouts ----------------------------------------------------------------------


def _val_images(directory: str, ignored: list) -> list[tuple[int, str]]:
    """``(image number, path)`` of the ``ILSVRC2012_val_NNNNNNNN.JPEG`` files in ``directory``, by number."""
    found = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            match = _VAL_IMAGE.match(entry.name)
            if match and entry.is_file():
                found.append((int(match.group(1)), entry.path))
            else:
                ignored.append(entry.path)
    return found


def _has_val_images(directory: str) -> bool:
    if not os.path.isdir(directory):
        return False
    with os.scandir(directory) as entries:
        return any(_VAL_IMAGE.match(entry.name) for entry in entries)


def _devkit_images_dir(root: str) -> str | None:
    for candidate in (os.path.join(root, IMAGES_DIR), os.path.join(root, "val"), root):
        if _has_val_images(candidate):
            return candidate
    return None


def _read_devkit(root: str, ignored: list):
    devkit = os.path.join(root, DEVKIT_DIR)
    ground_truth, meta = os.path.join(devkit, GROUND_TRUTH), os.path.join(devkit, META_MAT)
    for required in (ground_truth, meta):
        if not os.path.isfile(required):
            raise DatasetNotFoundError(f"expected the devkit's {required}: file not found; {HOW_TO_OBTAIN}")
    images_dir = _devkit_images_dir(root)
    if images_dir is None:
        raise DatasetNotFoundError(
            f"expected {os.path.join(root, IMAGES_DIR, 'ILSVRC2012_val_00000001.JPEG')} (or the same files in "
            f"{os.path.join(root, 'val')} or {root}): no ILSVRC2012_val_*.JPEG found; {HOW_TO_OBTAIN}"
        )
    wnid_of_id = read_devkit_meta(meta)
    ids = read_ground_truth(ground_truth)
    images = _val_images(images_dir, ignored)
    numbers = {number for number, _ in images}
    beyond = [path for number, path in images if number > len(ids)]
    if beyond:
        raise DatasetFormatError(f"{beyond[0]} has no label: {ground_truth} has {len(ids)} lines (one per image)")
    if len(numbers) != len(ids):
        missing = next(n for n in range(1, len(ids) + 1) if n not in numbers)
        raise DatasetFormatError(
            f"{ground_truth} labels {len(ids)} images but {images_dir} holds {len(numbers)}; the first missing is "
            f"ILSVRC2012_val_{missing:08d}.JPEG (an incomplete extraction?); restore the missing images, "
            "or list the images you have with their labels in a path,label CSV"
        )
    wnids = sorted(wnid_of_id)
    index_of = {wnid: k for k, wnid in enumerate(wnids)}
    target = [index_of[wnid_of_id[ids[number - 1] - 1]] for number, _ in images]
    return [path for _, path in images], target, wnids, images_dir


def _read_torchvision(root: str, ignored: list):
    val = os.path.join(root, "val")
    if not os.path.isdir(val):
        raise DatasetNotFoundError(
            f"expected torchvision's layout {os.path.join(val, '<wnid>', '*.JPEG')}: no {val}; {HOW_TO_OBTAIN}"
        )
    folders = []
    with os.scandir(val) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith("."):
                folders.append(entry.name)
            else:
                ignored.append(entry.path)
    meta = os.path.join(root, META_BIN)
    if os.path.isfile(meta):
        wnids = read_torchvision_meta(meta)
    elif len(folders) == IMAGENET_N_CLASSES:
        wnids = folders  # all 1000 class folders: their sorted names are torchvision's order
    else:
        raise DatasetNotFoundError(
            f"expected {meta} (torchvision writes it beside val/): not found, and {val} holds {len(folders)} class "
            f"folders, not {IMAGENET_N_CLASSES}, so their indices in the 1000-class order are unknown; {HOW_TO_OBTAIN}"
        )
    index_of = {wnid: k for k, wnid in enumerate(wnids)}
    paths, target = [], []
    for folder in folders:
        if folder not in index_of:
            raise DatasetFormatError(
                f"{os.path.join(val, folder)} is not an ImageNet class: {folder!r} is not among the WNIDs of {meta}"
            )
        directory = os.path.join(val, folder)
        images = []
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_file() and entry.name.lower().endswith((".jpeg", ".jpg")) and not entry.name.startswith("."):
                    images.append(entry.path)
                else:
                    ignored.append(entry.path)
        if not images:
            raise DatasetFormatError(
                f"class folder {directory} contains no *.JPEG images; remove the folder or restore its images"
            )
        paths.extend(images)
        target.extend([index_of[folder]] * len(images))
    return paths, target, wnids, val


def _read_csv(path: str):
    try:
        frame = pd.read_csv(path, dtype={"path": str, "label": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DatasetFormatError(f"{path} could not be read as CSV: {error}") from None
    if list(frame.columns[:2]) != ["path", "label"]:
        raise DatasetFormatError(
            f"{path}: expected a header 'path,label' (labels 0-999 in torchvision's order), got {list(frame.columns)}"
        )
    if frame.empty:
        raise DatasetFormatError(f"{path} has a header but no rows")
    base = os.path.dirname(path)
    paths, target = [], []
    for row, (image, label) in enumerate(zip(frame["path"], frame["label"]), start=2):  # line 1 is the header
        text = str(label).strip()
        if not text.isdigit() or int(text) >= IMAGENET_N_CLASSES:
            raise DatasetFormatError(
                f"{path}, line {row}: label {label!r} is not a class index between 0 and {IMAGENET_N_CLASSES - 1}"
            )
        if not image:
            raise DatasetFormatError(f"{path}, line {row}: empty path")
        full = os.path.normpath(os.path.join(base, os.path.expanduser(image)))
        if not os.path.isfile(full):
            raise DatasetNotFoundError(f"{path}, line {row}: image {full} does not exist")
        paths.append(full)
        target.append(int(text))
    return paths, target


def _detect(root: str) -> str:
    if os.path.isfile(root):
        return "csv"
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"expected the ILSVRC-2012 validation set in {root}: it does not exist; {HOW_TO_OBTAIN}")
    if os.path.isdir(os.path.join(root, DEVKIT_DIR)) and _devkit_images_dir(root) is not None:
        return "devkit"
    if os.path.isfile(os.path.join(root, META_BIN)) or os.path.isdir(os.path.join(root, "val")):
        return "torchvision"
    if os.path.isdir(os.path.join(root, DEVKIT_DIR)):
        return "devkit"  # its reader names the missing images
    raise DatasetNotFoundError(
        f"expected the ILSVRC-2012 validation set in {root}: found neither {os.path.join(root, DEVKIT_DIR)} with the "
        f"images, nor {os.path.join(root, 'val')}; {HOW_TO_OBTAIN}"
    )


def _first_per_class(target: np.ndarray, per_class: int) -> np.ndarray:
    """Positions of the first ``per_class`` images of each class, in the loader's order."""
    seen: dict[int, int] = {}
    keep = []
    for position, label in enumerate(target.tolist()):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            keep.append(position)
    return np.asarray(keep, dtype=np.intp)


@validate_params(
    {
        "root": [str, os.PathLike],
        "layout": [StrOptions({"auto", "devkit", "torchvision", "csv"})],
        "per_class": [Interval(Integral, 1, None, closed="left"), None],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_imagenet_val(
    root: StrPath, *, layout: str = "auto", per_class: int | None = None, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray]:
    """Load the ILSVRC-2012 validation images with their class indices in torchvision's order.

    The labels are the indices 0-999 of the 1000 classes as every ImageNet-trained VGG's
    fc8 orders them (torchvision's order: the classes' WordNet IDs sorted), whatever the
    layout on disk. Nothing is downloaded.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset directory (or, for ``layout="csv"``, the CSV file).
    layout : {"auto", "devkit", "torchvision", "csv"}, default="auto"
        ``"devkit"``: the official flat folder ``ILSVRC2012_val_00000001.JPEG`` ... (in
        ``root/ILSVRC2012_img_val``, ``root/val`` or ``root``) with the devkit extracted in
        ``root/ILSVRC2012_devkit_t12``: its ``data/ILSVRC2012_validation_ground_truth.txt``
        gives each image's ILSVRC2012_ID, which ``data/meta.mat`` maps to a WordNet ID.
        ``"torchvision"``: ``root/val/<wnid>/*.JPEG`` with ``root/meta.bin``, as
        ``torchvision.datasets.ImageNet(root, split="val")`` leaves them (``meta.bin`` may
        be absent when all 1000 class folders are there). ``"csv"``: a file with a
        ``path,label`` header, labels 0-999, relative paths read from the file's folder.
        ``"auto"``: a file is a CSV; a directory is read as the devkit layout when it holds
        the devkit and the images, else as torchvision's.
    per_class : int or None, default=None
        Keep the first ``per_class`` images of each class (in the order below), for quick
        runs; a class with fewer images keeps them all.
    return_X_y : bool, default=False
        Return ``(paths, target)`` instead of the Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        paths : list of str
            Absolute image paths: by image number (devkit), by class folder then file
            name (torchvision), or in the CSV's row order.
        target : ndarray of int64, shape (n_images,)
            The class index (0-999) of each image.
        target_names : list of str
            The 1000 class names, by index (torchvision's ``categories``).
        wnids : list of str or None
            The 1000 WordNet IDs, by index (None for a CSV).
        frame : DataFrame
            Columns ``path``, ``label`` (the index) and ``name``.
        root : str
            The directory of the images (or the CSV file) that was read.
        layout : str
            The layout read.
        ignored : list of str
            Entries that are not validation images of the layout.
        DESCR : str
            The dataset, the paper's protocols and its published errors.
    (paths, target) : tuple
        With ``return_X_y=True``: the ``paths`` and ``target`` above.

    Raises
    ------
    DatasetNotFoundError
        If the files of the layout are missing; the message names which files to obtain
        and where to place them.
    DatasetFormatError
        If a file has another content than expected (a ground-truth line, a CSV label
        out of 0-999, a class folder that is not a WNID of ``meta.bin``, images without
        labels or labels without images), naming the file and line.

    See Also
    --------
    skvgg.VGGImageNetClassifier : The weights' own 1000-way classifier, scored on this set.
    skvgg.experiments.run_imagenet : The paper's Tables 3-5 protocols on this set.

    Examples
    --------
    On a generated miniature of the devkit layout (the real set has 50 images of each
    of the 1000 classes):

    >>> import tempfile
    >>> from skvgg.datasets import load_imagenet_val
    >>> from skvgg.testing import make_imagenet_val
    >>> root = make_imagenet_val(tempfile.mkdtemp(), layout="devkit", classes=(0, 1, 999), per_class=2)
    >>> data = load_imagenet_val(root)
    >>> data.layout, data.target.tolist()
    ('devkit', [0, 1, 999, 0, 1, 999])
    >>> data.target_names[999]
    'toilet tissue'
    >>> load_imagenet_val(root, per_class=1, return_X_y=True)[1].tolist()
    [0, 1, 999]
    """
    root = as_root(root)
    layout = _detect(root) if layout == "auto" else layout
    ignored: list[str] = []
    wnids = None
    if layout == "csv":
        if not os.path.isfile(root):
            raise DatasetNotFoundError(f"expected a CSV file of path,label rows: {root} is not a file; {HOW_TO_OBTAIN}")
        paths, target = _read_csv(root)
        directory = root
    elif not os.path.isdir(root):
        raise DatasetNotFoundError(f"expected the ILSVRC-2012 validation set in {root}: it does not exist; {HOW_TO_OBTAIN}")
    elif layout == "devkit":
        paths, target, wnids, directory = _read_devkit(root, ignored)
    else:
        paths, target, wnids, directory = _read_torchvision(root, ignored)
    target = np.asarray(target, dtype=np.int64)
    if per_class is not None:
        keep = _first_per_class(target, per_class)
        paths, target = [paths[k] for k in keep], target[keep]
    names = imagenet_categories()
    frame = pd.DataFrame({"path": pd.Series(paths, dtype=object), "label": target, "name": [names[k] for k in target]})
    descr = load_descr("imagenet.rst", root=directory, layout=layout, n_images=len(paths), n_classes=len(np.unique(target)))
    data = Bunch(
        paths=list(paths), target=target, target_names=names, wnids=wnids, frame=frame, root=directory,
        layout=layout, ignored=ignored, DESCR=descr,
    )  # fmt: skip
    return bunch_or_X_y(data, return_X_y)
