"""Opening image files: only regular files (:mod:`skvgg._filesystem`), every failure named in words.

Also the two checks that come before any file is opened or any cache is asked: a path
is taken as the kernel resolves it (:func:`stat_path`: ``missing/../cat.jpg`` or
``cat.jpg/`` fail here even though string normalisation would find ``cat.jpg``), and
URLs are named as URLs, not as missing files (:func:`url_reason`).
"""

from __future__ import annotations

import os
import re

from .._filesystem import NotRegularFileError, not_regular_reason, open_regular_file

__all__ = ["open_image_file", "os_error_reason", "path_problem", "regular_reason", "stat_path", "url_reason"]

# scheme://... (RFC 3986 scheme syntax); a Windows drive ("C:\\", "C:/") has no "//".
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def url_reason(path: str) -> str | None:
    """The message for a URL given as a path, or None when ``path`` does not look like one."""
    if not _URL.match(path):
        return None
    if path[:7].lower() == "file://":
        return "file:// URLs are not read: pass the local path instead (e.g. '/data/cat.jpg')"
    return "URLs are not read: download first, then pass the local file path (or the downloaded bytes)"


def os_error_reason(exc, path):
    """Why opening ``path`` failed, in words, with what was expected."""
    if isinstance(exc, NotRegularFileError):
        return regular_reason(str(exc))
    if isinstance(exc, FileNotFoundError):
        return url_reason(path) or "file not found; expected a readable image file"
    if isinstance(exc, IsADirectoryError) or (isinstance(exc, PermissionError) and os.path.isdir(path)):
        # Windows reports opening a directory as a permission error.
        return "is a directory; expected an image file"
    if isinstance(exc, PermissionError):
        return "permission denied; expected a readable image file"
    if isinstance(exc, ValueError):  # a NUL byte, an unencodable name
        return f"invalid path ({exc}); expected a path to an image file"
    return f"cannot open the file ({exc}); expected a readable image file"


def regular_reason(reason):
    """A :func:`skvgg._filesystem.not_regular_reason` completed with what was expected."""
    return f"{reason}; expected an image file"


def stat_path(path, fail):
    """``os.stat(path)`` as the kernel resolves the path, for a regular file; ``fail(reason, cause)`` raises."""
    try:
        status = os.stat(path)
    except (OSError, ValueError) as exc:
        fail(os_error_reason(exc, path), exc)
    reason = not_regular_reason(status.st_mode)
    if reason is not None:
        fail(regular_reason(reason))
    return status


def path_problem(path):
    """Why ``path`` cannot be opened as an image file (missing, a URL, not a regular file...), or None."""
    problems = []

    def fail(reason, cause=None):
        problems.append(reason)
        raise LookupError

    try:
        stat_path(os.fspath(path), fail)
    except LookupError:
        return problems[0]
    return None


def open_image_file(path, fail):
    """:func:`skvgg._filesystem.open_regular_file`, failures passed to ``fail(reason, cause)`` in words."""
    try:
        return open_regular_file(path)
    except (OSError, ValueError) as exc:
        fail(os_error_reason(exc, path), exc)
