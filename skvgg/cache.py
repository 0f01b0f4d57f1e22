"""Per-image descriptor cache: in memory for this process, or on disk shared by processes.

Keys combine the image's identity (:func:`skvgg.images.image_key`: content hash for
in-memory images, path + size + modification time for files) with a fingerprint of every
parameter that changes the descriptor. Values are float32 vectors.

Both caches are bounded in bytes and drop the least recently used entries first: the
memory cache at 2 GiB, a disk cache at :data:`DEFAULT_DISK_CACHE_BYTES` unless
``cache=DiskCache(directory, max_bytes=...)`` says otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import stat
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import joblib
import numpy as np

from ._filesystem import NotRegularFileError, atomic_write, open_regular_file
from .exceptions import CacheIntegrityWarning, CacheReadOnlyWarning, CacheWarning

__all__ = [
    "CacheIntegrityWarning",
    "CacheReadOnlyWarning",
    "CacheWarning",
    "DEFAULT_DISK_CACHE_BYTES",
    "DescriptorCache",
    "DiskCache",
    "MemoryCache",
    "clear_memory_cache",
    "fingerprint",
    "open_cache",
]


#: The size bound of a disk cache given as a directory (``cache="path"``): 10 GiB, about
#: 650,000 fc7 descriptors (16 KiB each).
DEFAULT_DISK_CACHE_BYTES = 10 * 1024**3


def fingerprint(*parts: object) -> str:
    """Stable hex digest of ``parts`` (parameters, weights identity...), by :func:`joblib.hash`.

    joblib hashes what the values hold, the way scikit-learn's tools do: numpy arrays by
    their bytes, dtype and shape (``repr`` elides the middle of large arrays, so two
    different arrays could share a ``repr``), dicts and sets in a stable order. The digest
    is the same in every process and Python version that joblib supports.
    """
    return joblib.hash(parts, hash_name="md5")


class DescriptorCache:
    """Interface: ``get(key) -> ndarray | None`` and ``put(key, vector)``."""

    def get(self, key: str) -> np.ndarray | None:  # pragma: no cover - interface
        raise NotImplementedError

    def put(self, key: str, value: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class MemoryCache(DescriptorCache):
    """A process-wide LRU bounded in bytes (descriptors of all featurizers share it)."""

    def __init__(self, max_bytes: int = 2 * 1024**3) -> None:
        self.max_bytes = max_bytes
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._store.get(key)
            if value is not None:
                self._store.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        value = np.array(value, dtype=np.float32, copy=True)
        value.flags.writeable = False  # callers get views of shared entries
        with self._lock:
            old = self._store.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._store[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes and self._store:
                _, dropped = self._store.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self._bytes = 0

    def __len__(self):
        return len(self._store)


# An entry is a version 1.0 ``.npy`` file (``np.load`` reads it) whose header dict is
# followed by a Python comment carrying a BLAKE2b-256 digest of the entry's key, shape
# and little-endian float32 payload. numpy parses the header with ``ast.literal_eval``,
# which skips comments; the digest lives inside the one file renamed into place, so an
# entry and its checksum can never be out of step.
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_NPY_PREFIX = len(_NPY_MAGIC) + 2  # magic, then the header length as little-endian uint16
_MAX_HEADER = 4096
_ENTRY_HEADER = re.compile(
    r"\{'descr': '<f4', 'fortran_order': False, 'shape': \(([0-9, ]*)\), \} # skvgg-blake2b256:([0-9a-f]{64}) *\n"
)
# What np.save wrote in skvgg 0.1.0, before entries carried a digest.
_LEGACY_HEADER = re.compile(r"\{'descr': '[^']+', 'fortran_order': (?:True|False), 'shape': \([0-9, ]*\), \} *\n")
# Damaged entries are reported one by one up to this many per directory and process,
# then once more in summary: a damaged volume must not bury the output in warnings.
_MAX_REPORTS = 5

_state_lock = threading.Lock()
_unwritable: set[str] = set()  # directories whose writes failed in this process
_reports: dict[str, int] = {}  # damaged entries reported so far, per directory
_usage: dict[str, int] = {}  # bytes of entries per directory: last scan + this process's stores since


class _Damaged(Exception):
    """An entry that exists but must not be served; the message says why."""


def _digest(key: str, shape_text: str, payload: bytes) -> str:
    h = hashlib.blake2b(digest_size=32)
    h.update(key.encode())
    h.update(b"\0" + shape_text.encode() + b"\0")
    h.update(payload)
    return h.hexdigest()


def _encode(key: str, value: np.ndarray) -> bytes:
    """The bytes of a checksummed ``.npy`` entry for a float32 array."""
    value = np.ascontiguousarray(value, dtype="<f4")
    shape_text = repr(tuple(int(n) for n in value.shape))[1:-1]
    payload = value.tobytes()
    header = (
        f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({shape_text}), }} "
        f"# skvgg-blake2b256:{_digest(key, shape_text, payload)}"
    )
    header += " " * ((-(_NPY_PREFIX + len(header) + 1)) % 64) + "\n"  # numpy aligns the data on 64 bytes
    return _NPY_MAGIC + len(header).to_bytes(2, "little") + header.encode("latin1") + payload


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a file that must not exist yet (O_EXCL: never through a planted link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _decode(f, key: str):
    """Read an entry from an open file: the array, ``None`` for a pre-digest entry, or raise _Damaged."""
    size = os.fstat(f.fileno()).st_size
    prefix = f.read(_NPY_PREFIX)
    if len(prefix) < _NPY_PREFIX or prefix[: len(_NPY_MAGIC)] != _NPY_MAGIC:
        raise _Damaged("not a .npy file written by skvgg")
    header_length = int.from_bytes(prefix[len(_NPY_MAGIC) :], "little")
    if header_length > _MAX_HEADER:
        raise _Damaged(f"header of {header_length} bytes")
    header = f.read(header_length).decode("latin1")
    match = _ENTRY_HEADER.fullmatch(header)
    if match is None:
        if _LEGACY_HEADER.fullmatch(header):
            return None
        raise _Damaged("unreadable header")
    shape_text, expected = match.groups()
    shape = tuple(int(n) for n in shape_text.replace(" ", "").split(",") if n)
    if repr(shape)[1:-1] != shape_text:
        raise _Damaged(f"malformed shape ({shape_text})")
    n_bytes = 4 * math.prod(shape)
    if size != _NPY_PREFIX + header_length + n_bytes:
        raise _Damaged(f"{size} bytes where shape {shape} needs {_NPY_PREFIX + header_length + n_bytes} (truncated?)")
    payload = f.read(n_bytes)
    if len(payload) != n_bytes:
        raise _Damaged("truncated while reading")
    if _digest(key, shape_text, payload) != expected:
        raise _Damaged("checksum mismatch: the descriptor's bytes changed after it was written")
    return np.frombuffer(payload, dtype="<f4").reshape(shape)


class DiskCache(DescriptorCache):
    """One ``.npy`` file per descriptor under ``directory/ab/<key>.npy``, checksummed, bounded in size.

    Pass it as ``cache=DiskCache(directory, max_bytes=...)`` to choose the size bound;
    ``cache=directory`` is ``DiskCache(directory)`` with the default bound.

    Parameters
    ----------
    directory : str or os.PathLike
        Where the entries live; created if missing. Several processes (Dask workers,
        a grid search's jobs, other runs) may share it.
    max_bytes : int or None, default=DEFAULT_DISK_CACHE_BYTES
        The most bytes the entries may take (10 GiB by default); ``None`` for no bound.
        When a store takes the directory past it, the least recently used entries (by
        modification time, which a hit refreshes) are deleted until the entries take at
        most 90 % of it. The bound is exact for one writing process; several writers may
        each overshoot it by what they wrote since their last trim (a tenth of the bound
        at most) until their next store trims it.

    Notes
    -----
    Writes go to a temporary file renamed into place, so concurrent processes never
    read a half-written entry. Each entry carries a BLAKE2b digest of its key, shape and
    payload, verified on every read: a damaged entry (flipped bytes, NaNs written in,
    truncated, garbage) is never served; it counts as a miss, is recomputed and rewritten,
    and a :class:`CacheIntegrityWarning` names its file. Entries of skvgg 0.1.0 (plain
    ``np.save`` files without a digest) are silent misses, rewritten in the new form.

    A directory that cannot be written (read-only share, another user's files, full
    disk) stays usable: hits are read, stores are skipped, and one
    :class:`CacheReadOnlyWarning` per directory and process says so.

    Eviction is safe under concurrency: an entry deleted while another process reads it
    is still read whole (POSIX keeps an open file), and an entry deleted by two processes
    at once is simply gone. The object holds only its directory and bound: it pickles,
    copies and clones as a parameter, and compares equal to another with the same values.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int | None = DEFAULT_DISK_CACHE_BYTES) -> None:
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"DiskCache max_bytes must be a positive int or None, got {max_bytes!r}")
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        self.make_directory()
        self._id = os.path.realpath(self.directory)

    def make_directory(self) -> None:
        """Create the directory if it is missing (ValueError naming it if it cannot be)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cache={str(self.directory)!r}: cannot create the cache directory ({error})") from error

    def __reduce__(self):
        # Rebuilt from its parameters where it is unpickled (a Dask worker creates the directory).
        return (type(self), (str(self.directory), self.max_bytes))

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and (self._id, self.max_bytes) == (other._id, other.max_bytes)

    def __hash__(self) -> int:
        return hash((self._id, self.max_bytes))

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r}, max_bytes={self.max_bytes!r})"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            # The package's one opener: a FIFO or a device planted in the cache is refused before it is opened.
            with open_regular_file(path) as f:
                value = _decode(f, key)
            if value is not None and self.max_bytes is not None:
                self._touch(path)
            return value
        except (FileNotFoundError, NotADirectoryError):
            return None
        except NotRegularFileError as error:
            self._report(CacheIntegrityWarning, f"Damaged descriptor cache entry {path} (not a regular file: {error})")
        except _Damaged as damage:
            self._report(CacheIntegrityWarning, f"Damaged descriptor cache entry {path} ({damage})")
        except (OSError, ValueError) as error:
            self._report(CacheWarning, f"Unreadable descriptor cache entry {path} ({type(error).__name__}: {error})")
        return None

    def _report(self, category, message: str) -> None:
        with _state_lock:
            count = _reports.get(self._id, 0) + 1
            _reports[self._id] = count
            unwritable = self._id in _unwritable
        if count > _MAX_REPORTS + 1:
            return
        if count == _MAX_REPORTS + 1:
            message = (
                f"More damaged or unreadable entries in descriptor cache {self.directory}; "
                "they are recomputed without further warnings in this process"
            )
        else:
            message += ": not used; the descriptor is recomputed" + ("" if unwritable else " and the entry rewritten")
        warnings.warn(message, category, stacklevel=4)

    def put(self, key: str, value: np.ndarray) -> None:
        if self._id in _unwritable:
            return
        data = _encode(key, value)
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            # Not flushed to disk (durable=False): an entry lost in a power cut is recomputed.
            atomic_write(path, lambda temporary: _write_new(temporary, data), durable=False)
        except OSError as error:
            self._cannot_write(error)
            return
        if self.max_bytes is not None:
            self._account(len(data))

    def _touch(self, path: Path) -> None:
        """Mark a hit as recently used: its modification time is the LRU clock (atime is often off)."""
        if self._id in _unwritable:
            return
        with contextlib.suppress(OSError):
            os.utime(path)

    def _account(self, written: int) -> None:
        """Add a store to this process's estimate of the directory's size; trim when it passes the bound.

        The estimate is the size found by the last scan plus what this process wrote since:
        the directory is scanned (which also sees other processes' stores and deletions) at
        this process's first store and then only when the estimate passes the bound, so a
        store costs no scan in the common case.
        """
        with _state_lock:
            usage = _usage.get(self._id)
            if usage is not None:
                usage += written
                _usage[self._id] = usage
        if usage is None or usage > self.max_bytes:
            self.trim()

    def entries(self) -> list[tuple[int, int, Path]]:
        """``(last use in ns, bytes, path)`` of every entry, least recently used first."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for bucket in os.scandir(self.directory):
                if len(bucket.name) != 2 or not bucket.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    for entry in os.scandir(bucket.path):
                        if not entry.name.endswith(".npy") or entry.name.startswith("."):
                            continue
                        with contextlib.suppress(FileNotFoundError):
                            info = entry.stat(follow_symlinks=False)
                            if stat.S_ISREG(info.st_mode):
                                found.append((info.st_mtime_ns, info.st_size, Path(entry.path)))
        found.sort(key=lambda item: (item[0], item[2].name))
        return found

    def size(self) -> int:
        """Bytes taken by the entries now (a scan of the directory)."""
        return sum(size for _, size, _ in self.entries())

    def trim(self, target: int | None = None) -> int:
        """Delete least recently used entries until they take at most ``target`` bytes.

        ``target`` defaults to 90 % of ``max_bytes`` (a margin, so that the next stores do
        not trim again at once). Returns the bytes the entries take afterwards.
        """
        if target is None:
            if self.max_bytes is None:
                return self.size()
            target = self.max_bytes - self.max_bytes // 10
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= target:
                break
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass  # another process evicted it first
            except OSError as error:
                self._cannot_write(error)
                break
            total -= size
        with _state_lock:
            _usage[self._id] = total
        return total

    def _cannot_write(self, error: OSError) -> None:
        with _state_lock:
            if self._id in _unwritable:
                return
            _unwritable.add(self._id)
        reason = error.strerror or str(error)
        warnings.warn(
            f"Descriptor cache directory {self.directory} cannot be written ({type(error).__name__}: {reason}): "
            "its entries are still read, but new descriptors are not stored there by this process",
            CacheReadOnlyWarning,
            stacklevel=4,
        )


_MEMORY = MemoryCache()


def clear_memory_cache() -> None:
    """Empty the in-memory descriptor cache shared by ``cache=True`` featurizers."""
    _MEMORY.clear()


def open_cache(cache: bool | str | os.PathLike[str] | DiskCache | None) -> DescriptorCache | None:
    """``None``/``False`` -> no cache, ``True`` -> the process-wide memory cache, a path or a
    :class:`DiskCache` -> disk (a path with the default bound)."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return _MEMORY
    if isinstance(cache, DiskCache):
        cache.make_directory()  # removed since the object was made? recreated, as for a path
        return cache
    if isinstance(cache, str | os.PathLike):
        return DiskCache(cache)
    raise ValueError(f"cache must be None, True, a directory path or a DiskCache, got {type(cache).__name__}")
