"""Caltech-101 and Caltech-256: one loader for the two class-folder layouts."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from .._typing import StrPath
from ._base import (
    JPEG_EXTENSIONS,
    DatasetFormatError,
    as_root,
    bunch_or_X_y,
    class_folders,
    find_dir,
    labels_bunch,
    load_descr,
    locate,
    not_found,
    read_classes,
    torchvision_datasets,
)

__all__ = ["load_caltech101", "load_caltech256"]

_NUMBERED_FOLDER = re.compile(r"^(\d+)\.(.+)$")


@dataclass(frozen=True)
class _Layout:
    """What differs between the two Caltech trees; everything else is read the same way."""

    title: str  # "Caltech-101"
    directory: str  # the extracted directory, "101_ObjectCategories"
    torchvision_dir: str  # torchvision's download root below ``root``, "caltech101"
    torchvision_class: str  # the class of torchvision.datasets that downloads it
    url: str
    extract: str  # how the archive becomes ``directory``, after "download <url>"
    folder: str  # a class folder's name in messages: "<class>" or "NNN.<name>"
    numbered: bool  # folders are NNN.<name>: labels drop the number, ordered by it
    extra_label: str  # the class the paper counts beyond the object categories
    extra_folder: str  # its folder, as messages name it
    descr: str


_CALTECH101 = _Layout(
    title="Caltech-101",
    directory="101_ObjectCategories",
    torchvision_dir="caltech101",
    torchvision_class="Caltech101",
    url="https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
    extract=", unzip it and extract caltech-101/101_ObjectCategories.tar.gz",
    folder="<class>",
    numbered=False,
    extra_label="BACKGROUND_Google",
    extra_folder="BACKGROUND_Google",
    descr="caltech101.rst",
)

_CALTECH256 = _Layout(
    title="Caltech-256",
    directory="256_ObjectCategories",
    torchvision_dir="caltech256",
    torchvision_class="Caltech256",
    url="https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar",
    extract=" and extract it",
    folder="NNN.<name>",
    numbered=True,
    extra_label="clutter",
    extra_folder="257.clutter",
    descr="caltech256.rst",
)


def _find(root, layout):
    candidates = [os.path.join(root, layout.directory), os.path.join(root, layout.torchvision_dir, layout.directory)]
    if os.path.basename(root) == layout.directory:
        candidates.insert(0, root)
    return find_dir(candidates)


def _classes(directory, folders, layout, expected):
    """``(folder, label, number)`` of each class folder, in the dataset's order.

    Caltech-101 folders are their labels (number None), in ``sorted()`` order.
    Caltech-256 folders are ``NNN.<name>``: the label is the name, the order the number's.
    """
    if not layout.numbered:
        return [(folder, folder, None) for folder in folders]
    parsed = []
    for folder in folders:
        match = _NUMBERED_FOLDER.match(folder)
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
    return [(folder, name, number) for number, name, folder in parsed]


def _load_caltech(root, layout, *, download, include_extra):
    """Read a Caltech tree described by ``layout`` (downloading it first if asked and absent)."""
    root = as_root(root)
    manual = (
        f"download {layout.url}{layout.extract} into {root}, "
        f"so that {os.path.join(root, layout.directory, layout.folder, '*.jpg')} exist"
    )
    directory = locate(
        root, lambda r: _find(r, layout), download, layout.title, layout.url, manual,
        lambda: getattr(torchvision_datasets(), layout.torchvision_class)(root, download=True),
    )  # fmt: skip
    if directory is None:
        raise not_found(
            root,
            os.path.join(root, layout.directory, layout.folder, "*.jpg"),
            os.path.join(root, layout.directory),
            also=[os.path.join(root, layout.torchvision_dir, layout.directory)],
            hint=f"pass download=True, or {manual}",
        )
    expected = os.path.join(directory, layout.folder, "*.jpg")
    ignored = []
    classes = _classes(directory, class_folders(directory, expected, ignored), layout, expected)
    if not include_extra:
        classes = [c for c in classes if c[1] != layout.extra_label]
        if not classes:
            raise DatasetFormatError(f"expected {expected}: no class folders other than {layout.extra_folder}")
    folders = [folder for folder, _, _ in classes]
    labels = [label for _, label, _ in classes]
    paths, target = read_classes(directory, folders, labels, JPEG_EXTENSIONS, expected, ignored)
    data = labels_bunch(paths, target, labels, directory, load_descr(layout.descr), ignored)
    if layout.numbered:
        number = {label: num for _, label, num in classes}
        data.frame["class_number"] = np.array([number[label] for label in target], dtype=np.int64)
    return data


_PARAMETERS = {
    "root": [str, os.PathLike],
    "download": ["boolean"],
    "return_X_y": ["boolean"],
}


@validate_params({**_PARAMETERS, "include_background": ["boolean"]}, prefer_skip_nested_validation=True)
def load_caltech101(
    root: StrPath, *, download: bool = False, include_background: bool = True, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray]:
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
    return_X_y : bool, default=False
        Return ``(paths, target)`` instead of the Bunch.

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
    (paths, target) : tuple
        With ``return_X_y=True``: the ``paths`` and ``target`` above.

    Raises
    ------
    DatasetNotFoundError
        If the directory is not found (and ``download`` is False).
    DatasetFormatError
        If there are no class folders or a class folder holds no image.
    DatasetDownloadError
        If ``download=True`` was needed and failed.

    See Also
    --------
    load_caltech256 : The same layout with 256 numbered classes.
    skvgg.model_selection.PerClassSplit : The paper's splits, with ``CALTECH101_PROTOCOL``.

    Examples
    --------
    On a generated miniature of the archive's layout (the real one has 102 classes
    with the background, 101 without):

    >>> import tempfile
    >>> from skvgg.datasets import load_caltech101
    >>> from skvgg.testing import make_caltech101
    >>> root = make_caltech101(tempfile.mkdtemp(), counts={"Faces": 3, "accordion": 2, "BACKGROUND_Google": 2})
    >>> load_caltech101(root).target_names
    ['BACKGROUND_Google', 'Faces', 'accordion']
    >>> paths, labels = load_caltech101(root, include_background=False, return_X_y=True)
    >>> len(paths), labels.tolist()
    (5, ['Faces', 'Faces', 'Faces', 'accordion', 'accordion'])
    """
    data = _load_caltech(root, _CALTECH101, download=download, include_extra=include_background)
    return bunch_or_X_y(data, return_X_y)


