"""Opening image files safely: only regular files, and every failure named in words.

A named pipe, a device, a socket or a directory is refused from its ``stat`` before
anything reads it (a pipe would block forever, ``/dev/zero`` never ends).
"""

from __future__ import annotations

import os
import stat

__all__ = ["not_regular_reason", "open_regular_file", "os_error_reason"]

_SPECIAL_FILES = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def not_regular_reason(mode):
    """Why a file of this st_mode is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory; expected an image file"
    for test, name in _SPECIAL_FILES:
        if test(mode):
            return f"not a regular file ({name}); expected an image file"
    return "not a regular file; expected an image file"


def os_error_reason(exc, path):
    if isinstance(exc, FileNotFoundError):
        return "file not found; expected a readable image file"
    if isinstance(exc, IsADirectoryError) or (isinstance(exc, PermissionError) and os.path.isdir(path)):
        # Windows reports opening a directory as a permission error.
        return "is a directory; expected an image file"
    if isinstance(exc, PermissionError):
        return "permission denied; expected a readable image file"
    if isinstance(exc, ValueError):  # a NUL byte, an unencodable name
        return f"invalid path ({exc}); expected a path to an image file"
    return f"cannot open the file ({exc}); expected a readable image file"


# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes the open
# return at once, and the fstat below then refuses it. Regular files ignore the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def open_regular_file(path, fail):
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The path is checked with ``stat`` before it is opened (opening a device or a
    pipe can block or have effects) and the open descriptor again with ``fstat``
    (the path may have been replaced in between). Pillow then reads the returned
    file object, never the name, so it cannot be swapped afterwards.
    """
    try:
        reason = not_regular_reason(os.stat(path).st_mode)
    except (OSError, ValueError) as exc:
        fail(os_error_reason(exc, path), exc)
    if reason is not None:
        fail(reason)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError) as exc:
        fail(os_error_reason(exc, path), exc)
    try:
        reason = not_regular_reason(os.fstat(fd).st_mode)
        if reason is not None:
            fail(reason)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
