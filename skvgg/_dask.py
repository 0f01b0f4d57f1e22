"""Dask collections in, dask collections out: the estimators' methods on a cluster, one network per worker.

The estimators call :func:`dispatch` first thing in ``transform``, ``predict`` and
``predict_proba``; it answers None for ordinary inputs (one dictionary lookup when dask was
never imported), so nothing here costs anything without dask. For a dask Series, one-column
DataFrame, bag or array of paths it builds a lazy dask array (or DataFrame under
``set_output(transform="pandas")``) with known chunk sizes: one task per input partition,
each calling the estimator's own method on that partition's items in a worker.

The estimator travels as one graph key: each worker receives and unpickles it once, and
the tasks on that worker share the object, whose network is loaded on first use
(featurizer networks through :func:`skvgg.runtime.shared_network`, which counts builds per
process; a fitted classifier's network is registered there too, under a digest of its
pickle). Inside :func:`distribute` (``skvgg.dask.distribute``), plain lists are sent to the
cluster the same way and the result is gathered, which is how code that was never written
for dask (``run_transfer``, a grid search's pipelines) runs on a cluster.

dask's own metadata inference calls a method on fabricated placeholder partitions (strings
such as ``"a"`` and ``pd.NA``): :func:`dispatch` recognises that call from dask's frames
and answers with zeros of the right shape and dtype, so dask-ml's ``ParallelPostFit`` over
a dask DataFrame works without ``transform_meta``.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import importlib
import pickle
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["EXTRA", "MissingExtraError", "require", "dispatch", "check_input", "is_dask_collection", "Distribute"]

EXTRA = "skvgg[dask]"


class MissingExtraError(ImportError):
    """An optional dependency of ``skvgg[dask]`` is not installed."""


def require(module: str, what: str = "Running on dask"):
    """Import ``module`` or raise a :class:`MissingExtraError` naming the ``skvgg[dask]`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{what} needs the optional dependencies of {EXTRA} (dask, distributed, dask-ml): "
            f"pip install '{EXTRA}' ({module} could not be imported: {error})"
        ) from error


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a dask collection (without importing dask when nothing imported it)."""
    dask = sys.modules.get("dask")
    return dask is not None and hasattr(dask, "is_dask_collection") and dask.is_dask_collection(X)


# --- the per-call context: inside a task, or distributing plain inputs ---------------------------

_IN_TASK = contextvars.ContextVar("skvgg_dask_in_task", default=False)


@dataclass(frozen=True)
class Distribute:
    """Where :func:`dispatch` sends plain inputs: a client (None: the active one) and the partition size."""

    client: object = None
    partition_size: int = 64


_DISTRIBUTE: contextvars.ContextVar[Distribute | None] = contextvars.ContextVar("skvgg_dask_distribute", default=None)


@contextlib.contextmanager
def distributing(settings: Distribute):
    token = _DISTRIBUTE.set(settings)
    try:
        yield settings
    finally:
        _DISTRIBUTE.reset(token)


def dispatch(estimator, method: str, X):
    """The result of ``estimator.<method>(X)`` when dask is involved, else None.

    - a dask collection: a lazy dask array (or DataFrame) of the results;
    - a plain input inside :func:`skvgg.dask.distribute`: computed on the cluster, gathered;
    - dask inferring metadata (placeholder partitions): zeros of the right shape and dtype.
    """
    if "dask" not in sys.modules or _IN_TASK.get():
        return None
    if is_dask_collection(X):
        return lazy(estimator, method, X)
    settings = _DISTRIBUTE.get()
    if settings is not None:
        return gather(estimator, method, X, settings)
    if _inferring_meta():
        return _placeholder(estimator, method, X)
    return None


def check_input(X) -> None:
    """``fit``'s cheap check of ``X``: the container of a dask collection (nothing computed), else :func:`check_images`."""
    if is_dask_collection(X):
        _as_partitioned(X, count=False)
    else:
        from .images import check_images

        check_images(X)


# --- dask's metadata inference -----------------------------------------------------------------

# The functions through which dask and dask-ml call an estimator on fabricated data to
# learn the output's type: dask.dataframe's emulate (map_partitions without meta) and
# dask-ml's meta helper for arrays.
_META_CALLERS = {
    ("dask.dataframe", "emulate"),
    ("dask.dataframe", "_emulate"),
    ("dask_ml", "_get_output_dask_ar_meta_for_estimator"),
}


def _inferring_meta(depth: int = 12) -> bool:
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        module = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_name
        if any(module.startswith(package) and name == caller for package, caller in _META_CALLERS):
            return True
        frame = frame.f_back
    return False


def _placeholder(estimator, method, X):
    """Zeros shaped as ``method``'s output for ``len(X)`` rows: only their type reaches dask."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    try:
        n = len(X)
    except TypeError:
        n = 1
    width, dtype = _output_spec(estimator, method)
    if width is None:
        return np.asarray(estimator.classes_)[np.zeros(n, dtype=int)]
    return np.zeros((n, width), dtype=dtype)


def _output_spec(estimator, method):
    """(columns or None for 1-D, dtype) of ``method``'s output."""
    if method == "transform":
        width = getattr(estimator, "n_features_out_", None)
        return (len(estimator.get_feature_names_out()) if width is None else width), np.dtype(np.float32)
    if method == "predict_proba":
        return len(estimator.classes_), np.dtype(np.float32)
    if method == "predict":
        return None, np.asarray(estimator.classes_).dtype
    raise ValueError(f"{method!r} has no dask counterpart")


# --- partitions of the input -------------------------------------------------------------------

_EXPECTED = "expected a dask Series or one-column DataFrame of image paths, a dask bag of images or a 1-D dask array of paths"


@dataclass
class _Partitions:
    parts: list  # one delayed object (or plain list) per partition
    lengths: list
    frame: object = None  # the dask Series the parts came from (its index labels the output rows)


def _as_partitioned(X, count=True) -> _Partitions:
    """Split a dask collection into per-partition delayed objects and their lengths (computed when unknown)."""
    kind = type(X).__module__.split(".")[:2]
    if kind == ["dask", "array"]:
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim == 4:  # a batch of images, split along the first axis only
            X = X.rechunk({1: -1, 2: -1, 3: -1})
        elif X.ndim != 1:
            raise ValueError(f"X is a {X.ndim}-D dask array of shape {X.shape}; {_EXPECTED} (or a 4-D batch of images)")
        if not count:
            return _Partitions([], [])
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        return _Partitions(list(X.to_delayed().ravel()), [int(c) for c in X.chunks[0]])
    if kind == ["dask", "dataframe"]:
        if type(X).__name__ == "DataFrame":
            if len(X.columns) != 1:
                raise ValueError(
                    f"X is a dask DataFrame with {len(X.columns)} columns {list(X.columns)!r}; expected exactly one "
                    "column of image paths (select it, e.g. X[['path']])"
                )
            X = X[X.columns[0]]
        elif type(X).__name__ != "Series":
            raise TypeError(f"X is a dask {type(X).__name__}; {_EXPECTED}")
        if not count:
            return _Partitions([], [])
        lengths = X.map_partitions(len).compute()
        return _Partitions(list(X.to_delayed()), [int(n) for n in lengths], frame=X)
    if kind == ["dask", "bag"] and type(X).__name__ == "Bag":
        if not count:
            return _Partitions([], [])
        lengths = X.map_partitions(_count).compute()
        return _Partitions(list(X.to_delayed()), [int(n) for n in lengths])
    raise TypeError(f"X is a dask {type(X).__name__} ({type(X).__module__}); {_EXPECTED}")


def _count(partition):
    return [sum(1 for _ in partition)]


def _items(part) -> list:
    """The items of one partition as the estimators take them (a list; a 4-D block stays an array)."""
    if isinstance(part, np.ndarray) and part.ndim == 4:
        return part
    if hasattr(part, "tolist") and not isinstance(part, np.ndarray):
        return part.tolist()  # pandas Series
    return list(part)


# --- the estimator as it travels -----------------------------------------------------------------


def shipped(estimator):
    """A shallow copy for the workers (plain arrays out, no progress bars) and a digest of its pickle."""
    copy_ = copy.copy(estimator)
    copy_.__dict__["_sklearn_output_config"] = {"transform": "default"}  # not shared with the original
    if "verbose" in copy_.__dict__:
        copy_.verbose = False
    return copy_, _digest(copy_)


class _HashingFile:
    def __init__(self):
        self.hash = hashlib.blake2b(digest_size=16)

    def write(self, data):
        self.hash.update(data)


class _TensorContentPickler(pickle.Pickler):
    """Pickles tensors as their dtype, shape and bytes: torch's own pickle carries a random serialization id."""

    def reducer_override(self, obj):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            data = obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            return bytes, (str(obj.dtype).encode() + repr(tuple(obj.shape)).encode() + data,)
        return NotImplemented


def _digest(estimator) -> str:
    """A digest of ``estimator``'s content, equal for equal estimators (it names the estimator in the graph)."""
    sink = _HashingFile()
    _TensorContentPickler(sink, protocol=pickle.HIGHEST_PROTOCOL).dump(estimator)
    return sink.hash.hexdigest()


# Statistics of this process's tasks, read by skvgg.dask.worker_stats through Client.run.
_STATS = {"partitions": 0, "images": 0}
_STATS_LOCK = threading.Lock()


def stats() -> dict:
    from .runtime import network_builds

    with _STATS_LOCK:
        return dict(_STATS, network_builds=network_builds())


def ready(estimator, digest: str):
    """``estimator`` with its network loaded in this process (once per process and estimator)."""
    from .runtime import shared_network

    if hasattr(estimator, "_get_networks"):  # the featurizer's networks live in the shared registry already
        estimator._get_networks()
    elif getattr(estimator, "_network", None) is None:
        # A fitted classifier restores its own network; register it so a worker does that once.
        estimator._network = shared_network(("skvgg.dask", type(estimator).__name__, digest), estimator._get_network)
    return estimator


def run_partition(estimator, digest: str, method: str, part, offset: int):
    """``estimator.<method>`` on one partition's items; errors name the row in the whole input."""
    return _run(estimator, digest, method, part, offset)[0]


def run_partition_reporting(estimator, digest: str, method: str, part, offset: int):
    """:func:`run_partition` and the images it could not read (``on_error="nan"``), indexed in the whole input."""
    result, used = _run(estimator, digest, method, part, offset)
    failures = [dict(f, index=f["index"] + offset) for f in getattr(used, "failures_", None) or []]
    return result, failures


def _run(estimator, digest, method, part, offset):
    """The result and the estimator that computed it: a shallow copy per task, so that tasks running at
    once in one worker (``threads_per_worker`` > 1) share the loaded network but not ``failures_``."""
    from .images import ImageInputError

    items = _items(part)
    if len(items) == 0:
        width, dtype = _output_spec(estimator, method)
        return np.empty((0,) if width is None else (0, width), dtype=dtype), None
    used = copy.copy(ready(estimator, digest))
    token = _IN_TASK.set(True)
    try:
        result = np.asarray(getattr(used, method)(items))
    except ImageInputError as error:
        index = None if error.index is None else error.index + offset
        raise ImageInputError(error.reason, index=index, path=error.path, description=error.description) from None
    except Exception as error:
        error.add_note(f"(in the partition of rows {offset} to {offset + len(items) - 1} of the dask input)")
        raise
    finally:
        _IN_TASK.reset(token)
    with _STATS_LOCK:
        _STATS["partitions"] += 1
        _STATS["images"] += len(items)
    return result, used


# --- lazy results --------------------------------------------------------------------------------


def tasks(estimator, method, partitions: _Partitions, function=run_partition, extra=lambda index: ()):
    """One delayed call of ``function(estimator, digest, method, part, offset, *extra(index))`` per partition."""
    dask = require("dask")
    copy_, digest = shipped(estimator)
    # One key for the estimator: each worker receives and unpickles it once, its tasks share it.
    node = dask.delayed(copy_, name=f"skvgg-{type(estimator).__name__}-{digest}", traverse=False)
    call = dask.delayed(function, pure=True)
    offsets = np.concatenate([[0], np.cumsum(partitions.lengths)]).astype(int)
    return [call(node, digest, method, part, int(offsets[i]), *extra(i)) for i, part in enumerate(partitions.parts)], offsets


def lazy(estimator, method, X):
    """``estimator.<method>`` of a dask collection, as a lazy dask array or (``set_output``) DataFrame."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    da = require("dask.array")
    partitions = _as_partitioned(X)
    if sum(partitions.lengths) == 0:
        raise ValueError("X is empty: expected at least one image")
    width, dtype = _output_spec(estimator, method)
    delayed, offsets = tasks(estimator, method, partitions)
    blocks = [
        da.from_delayed(d, shape=(n,) if width is None else (n, width), dtype=dtype) for d, n in zip(delayed, partitions.lengths)
    ]
    array = da.concatenate(blocks, axis=0)
    if method == "transform" and _pandas_output(estimator):
        return _lazy_frame(estimator, array, partitions, delayed, offsets)
    return array


def _pandas_output(estimator) -> bool:
    from sklearn.utils._set_output import _get_output_config

    dense = _get_output_config("transform", estimator)["dense"]
    if dense not in ("default", "pandas"):
        raise ValueError(f"set_output(transform={dense!r}) has no lazy dask counterpart; use 'pandas' or 'default'")
    return dense == "pandas"


def _lazy_frame(estimator, array, partitions: _Partitions, delayed, offsets):
    """The descriptors as a dask DataFrame with named columns, indexed as the input (or 0..n-1)."""
    dask = require("dask")
    dd = require("dask.dataframe")
    import pandas as pd

    _pass_lazy_frames_through_set_output()
    names = [str(name) for name in estimator.get_feature_names_out()]
    frame = dask.delayed(_frame, pure=True)
    if partitions.frame is not None:
        parts = [frame(d, part, names) for d, part in zip(delayed, partitions.parts)]
        index_meta = partitions.frame._meta.index
        divisions = partitions.frame.divisions if partitions.frame.known_divisions else None
    else:
        parts = [frame(d, (int(offsets[i]), int(offsets[i + 1])), names) for i, d in enumerate(delayed)]
        index_meta = pd.RangeIndex(0)
        divisions = None
        if all(n > 0 for n in partitions.lengths):
            divisions = tuple(int(o) for o in offsets[:-1]) + (int(offsets[-1]) - 1,)
    meta = pd.DataFrame(np.empty((0, len(names)), dtype=np.float32), columns=names, index=index_meta[:0])
    return dd.from_delayed(parts, meta=meta, divisions=divisions, verify_meta=False)


def _frame(values, labels, names):
    import pandas as pd

    index = pd.RangeIndex(*labels) if isinstance(labels, tuple) else labels.index
    return pd.DataFrame(values, columns=names, index=index)


_ADAPTER_LOCK = threading.Lock()


def _pass_lazy_frames_through_set_output():
    """Let scikit-learn's pandas output pass a dask DataFrame through instead of computing it.

    ``set_output(transform="pandas")`` wraps what ``transform`` returns with
    ``pd.DataFrame(result)``, which would compute a lazy result and drop its names; the
    adapter installed here returns dask collections unchanged (their columns are named
    already) and defers to scikit-learn's for everything else.
    """
    from sklearn.utils import _set_output

    with _ADAPTER_LOCK:
        current = _set_output.ADAPTERS_MANAGER.adapters["pandas"]
        if getattr(current, "_skvgg_lazy", False):
            return

        class LazyPandasAdapter(type(current)):
            _skvgg_lazy = True

            def create_container(self, X_output, X_original, columns, inplace=True):
                if is_dask_collection(X_output):
                    return X_output
                return super().create_container(X_output, X_original, columns, inplace=inplace)

        _set_output.ADAPTERS_MANAGER.adapters["pandas"] = LazyPandasAdapter()


# --- plain inputs computed on a cluster (skvgg.dask.distribute) ----------------------------------


def list_partitions(items, partition_size: int) -> _Partitions:
    parts = [items[i : i + partition_size] for i in range(0, len(items), partition_size)]
    return _Partitions(parts, [len(p) for p in parts])


def client_of(settings_client):
    distributed = require("distributed")
    if settings_client is not None:
        return settings_client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            "skvgg.dask.distribute() found no dask client: start one (distributed.Client(...)) or pass client="
        ) from None


def compute_with_progress(client, delayed, sizes, *, verbose, desc, unit="img"):
    """Compute ``delayed`` on ``client``, a progress bar counting ``sizes`` across the cluster; results in order."""
    from tqdm.auto import tqdm

    distributed = require("distributed")
    futures = client.compute(delayed)
    position = {future.key: i for i, future in enumerate(futures)}
    started = time.perf_counter()
    try:
        with tqdm(total=int(sum(sizes)), disable=not verbose, unit=unit, desc=desc) as progress:
            for future in distributed.as_completed(futures):
                future.result()  # raises the task's error here
                progress.update(int(sizes[position[future.key]]))
        return [future.result() for future in futures], time.perf_counter() - started
    finally:
        for future in futures:
            future.cancel()


def gather(estimator, method, X, settings: Distribute):
    """``estimator.<method>(X)`` for a plain ``X``, computed on the cluster and gathered here."""
    from sklearn.utils.validation import check_is_fitted

    from .images import check_images

    check_is_fitted(estimator)
    items = check_images(X)
    partitions = list_partitions(items, settings.partition_size)
    delayed, _ = tasks(estimator, method, partitions, function=run_partition_reporting)
    results, _ = compute_with_progress(
        client_of(settings.client), delayed, partitions.lengths,
        verbose=bool(getattr(estimator, "verbose", False)), desc=type(estimator).__name__,
    )  # fmt: skip
    failures = [failure for _, part_failures in results for failure in part_failures]
    if hasattr(estimator, "failures_"):  # as the local call leaves it, and with its warning
        estimator.failures_ = failures
        if failures:
            from .images import ImageFailureWarning

            listing = "\n".join(f"  X[{f['index']}] {f['path'] or ''}: {f['reason']}" for f in failures)
            warnings.warn(
                f"{len(failures)} of {len(items)} images could not be read; their rows are NaN:\n{listing}",
                ImageFailureWarning,
                stacklevel=4,
            )
    return np.concatenate([values for values, _ in results], axis=0)
