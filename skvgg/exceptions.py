"""Every exception and warning skvgg defines, in one tree (as :mod:`sklearn.exceptions`).

Catch :class:`SkvggError` for any failure of skvgg's own, and filter :class:`SkvggWarning`
for any of its warnings. Each error also keeps the builtin base it has always had
(``ValueError`` for bad content, ``OSError`` for files and downloads, ``ImportError`` for
a missing package), so ``except ValueError`` and ``except OSError`` still catch them.
Invalid parameter values (``arch="vgg17"``, ``batch_size=0``) stay plain ``ValueError``
or ``TypeError``, as in scikit-learn::

    SkvggError (Exception)
    ├── ImageInputError (ValueError)            a bad item of X, named by index and path
    ├── WeightsError (ValueError)               a weights= value that cannot be used
    │   ├── WeightsMismatchError                keys or shapes differ from the network's
    │   ├── WeightsCorruptedError               SHA-256 differs from the hash in the name
    │   └── WeightsUnavailableError (OSError)   pretrained weights could not be downloaded
    ├── DatasetError                            a dataset folder that cannot be loaded
    │   ├── DatasetNotFoundError (FileNotFoundError)
    │   ├── DatasetFormatError (ValueError)
    │   └── DatasetDownloadError (OSError)
    ├── NotRegularFileError (OSError)           a directory, pipe or device where a file was expected
    ├── MissingExtraError (ImportError)         an optional dependency is not installed
    └── CommandError                            a command-line failure (skvgg: error: ..., exit 1)

    SkvggWarning (UserWarning)
    ├── ImageFailureWarning                     images left as NaN rows (on_error="nan")
    ├── CacheWarning                            the descriptor cache costs time, never correctness
    │   ├── CacheIntegrityWarning               a damaged entry, recomputed
    │   └── CacheReadOnlyWarning                a cache directory that cannot be written
    ├── TrainingInterrupted                     fit stopped by Ctrl-C, best weights kept
    ├── PerformanceWarning                      a precision this CPU runs slowly
    └── OutOfMemoryWarning (ResourceWarning)    a batch retried at half its size

The classes are also importable from where they were first defined (``skvgg.WeightsError``,
``skvgg.models.weights.WeightsError``, ``skvgg.images.ImageInputError``, ``skvgg.DatasetNotFoundError``,
``skvgg.cache.CacheWarning``...): the same objects. Tracebacks name them by this module
(``skvgg.exceptions.ImageInputError``), their one home.

Examples
--------
>>> import skvgg
>>> from skvgg.exceptions import SkvggError
>>> try:
...     skvgg.build_vgg("vgg11", weights="/no/such/file.pth")
... except SkvggError as error:
...     print(type(error).__name__, isinstance(error, ValueError))
WeightsError True
"""

# This module imports nothing from skvgg: every other module may import it.

from __future__ import annotations

__all__ = [
    "CacheIntegrityWarning",
    "CacheReadOnlyWarning",
    "CacheWarning",
    "CommandError",
    "DatasetDownloadError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageFailureWarning",
    "ImageInputError",
    "MissingExtraError",
    "NotRegularFileError",
    "OutOfMemoryWarning",
    "PerformanceWarning",
    "SkvggError",
    "SkvggWarning",
    "TrainingInterrupted",
    "WeightsCorruptedError",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
]


# --- the two roots -------------------------------------------------------------------------------


class SkvggError(Exception):
    """Base class of every error skvgg raises of its own (not of invalid parameter values).

    Each subclass also derives from the builtin exception that describes it (``ValueError``,
    ``OSError``, ``ImportError``...), so code catching those keeps working.

    Examples
    --------
    >>> from skvgg.exceptions import SkvggError, WeightsError
    >>> issubclass(WeightsError, SkvggError) and issubclass(WeightsError, ValueError)
    True
    """


class SkvggWarning(UserWarning):
    """Base class of every warning skvgg issues.

    ``warnings.simplefilter("ignore", SkvggWarning)`` silences them all, ``"error"`` turns
    them into exceptions.
    """


# --- images ---------------------------------------------------------------------------------------


def format_item_message(reason: str, index: int | None, description: str | None) -> str:
    """``'X[3] (description): reason'``, with the parts that are known: how skvgg names an input item."""
    where = "image" if index is None else f"X[{index}]"
    if description is not None:
        where = f"{where} ({description})"
    return f"{where}: {reason}"


class ImageInputError(SkvggError, ValueError):
    """A bad input item: unreadable, undecodable, or pixels of the wrong kind.

    Raised by the estimators' ``transform``, ``predict``... and by :func:`skvgg.images.load_rgb`
    for the first item that cannot be used (``on_error="raise"``, the default).

    Parameters
    ----------
    reason : str
        What is wrong and what was expected.
    index : int or None, default=None
        Position of the item in ``X``, when known.
    path : str or None, default=None
        The item's file path, when the item is a path.
    description : str or None, default=None
        Short description of the item (see :func:`skvgg.images.describe_item`); defaults
        to the quoted path when ``path`` is given.

    Attributes
    ----------
    index : int or None
        Position of the item in ``X``, or None.
    path : str or None
        The item's file path, or None for in-memory items.
    reason : str
        What is wrong and what was expected.
    description : str or None
        Short description of the item, or None.

    Examples
    --------
    >>> str(ImageInputError("file not found; expected a readable image file",
    ...                     index=3, path="/data/cat.jpg"))
    "X[3] ('/data/cat.jpg'): file not found; expected a readable image file"
    """

    def __init__(self, reason: str, index: int | None = None, path: str | None = None, description: str | None = None) -> None:
        if description is None and path is not None:
            description = repr(path)
        self.reason = reason
        self.index = index
        self.path = path
        self.description = description
        super().__init__(format_item_message(reason, index, description))

    def __reduce__(self):
        # The default reduction would call cls(message) and prefix it twice;
        # estimators run in joblib workers must be able to send this back.
        return (type(self), (self.reason, self.index, self.path, self.description))