@validate_params({**_PARAMETERS, "include_clutter": ["boolean"]}, prefer_skip_nested_validation=True)
def load_caltech256(
    root: StrPath, *, download: bool = False, include_clutter: bool = True, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray]:
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
    return_X_y : bool, default=False
        Return ``(paths, target)`` instead of the Bunch.

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
    (paths, target) : tuple
        With ``return_X_y=True``: the ``paths`` and ``target`` above.

    Raises
    ------
    DatasetNotFoundError
        If the directory is not found (and ``download`` is False).
    DatasetFormatError
        If a folder is not named ``NNN.<name>``, two folders share a number
        or a name, or a class folder holds no image.
    DatasetDownloadError
        If ``download=True`` was needed and failed.

    See Also
    --------
    load_caltech101 : The same layout with 101 unnumbered classes.
    skvgg.model_selection.PerClassSplit : The paper's splits, with ``CALTECH256_PROTOCOL``.

    Examples
    --------
    >>> import tempfile
    >>> from skvgg.datasets import load_caltech256
    >>> from skvgg.testing import make_caltech256
    >>> root = make_caltech256(tempfile.mkdtemp(), counts={"001.ak47": 2, "002.american-flag": 3, "257.clutter": 1})
    >>> data = load_caltech256(root, include_clutter=False)
    >>> data.target_names, len(data.paths)
    (['ak47', 'american-flag'], 5)
    """
    data = _load_caltech(root, _CALTECH256, download=download, include_extra=include_clutter)
    return bunch_or_X_y(data, return_X_y)
