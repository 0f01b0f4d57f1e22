"""The command line's inputs as a list of paths: image files, folders walked, CSV files of paths.

Rules (also in ``docs/user-guide/inputs.md``):

- a folder is walked recursively (symbolic links followed, each folder once), in
  sorted path order; a file is taken when Pillow registers its extension, or, for any
  other name (none, ``.jfif``, ``.dat``...), when Pillow identifies its content from a
  bounded header read (:func:`is_image_file`); every file skipped is named on stderr;
- a CSV file (header row first) lists paths in its ``path`` column, the column named
  by ``path_column``, or its only column; values are read verbatim as strings
  (``NA``, ``null``, ``0042`` and ``" a.jpg"`` are file names, never missing values or
  numbers); relative ones are relative to the CSV file's folder, never the working
  directory; URLs are kept as they are (loading names them as URLs);
- anything else is a path, kept as given.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Sequence

from PIL import Image, ImageFile

from .._filesystem import open_regular_file
from ._budget import open_image
from ._files import url_reason

__all__ = ["expand_inputs", "is_image_file"]

# Enough for the header of every format Pillow identifies from a signature; a JPEG whose
# metadata pushes its frame header further is still recognised by its signature.
_HEADER_BYTES = 4096
_SIGNATURE_BYTES = 16  # what PIL.Image.open gives its plugins' accept() functions
_SHOWN_SKIPPED = 10


def _readable_formats():
    """The formats Pillow opens *and decodes* here.

    Left out: stub formats, which Pillow identifies but cannot decode without a handler the
    application registers (HDF5, GRIB, BUFR, WMF: a folder of ``.h5`` files is not a folder
    of images), and EPS/PS without Ghostscript.
    """
    Image.init()
    readable = {
        fmt
        for fmt, (factory, _) in Image.OPEN.items()
        if not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
    }
    if "EPS" in readable:
        from PIL import EpsImagePlugin

        if not EpsImagePlugin.has_ghostscript():
            readable.discard("EPS")
    return readable


_REGISTRY_SEEN = {}  # Pillow's plugin registry (as a key) -> (readable formats, their extensions)


def _readable():
    """(readable formats, extension -> format), computed once per state of Pillow's registry.

    Not once per file of a walk; a plugin registered later (pillow-heif's) is still seen.
    """
    Image.init()
    state = (tuple(Image.ID), len(Image.EXTENSION))
    known = _REGISTRY_SEEN.get(state)
    if known is None:
        formats = _readable_formats()
        extensions = {ext: fmt for ext, fmt in Image.registered_extensions().items() if fmt in formats}
        _REGISTRY_SEEN.clear()
        known = _REGISTRY_SEEN[state] = (formats, extensions)
    return known


def _identify(head, extension):
    """The format Pillow reads ``head`` (the first bytes of a file) as, or None."""
    try:
        with open_image(io.BytesIO(head)) as img:
            fmt = img.format
    except Exception:  # noqa: BLE001 - Pillow's plugins raise many types on foreign data
        fmt = None
    readable, extensions = _readable()
    if fmt is not None:
        if fmt not in readable:
            return None
        _, accept = Image.OPEN[fmt]
        # Formats without a signature (Pillow tries them on any data) count only under their own extension.
        if accept is not None or extensions.get(extension) == fmt:
            return fmt
        return None
    if len(head) < _HEADER_BYTES:
        return None  # the whole file was read, and Pillow does not identify it
    # The header did not fit in the bytes read (a JPEG with large metadata segments): a
    # signature that a plugin accepts still identifies the format.
    prefix = head[:_SIGNATURE_BYTES]
    for fmt, (_, accept) in Image.OPEN.items():
        if fmt not in readable:
            continue
        try:
            if accept is not None and accept(prefix):
                return fmt
        except Exception:  # noqa: BLE001
            continue
    return None


def is_image_file(path) -> bool:
    """Whether the walk takes ``path``: a regular file whose extension Pillow registers, or whose content it identifies.

    Reads at most 4 KiB of the file, and only when its extension is not registered.
    """
    try:
        if not os.path.isfile(path):
            return False
        extension = os.path.splitext(os.fspath(path))[1].lower()
        if extension in _readable()[1]:
            return True
        with open_regular_file(path) as fp:
            head = fp.read(_HEADER_BYTES)
    except (OSError, ValueError):
        return False
    return bool(head) and _identify(head, extension) is not None


def _walk(directory, unreadable):
    """Regular files under ``directory``, symbolic links followed, each folder visited once.

    Folders that cannot be listed are appended to ``unreadable`` (``os.walk`` would skip them silently).
    """
    seen = set()
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True, onerror=unreadable.append):
        status = os.stat(dirpath)
        if (status.st_dev, status.st_ino) in seen:  # a link back up the tree
            dirnames[:] = []
            continue
        seen.add((status.st_dev, status.st_ino))
        for name in filenames:
            yield os.path.join(dirpath, name)


def _walk_images(directory, report):
    found, skipped, unreadable = [], [], []
    for path in sorted(_walk(directory, unreadable)):
        (found if is_image_file(path) else skipped).append(path)
    for error in unreadable:
        report(f"skvgg: cannot list folder {error.filename} ({error.strerror or error}): its files are not read")
    if skipped:
        shown = ", ".join(repr(os.path.relpath(p, directory)) for p in skipped[:_SHOWN_SKIPPED])
        more = f" and {len(skipped) - _SHOWN_SKIPPED} more" if len(skipped) > _SHOWN_SKIPPED else ""
        report(f"skvgg: skipped {len(skipped)} file(s) in {directory} that Pillow does not identify as images: {shown}{more}")
    return found


def _csv_paths(csv_path, path_column):
    """The paths a CSV file lists, verbatim, relative ones joined to the CSV file's folder."""
    try:
        handle = open(csv_path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ValueError(f"CSV file {csv_path}: cannot open it ({exc.strerror or exc})") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise ValueError(f"CSV file {csv_path} is empty; expected a header row, then one image path per row")
            if path_column is not None:
                column = path_column
            elif "path" in header:
                column = "path"
            elif len(header) == 1:
                column = header[0]
            else:
                column = None
            if column not in header:
                raise ValueError(f"{csv_path} has columns {header}; name the one holding image paths with --path-column")
            position = header.index(column)
            folder = os.path.dirname(os.fspath(csv_path))
            paths = []
            for row in reader:
                if not row:  # a blank line: csv gives [], not an empty value
                    continue
                value = row[position] if position < len(row) else ""
                if not value:
                    raise ValueError(f"{csv_path}, line {reader.line_num}: column {column!r} is empty; expected an image path")
                if not os.path.isabs(value) and url_reason(value) is None:
                    value = os.path.join(folder, value)
                paths.append(value)
        except csv.Error as exc:
            raise ValueError(f"{csv_path}, line {reader.line_num}: not a readable CSV file ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise ValueError(f"{csv_path}: not UTF-8 text ({exc}); expected a CSV file of image paths") from exc
    return paths


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]], path_column: str | None = None, report: Callable[[str], object] | None = None
) -> list[str]:
    """The image paths that command-line inputs name, in order.

    Parameters
    ----------
    inputs : list of str
        Image files, folders (walked recursively) and ``.csv`` files of paths (see
        the module's rules).
    path_column : str or None, default=None
        The CSV column holding paths; None: ``path``, or the only column.
    report : callable or None, default=None
        Called with a message naming the files a folder walk skipped; None: printed
        on stderr.

    Returns
    -------
    paths : list of str

    Raises
    ------
    ValueError
        If a folder holds no image, a CSV file is missing, unreadable, lacks the
        column or has an empty value (its line is named), or nothing is left.
    """
    if report is None:

        def report(message):
            print(message, file=sys.stderr)

    paths = []
    for text in inputs:
        text = os.fspath(text)
        if os.path.isdir(text):
            found = _walk_images(text, report)
            if not found:
                raise ValueError(f"directory {text} holds no image files (none that Pillow identifies)")
            paths.extend(found)
        elif text.lower().endswith(".csv"):
            if not os.path.isfile(text):
                raise ValueError(f"CSV file {text} not found")
            paths.extend(_csv_paths(text, path_column))
        else:
            paths.append(text)
    if not paths:
        raise ValueError("no input images")
    return paths