class ImageFailureWarning(SkvggWarning):
    """Some images could not be read; their rows were filled with NaN (``on_error="nan"``).

    The message lists every failed item; the estimator's ``failures_`` holds them too.
    """


# --- weights --------------------------------------------------------------------------------------


class WeightsError(SkvggError, ValueError):
    """A ``weights=`` value that cannot be used: an unknown name, weights not published for the
    architecture, an unsafe or unreadable file.

    The base of :class:`WeightsMismatchError`, :class:`WeightsCorruptedError` and
    :class:`WeightsUnavailableError`: catch it for every weights problem.
    """


class WeightsMismatchError(WeightsError):
    """A checkpoint whose keys or shapes differ from the network's (raised when it is loaded strictly)."""


class WeightsCorruptedError(WeightsError):
    """A weights file whose SHA-256 does not start with the hash prefix in its name (torchvision's
    ``vgg16-397923af.pth`` convention): a damaged download, to delete and fetch again."""


class WeightsUnavailableError(WeightsError, OSError):
    """Pretrained weights could not be obtained (download failed, no network).

    A :class:`WeightsError` (catch that for every weights problem) and an ``OSError``
    (as the failed download it reports).
    """

    def __new__(cls, *args, **kwargs):
        # ValueError comes first in the MRO, but OSError decides the instance's layout, so
        # ``ValueError.__new__`` refuses this class ("not safe"): build it through OSError's.
        # Unpicklers that call ``cls.__new__(cls)`` (tblib's, which Dask installs) need this.
        return OSError.__new__(cls, *args, **kwargs)


# --- datasets -------------------------------------------------------------------------------------


class DatasetError(SkvggError):
    """A dataset that cannot be loaded: the base of the three errors of :mod:`skvgg.datasets`' loaders.

    Catch it for every dataset problem; each subclass is also the builtin error of its kind.
    """


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset directory or a file that its layout requires does not exist."""


class DatasetFormatError(DatasetError, ValueError):
    """A dataset's files exist but do not have the expected layout or content."""


class DatasetDownloadError(DatasetError, OSError):
    """``download=True`` failed; the message says what to download and where to extract it."""


# --- files, optional dependencies, the command line -----------------------------------------------


class NotRegularFileError(SkvggError, OSError):
    """A path that names a directory, a pipe, a device or a socket where a regular file was expected.

    Raised before anything is read: opening a named pipe would block, ``/dev/zero`` never ends.
    Image items that are such paths become an :class:`ImageInputError` naming the item.
    """


class MissingExtraError(SkvggError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it.

    Raised when a feature is used, not when skvgg is imported: ``precision="int8"``
    (``skvgg[int8]``, torchao), Dask collections (``skvgg[dask]``), figures
    (``skvgg[plot]``, matplotlib), ``.safetensors`` files (``skvgg[skops]``, safetensors).

    Parameters
    ----------
    message : str
        What needs the dependency and how to install it (``pip install 'skvgg[dask]'``).
    extra : str or None, default=None
        The extra to install, as pip spells it (``"skvgg[dask]"``).
    name : str or None, default=None
        The module that could not be imported (``ImportError.name``).

    Attributes
    ----------
    extra : str or None
        The extra to install.
    name : str or None
        The module that could not be imported.

    Examples
    --------
    >>> error = MissingExtraError("figures need matplotlib: pip install 'skvgg[plot]'",
    ...                           extra="skvgg[plot]", name="matplotlib")
    >>> error.extra, error.name, isinstance(error, ImportError)
    ('skvgg[plot]', 'matplotlib', True)
    """

    def __init__(self, message: str, *, extra: str | None = None, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra


class CommandError(SkvggError):
    """A failure of the command line, reported as ``skvgg: error: ...`` with exit status 1.

    Raised inside ``skvgg`` commands (an output that cannot be written, a missing parquet
    engine...); :func:`skvgg.cli.main` reports it and returns 1, so it does not reach callers.
    """


# --- warnings -------------------------------------------------------------------------------------


class CacheWarning(SkvggWarning):
    """A problem with the descriptor cache that costs time, never correctness."""


class CacheIntegrityWarning(CacheWarning):
    """A disk-cache entry failed its integrity check (damaged, truncated, garbage): it was recomputed."""


class CacheReadOnlyWarning(CacheWarning):
    """A disk-cache directory cannot be written: its entries are read, new ones are not stored."""


class TrainingInterrupted(SkvggWarning):
    """``fit`` was interrupted (Ctrl-C); the model keeps the best weights so far.

    ``history_`` ends with ``{"interrupted": True}``; ``warm_start=True`` continues.
    """


class PerformanceWarning(SkvggWarning):
    """A ``precision`` that runs on this CPU, but slowly: ``float16`` without native float16
    instructions, ``int8`` without VNNI or AMX. The message gives the measured speeds."""


class OutOfMemoryWarning(SkvggWarning, ResourceWarning):
    """A batch ran out of memory and was retried at half its size; later batches keep the smaller size.

    Also a ``ResourceWarning``, which Python's default filters hide: it shows under
    ``python -W default``, in pytest, or with ``warnings.simplefilter("always", OutOfMemoryWarning)``.
    """
