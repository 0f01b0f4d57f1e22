"""Per-image descriptor cache: in memory for this process, or on disk shared by processes.

Keys combine the image's identity (:func:`skvgg.images.image_key`: content hash for
in-memory images, path + size + modification time for files) with a fingerprint of every
parameter that changes the descriptor. Values are float32 vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["DescriptorCache", "MemoryCache", "DiskCache", "open_cache", "fingerprint", "clear_memory_cache"]


def fingerprint(*parts) -> str:
    """Stable hex digest of the ``repr`` of ``parts`` (parameters, weights identity...)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


class DescriptorCache:
    """Interface: ``get(key) -> ndarray | None`` and ``put(key, vector)``."""

    def get(self, key: str):  # pragma: no cover - interface
        raise NotImplementedError

    def put(self, key: str, value: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class MemoryCache(DescriptorCache):
    """A process-wide LRU bounded in bytes (descriptors of all featurizers share it)."""

    def __init__(self, max_bytes: int = 2 * 1024**3):
        self.max_bytes = max_bytes
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._store.get(key)
            if value is not None:
                self._store.move_to_end(key)
            return value

    def put(self, key, value):
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

    def clear(self):
        with self._lock:
            self._store.clear()
            self._bytes = 0

    def __len__(self):
        return len(self._store)


class DiskCache(DescriptorCache):
    """One ``.npy`` file per descriptor under ``directory/ab/<key>.npy``.

    Writes go to a temporary file renamed into place, so concurrent processes never
    read a half-written entry; an unreadable entry counts as a miss and is rewritten.
    """

    def __init__(self, directory):
        self.directory = Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cache={str(directory)!r}: cannot create the cache directory ({error})") from error

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key):
        path = self._path(key)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def put(self, key, value):
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(value, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


_MEMORY = MemoryCache()


def clear_memory_cache() -> None:
    """Empty the in-memory descriptor cache shared by ``cache=True`` featurizers."""
    _MEMORY.clear()


def open_cache(cache) -> DescriptorCache | None:
    """``None``/``False`` -> no cache, ``True`` -> the process-wide memory cache, a path -> disk."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return _MEMORY
    if isinstance(cache, str | os.PathLike):
        return DiskCache(cache)
    raise ValueError(f"cache must be None, True or a directory path, got {type(cache).__name__}")
