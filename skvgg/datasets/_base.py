"""What every dataset loader shares: errors, directory scans, the returned Bunch, descriptions, downloads."""

from __future__ import annotations

import os
import re
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..exceptions import DatasetDownloadError, DatasetError, DatasetFormatError, DatasetNotFoundError

__all__ = [
    "IMG_EXTENSIONS",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DatasetDownloadError",
]

#: Default extensions of :func:`load_image_folder` (torchvision's ``IMG_EXTENSIONS``), matched case-insensitively.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

JPEG_EXTENSIONS = (".jpg",)  # matched case-insensitively


# -- Descriptions and results --------------------------------------------------------------


def load_descr(name, **fields):
    """The text of ``descr/<name>``, with each ``{field}`` replaced by its value.

    Plain replacement rather than ``str.format``: the descriptions hold literal
    braces (``Q in {256, 384, 512}``).
    """
    text = resources.files(__package__).joinpath("descr", name).read_text(encoding="utf-8")
    # One pass, so that a value holding "{...}" (a directory name) is never substituted again.
    return re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), text)


def as_root(root):
    """``root`` as an absolute path string, ``~`` expanded (validate_params checked its type)."""
    return os.path.abspath(os.path.expanduser(os.fsdecode(os.fspath(root))))


def labels_bunch(paths, target, target_names, root, descr, ignored):
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


def bunch_or_X_y(data, return_X_y):
    """``(data.paths, data.target)`` when ``return_X_y``, as scikit-learn's loaders return ``(data, target)``."""
    return (data.paths, data.target) if return_X_y else data


# -- Directory scans ------------------------------------------------------------------------


def normalize_extensions(extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    extensions = tuple(extensions)
    if not extensions or not all(isinstance(ext, str) and ext.strip(".") for ext in extensions):
        raise ValueError(f"extensions must be non-empty strings such as '.jpg', got {extensions!r}")
    return tuple("." + ext.lower().lstrip(".") for ext in extensions)


def pattern(extensions):
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


def class_folders(directory, expected, ignored):
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


def read_classes(directory, folders, labels, extensions, expected, ignored, recursive=False):
    """Images and labels of each class folder; an empty class folder is an error."""
    paths, target = [], []
    scan = _scan_tree if recursive else _scan_flat
    for folder, label in zip(folders, labels):
        class_dir = os.path.join(directory, folder)
        images = scan(class_dir, extensions, ignored)
        if not images:
            raise DatasetFormatError(
                f"expected {expected}: class folder {class_dir} contains no {pattern(extensions)} images "
                "(an incomplete extraction or copy?); remove the folder or restore its images"
            )
        paths.extend(images)
        target.extend([label] * len(images))
    return paths, target


# -- Finding a tree, downloading it ---------------------------------------------------------


def find_dir(candidates):
    """The first of ``candidates`` that is a directory, else None."""
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    return None


def not_found(root, expected, missing, also=(), hint=""):
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


def torchvision_datasets():
    import torchvision.datasets  # imported on demand: only downloads need it

    return torchvision.datasets


def locate(root, find, download, dataset, url, how, factory):
    """``find(root)``; when that finds nothing and ``download`` is set, download first.

    ``factory`` runs torchvision's downloader (imported lazily by the caller's lambda).
    """
    directory = find(root)
    if directory is None and download:
        download_with(dataset, url, how, factory)
        directory = find(root)
    return directory


def download_with(dataset, url, how, factory):
    """Run a torchvision download; any failure becomes a DatasetDownloadError."""
    try:
        factory()
    except Exception as exc:  # noqa: BLE001 - network, checksum and extraction errors alike
        raise DatasetDownloadError(f"could not download {dataset} from {url} ({type(exc).__name__}: {exc}); {how}") from exc
