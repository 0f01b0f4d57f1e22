"""Files on disk, for the whole package: opening only regular files, atomic writes, content digests.

One home for three ideas that images, the descriptor cache, weight files and Dask's
parquet parts all need:

- :func:`open_regular_file` opens a path for binary reading and refuses anything but a
  regular file (a named pipe would block forever, ``/dev/zero`` never ends), checked
  from ``stat`` before the open and from ``fstat`` after it;
- :func:`atomic_write` writes a file beside its target and renames it into place, so
  that readers see the old file or the complete new one;
- :func:`digest_fields` is the blake2b digest of length-prefixed fields, used for
  content keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import threading
from numbers import Integral
from pathlib import Path

from .exceptions import NotRegularFileError

__all__ = ["NotRegularFileError", "atomic_write", "digest_fields", "not_regular_reason", "open_regular_file"]

_SPECIAL_FILES = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    for test, name in _SPECIAL_FILES:
        if test(mode):
            return f"not a regular file ({name})"
    return "not a regular file"


# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes the open
# return at once, and the fstat below then refuses it. Regular files ignore the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def open_regular_file(path):
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The path is checked with ``stat`` before it is opened (opening a device or a pipe
    can block or have effects) and the open descriptor again with ``fstat`` (the path
    may have been replaced in between). Readers then read the returned file object,
    never the name, so it cannot be swapped afterwards.

    Raises
    ------
    NotRegularFileError
        If ``path`` is not a regular file; ``str(error)`` says what it is.
    OSError, ValueError
        As :func:`os.stat` and :func:`os.open` raise them (missing file, permission,
        a NUL byte in the name).
    """
    reason = not_regular_reason(os.stat(path).st_mode)
    if reason is not None:
        raise NotRegularFileError(reason)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        reason = not_regular_reason(os.fstat(fd).st_mode)
        if reason is not None:
            raise NotRegularFileError(reason)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def atomic_write(target, write, durable: bool = True) -> None:
    """``write(temporary)`` into a hidden file beside ``target``, then rename it into place.

    The rename is atomic within a folder: ``target`` is either absent (or as it was) or
    complete, even when the writer is killed or the disk fills up while writing. The
    file gets the permissions the umask allows (``0o666 & ~umask``), so that a shared
    folder stays readable by its other users.

    Parameters
    ----------
    target : str or os.PathLike
        The file to write.
    write : callable
        Called with the temporary path (a :class:`pathlib.Path`); writes the content.
    durable : bool, default=True
        Flush the data to disk before the rename (``fsync``), so that a power loss
        cannot leave the name pointing at an empty file. False for entries that can
        be recomputed (the descriptor cache), where the flush costs more than a loss.
    """
    target = Path(target)
    temporary = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        write(temporary)
        if durable:
            descriptor = os.open(temporary, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(descriptor)  # the data on disk before the name points at it
            finally:
                os.close(descriptor)
        os.chmod(temporary, 0o666 & ~process_umask())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


_UMASK_LOCK = threading.Lock()


def process_umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux's
    ``/proc/self/status``): ``os.umask`` can only read it by setting it, and a file another
    thread creates in that moment would get the wrong mode. Elsewhere it is read that way,
    under a lock (skvgg's own writers never see the moment; other threads may)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def digest_fields(*fields, digest_size: int = 16) -> str:
    """Hex blake2b digest of length-prefixed fields (``str``, ``int`` or buffers).

    Length prefixes keep ``("ab", "c")`` and ``("a", "bc")`` apart; strings are UTF-8
    (with surrogate escapes, so any file name hashes).

    Examples
    --------
    >>> digest_fields("a", "bc") != digest_fields("ab", "c")
    True
    >>> len(digest_fields(b"data", 3))
    32
    """
    digest = hashlib.blake2b(digest_size=digest_size)
    for field in fields:
        if isinstance(field, str):
            field = field.encode("utf-8", "surrogateescape")
        elif isinstance(field, Integral):
            field = str(int(field)).encode()
        view = memoryview(field)
        digest.update(view.nbytes.to_bytes(8, "little"))
        digest.update(view)
    return digest.hexdigest()
