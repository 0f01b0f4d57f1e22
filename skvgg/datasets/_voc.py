"""PASCAL VOC: an image set with the devkit's image-level multi-label targets and objects."""

from __future__ import annotations

import os
import re
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Hidden, Options, StrOptions, validate_params

from .._typing import StrPath
from ._base import (
    DatasetDownloadError,
    DatasetNotFoundError,
    as_root,
    bunch_or_X_y,
    download_with,
    find_dir,
    load_descr,
    not_found,
    torchvision_datasets,
)
from ._voc_devkit import VOC_CLASSES, read_image_set, read_targets

__all__ = ["load_voc", "load_voc2007", "load_voc2012"]


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


def _voc_dir(root, year):
    name = f"VOC{year}"
    candidates = [
        os.path.join(root, "VOCdevkit", name),
        os.path.join(root, name),
        os.path.join(root, "TrainVal", "VOCdevkit", name),  # torchvision's VOC-2011 layout
    ]
    if os.path.basename(root) == name:
        candidates.insert(0, root)
    return find_dir(candidates)


def _voc_archive(year, image_set):
    """URL of the archive holding ``image_set`` of ``year``."""
    if image_set == "test" and year == "2007":
        return _VOC_URLS["2007-test"]
    return _VOC_URLS[year]


def _missing_listed(set_rel, ids, what):
    first = ids[0]
    message = f"{set_rel} lists {first} but {what(first)} is missing"
    if len(ids) > 1:
        shown = ", ".join(ids[1:6]) + (", ..." if len(ids) > 6 else "")
        message += f" (and {len(ids) - 1} more: {shown})"
    return message


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
        raise not_found(root, os.path.join(root, layout), os.path.join(root, "VOCdevkit", name), also, hint)
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
    ids = read_image_set(set_path, set_rel)
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
        DESCR=load_descr("voc.rst", year=year, image_set=image_set),
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
    target, data.objects = read_targets(ids, annotation_paths)
    data.target = target
    data.target_difficult = target == 0
    data.Y = (target >= 0).astype(np.int64)
    for k, name in enumerate(VOC_CLASSES):
        frame[name] = target[:, k]
    data.frame = frame
    return data


# An int year is accepted too, but the messages name the documented strings.
_YEAR = [StrOptions(set(_VOC_YEARS)), Hidden(Options(Integral, {int(year) for year in _VOC_YEARS}))]
_IMAGE_SET = [StrOptions(set(_VOC_IMAGE_SETS))]
_PARAMETERS = {"root": [str, os.PathLike], "image_set": _IMAGE_SET, "download": ["boolean"], "return_X_y": ["boolean"]}


@validate_params({**_PARAMETERS, "year": _YEAR}, prefer_skip_nested_validation=True)
def load_voc(
    root: StrPath, year: str | int = "2007", image_set: str = "trainval", *, download: bool = False, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray | None]:
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
    return_X_y : bool, default=False
        Return ``(paths, target)`` instead of the Bunch. ``target`` is the
        devkit's 1/0/-1 encoding (None for a test set without public labels),
        which the metrics of :mod:`skvgg.metrics` score against; to train a
        classifier, take the 0/1 ``Y`` from the Bunch.

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
            As passed.
        root : str
            The ``VOC<year>`` directory that was read.
        ignored : list
            Always empty (kept for symmetry with the other loaders).
        DESCR : str
            The dataset, the paper's protocol and its Table 11 results.
    (paths, target) : tuple
        With ``return_X_y=True``: the ``paths`` and ``target`` above.

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

    See Also
    --------
    load_voc2007 : The VOC-2007 image sets of the paper's Table 11.
    load_voc2012 : The VOC-2012 image sets.
    skvgg.metrics.voc_mean_average_precision : The devkit's mAP of these targets.

    Examples
    --------
    On a generated miniature of the devkit's layout (the real trainval set gives
    ``(5011, 20)``):

    >>> import tempfile
    >>> from skvgg.datasets import load_voc
    >>> from skvgg.testing import make_voc
    >>> root = make_voc(tempfile.mkdtemp(), "2007")
    >>> data = load_voc(root, "2007", "trainval")
    >>> data.Y.shape
    (6, 20)
    >>> data.target_names[:3]
    ['aeroplane', 'bicycle', 'bird']
    """
    data = _load_voc(as_root(root), str(int(year)), image_set, download)
    return bunch_or_X_y(data, return_X_y)


def _load_voc(root, year, image_set, download):
    """Read the image set, downloading it first when it is missing and ``download`` is set."""
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
    download_with(
        f"PASCAL VOC {year} ({image_set})",
        url,
        how,
        lambda: torchvision_datasets().VOCDetection(root, year=year, image_set=image_set, download=True),
    )
    return _read_voc(root, year, image_set)


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
def load_voc2007(
    root: StrPath, image_set: str = "trainval", *, download: bool = False, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray | None]:
    """:func:`load_voc` with ``year="2007"`` (train on ``"trainval"``, test on ``"test"``).

    Parameters
    ----------
    root : str or os.PathLike
        As in :func:`load_voc`.
    image_set : {"train", "val", "trainval", "test"}, default="trainval"
        The image set; the paper trains on "trainval" and tests on "test".
    download : bool, default=False
        As in :func:`load_voc`.
    return_X_y : bool, default=False
        As in :func:`load_voc`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        As :func:`load_voc` returns it.

    See Also
    --------
    load_voc : Any year.

    Examples
    --------
    >>> import tempfile
    >>> from skvgg.datasets import load_voc2007
    >>> from skvgg.testing import make_voc
    >>> paths, Y = load_voc2007(make_voc(tempfile.mkdtemp(), "2007"), "test", return_X_y=True)
    >>> len(paths), Y.shape
    (4, (4, 20))
    """
    return load_voc(root, "2007", image_set, download=download, return_X_y=return_X_y)


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
def load_voc2012(
    root: StrPath, image_set: str = "trainval", *, download: bool = False, return_X_y: bool = False
) -> Bunch | tuple[list[str], np.ndarray | None]:
    """:func:`load_voc` with ``year="2012"`` (``"test"`` loads without labels).

    Parameters
    ----------
    root : str or os.PathLike
        As in :func:`load_voc`.
    image_set : {"train", "val", "trainval", "test"}, default="trainval"
        The image set; "test" has no public labels (scored by the evaluation server).
    download : bool, default=False
        As in :func:`load_voc`.
    return_X_y : bool, default=False
        As in :func:`load_voc`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        As :func:`load_voc` returns it.

    See Also
    --------
    load_voc : Any year.

    Examples
    --------
    >>> import tempfile
    >>> from skvgg.datasets import load_voc2012
    >>> from skvgg.testing import make_voc
    >>> root = make_voc(tempfile.mkdtemp(), "2012")
    >>> load_voc2012(root, "train").Y.shape
    (2, 20)
    >>> load_voc2012(root, "test").Y is None  # no public labels
    True
    """
    return load_voc(root, "2012", image_set, download=download, return_X_y=return_X_y)
