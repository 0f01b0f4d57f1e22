"""Any folder of class sub-folders, read as torchvision's ``ImageFolder`` reads it."""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from .._typing import StrPath
from ._base import (
    IMG_EXTENSIONS,
    DatasetNotFoundError,
    as_root,
    bunch_or_X_y,
    class_folders,
    labels_bunch,
    load_descr,
    normalize_extensions,
    pattern,
    read_classes,
)

__all__ = ["load_image_folder"]


@validate_params(
    {"root": [str, os.PathLike], "extensions": [str, Iterable], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    root: StrPath, *, extensions: str | Iterable[str] = IMG_EXTENSIONS, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray]:
    """Load any folder of class sub-folders, as torchvision's ``ImageFolder``.

    Reads ``root/<class>/**/<image>``: each visible sub-folder of ``root`` is a
    class, and every file below it (at any depth, symbolic links followed)
    whose extension is in ``extensions`` is one of its images.

    Parameters
    ----------
    root : str or os.PathLike
        The directory holding the class folders.
    extensions : str or iterable of str, default=IMG_EXTENSIONS
        Image file extensions, matched case-insensitively (``".jpg"`` also
        matches ``"x.JPG"``); the leading dot is optional.
    return_X_y : bool, default=False
        Return ``(paths, target)`` instead of the Bunch.

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
    (paths, target) : tuple
        With ``return_X_y=True``: the ``paths`` and ``target`` above.

    Raises
    ------
    DatasetNotFoundError
        If ``root`` is not a directory.
    DatasetFormatError
        If it has no class folder, or a class folder holds no image.
    ValueError
        If ``extensions`` is empty or holds an empty string.

    See Also
    --------
    load_caltech101 : The Caltech-101 tree, whose class folders hold ``*.jpg`` files only.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from skvgg.datasets import load_image_folder
    >>> from skvgg.testing import make_image_folder
    >>> root = make_image_folder(tempfile.mkdtemp(), counts={"cat": 3, "dog": 2})
    >>> paths, labels = load_image_folder(root, return_X_y=True)
    >>> [os.path.basename(path) for path in paths[:2]], labels.tolist()
    (['img_0001.jpg', 'img_0002.jpg'], ['cat', 'cat', 'cat', 'dog', 'dog'])
    """
    root = as_root(root)
    extensions = normalize_extensions(extensions)
    expected = os.path.join(root, "<class>", pattern(extensions))
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"expected {expected}: directory {root} does not exist")
    ignored = []
    folders = class_folders(root, expected, ignored)
    paths, target = read_classes(root, folders, folders, extensions, expected, ignored, recursive=True)
    descr = load_descr("image_folder.rst", root=root, n_images=len(paths), n_classes=len(folders))
    return bunch_or_X_y(labels_bunch(paths, target, folders, root, descr, ignored), return_X_y)
