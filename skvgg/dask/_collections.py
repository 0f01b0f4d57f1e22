"""Dask collections in, dask collections out: the estimators' methods on a cluster, one estimator per worker.

The estimators call :func:`dispatch` first thing in ``transform``, ``predict`` and
``predict_proba``; it answers None for ordinary inputs (one dictionary lookup when dask was
never imported), so nothing here costs anything without dask. For a dask Series, one-column
DataFrame, bag or array of paths it builds a lazy dask array with known chunk sizes: one
task per input partition, each calling the estimator's own method on that partition's
items in a worker. Inside :func:`distribute` (``skvgg.dask.distribute``), plain lists are
sent to the cluster the same way and the result is gathered, which is how code that was
never written for dask (``run_transfer``, a grid search's pipelines) runs on a cluster.

**The estimator reaches each worker once.** With a ``distributed`` client, it is scattered
to every worker (``client.scatter(..., broadcast=True)``) under a key that digests its
content, and the tasks refer to that key: the graph holds a reference, not the estimator
(a fine-tuned classifier pickles its trained weights, hundreds of MiB). Each worker
unpickles it once and its tasks share the object, whose network is loaded on first use (a
worker keeps the last two estimators it prepared by key, so one fetched again after
distributed's memory manager dropped a replica is not loaded again).
With dask's local schedulers (no client) nothing is serialised and the graph holds the
object itself.

**The contract with the estimators** (documented internal hooks; nothing here reads their
private attributes):

``load_network()`` (public)
    Load what the prediction methods need (the networks) in this process and return the
    estimator; idempotent. A worker calls it once per estimator key, under a lock.
``_skvgg_signature()`` (optional)
    A tuple naming everything that changes ``transform``'s output (the parquet store's part
    names, :mod:`skvgg.dask._store`); without it, the estimator's pickle is digested.
``_skvgg_report_failures(failures, n_images)`` (optional)
    Record the images that could not be read (``failures_``) and warn, as a local call of
    ``transform`` does; used when :func:`distribute` gathers the results.

besides the public ``get_params``/``set_params``, ``get_feature_names_out``,
``n_features_out_`` and ``classes_``.

**Output types.** A lazy result is a dask array whose ``meta`` is an empty numpy array of
the output's dtype (:func:`output_meta`). A dask DataFrame of descriptors comes from dask's
own ``meta=`` (``X.map_partitions(estimator.transform, meta=output_meta(estimator, "transform",
output="pandas"))``) or dask-ml's ``ParallelPostFit(estimator, transform_meta=...)``; the
estimators' own methods refuse a dask input under ``set_output(transform="pandas")``, which
would make scikit-learn compute the lazy result into memory.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import copy
import hashlib
import importlib
import pickle
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

import numpy as np

from ..exceptions import MissingExtraError

__all__ = [
    "EXTRA",
    "MissingExtraError",
    "require",
    "dispatch",
    "check_input",
    "is_dask_collection",
    "Distribute",
    "distributing",
    "output_meta",
    "Partitions",
    "as_partitioned",
    "partition_items",
    "list_partitions",
    "shipped",
    "active_client",
    "client_of",
    "tasks",
    "lazy",
    "ready",
    "run_partition",
    "run_partition_reporting",
    "compute_with_progress",
    "gather",
    "stats",
]

EXTRA = "skvgg[dask]"


def require(module: str, what: str = "Running on dask"):
    """Import ``module`` or raise a :class:`MissingExtraError` naming the ``skvgg[dask]`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{what} needs the optional dependencies of {EXTRA} (dask, distributed): "
            f"pip install '{EXTRA}' ({module} could not be imported: {error})",
            extra=EXTRA,
            name=module,
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

    - a dask collection: a lazy dask array of the results;
    - a plain input inside :func:`skvgg.dask.distribute`: computed on the cluster, gathered.
    """
    if "dask" not in sys.modules or _IN_TASK.get():
        return None
    if is_dask_collection(X):
        return lazy(estimator, method, X)
    settings = _DISTRIBUTE.get()
    if settings is not None:
        return gather(estimator, method, X, settings)
    return None


def check_input(X) -> None:
    """``fit``'s cheap check of ``X``: the container of a dask collection (nothing computed), else :func:`check_images`."""
    if is_dask_collection(X):
        as_partitioned(X, count=False)
    else:
        from ..images import check_images

        check_images(X)


# --- output types ------------------------------------------------------------------------------

_METHODS = ("transform", "predict_proba", "predict")


def _output_spec(estimator, method):
    """(columns or None for 1-D, dtype) of ``method``'s output, from the estimator's public fitted attributes."""
    if method == "transform":
        width = getattr(estimator, "n_features_out_", None)
        return (len(estimator.get_feature_names_out()) if width is None else width), np.dtype(np.float32)
    if method == "predict_proba":
        return len(estimator.classes_), np.dtype(np.float32)
    if method == "predict":
        return None, np.asarray(estimator.classes_).dtype
    raise ValueError(f"method={method!r} has no dask counterpart; expected one of {list(_METHODS)}")


def output_meta(estimator, method: str = "transform", *, output: str = "default"):
    """An empty object of the type, dtype and columns that ``estimator.<method>`` returns (dask's ``meta``).

    ``output="default"``: a numpy array with 0 rows; ``"pandas"`` (``transform`` and
    ``predict_proba`` under ``set_output(transform="pandas")``, or as dask-ml's
    ``ParallelPostFit`` passes pandas partitions through): an empty DataFrame with the
    output's column names (``predict``: an empty Series).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    width, dtype = _output_spec(estimator, method)
    if output == "default":
        return np.empty((0,) if width is None else (0, width), dtype=dtype)
    if output != "pandas":
        raise ValueError(f"output={output!r}: expected 'default' (numpy) or 'pandas' (dask has no polars collections)")
    import pandas as pd

    if width is None:
        return pd.Series(np.empty(0, dtype=dtype))
    if method == "transform":
        columns = [str(name) for name in estimator.get_feature_names_out()]
    else:
        columns = list(estimator.classes_)
    return pd.DataFrame(np.empty((0, width), dtype=dtype), columns=columns)


def _check_output_config(estimator, method):
    """Refuse a lazy ``transform`` under ``set_output(transform="pandas"/"polars")``.

    scikit-learn's set_output wrapper would build a pandas/polars frame from the returned
    dask array, computing it into memory; the lazy frame comes from ``meta=`` instead.
    """
    if method != "transform":
        return
    from sklearn.utils._set_output import _get_output_config  # read-only: the estimator's and global setting

    dense = _get_output_config("transform", estimator)["dense"]
    if dense != "default":
        name = type(estimator).__name__
        raise ValueError(
            f"{name}.transform of a dask collection returns a lazy dask array, but set_output(transform={dense!r}) "
            "would compute it into memory. For a lazy dask array use set_output(transform='default'); for a lazy dask "
            "DataFrame map the partitions with dask's meta, e.g. "
            f"X.map_partitions({name.lower()}.transform, meta=skvgg.dask.output_meta({name.lower()}, output='pandas')), "
            "or dask-ml's ParallelPostFit(..., transform_meta=...)"
        )


# --- partitions of the input -------------------------------------------------------------------

_EXPECTED = "expected a dask Series or one-column DataFrame of image paths, a dask bag of images or a 1-D dask array of paths"


@dataclass
class Partitions:
    """A collection split into per-partition delayed objects (or plain lists) and their lengths."""

    parts: list
    lengths: list


def as_partitioned(X, count=True) -> Partitions:
    """Split a dask collection into per-partition delayed objects and their lengths (computed when unknown).

    ``count=False`` checks the container only (nothing is computed) and returns no parts.
    """
    kind = type(X).__module__.split(".")[:2]
    if kind == ["dask", "array"]:
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim == 4:  # a batch of images, split along the first axis only
            X = X.rechunk({1: -1, 2: -1, 3: -1})
        elif X.ndim != 1:
            raise ValueError(f"X is a {X.ndim}-D dask array of shape {X.shape}; {_EXPECTED} (or a 4-D batch of images)")
        if not count:
            return Partitions([], [])
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        return Partitions(list(X.to_delayed().ravel()), [int(c) for c in X.chunks[0]])
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
            return Partitions([], [])
        lengths = X.map_partitions(len).compute()
        return Partitions(list(X.to_delayed()), [int(n) for n in lengths])
    if kind == ["dask", "bag"] and type(X).__name__ == "Bag":
        if not count:
            return Partitions([], [])
        lengths = X.map_partitions(_count).compute()
        return Partitions(list(X.to_delayed()), [int(n) for n in lengths])
    raise TypeError(f"X is a dask {type(X).__name__} ({type(X).__module__}); {_EXPECTED}")


def _count(partition):
    return [sum(1 for _ in partition)]


def partition_items(part) -> list:
    """The items of one partition as the estimators take them (a list; a 4-D block stays an array)."""
    if isinstance(part, np.ndarray) and part.ndim == 4:
        return part
    if hasattr(part, "tolist") and not isinstance(part, np.ndarray):
        return part.tolist()  # pandas Series
    return list(part)


def list_partitions(items, partition_size: int) -> Partitions:
    """A plain sequence cut into parts of ``partition_size`` items."""
    parts = [items[i : i + partition_size] for i in range(0, len(items), partition_size)]
    return Partitions(parts, [len(p) for p in parts])


# --- the estimator as it travels -----------------------------------------------------------------


def shipped(estimator):
    """A shallow copy for the workers (no progress bars) and a digest of its pickle (its key in the graph)."""
    copy_ = copy.copy(estimator)  # set_params below rebinds attributes of the copy only
    if "verbose" in copy_.get_params(deep=False):
        copy_.set_params(verbose=False)
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


def active_client():
    """The default ``distributed`` client of this process, or None (without importing distributed)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


def client_of(settings_client):
    """``settings_client``, else the active client; an error naming what to do when there is none."""
    require("distributed")
    client = settings_client if settings_client is not None else active_client()
    if client is None:
        raise ValueError("skvgg.dask.distribute() found no dask client: start one (distributed.Client(...)) or pass client=")
    return client


# Futures of the estimators scattered from this process, by (client id, key): a second call with
# an equal estimator reuses the copy the workers hold. Weak: a key is released on the cluster
# once no lazy result or running computation refers to it.
_SCATTERED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_SCATTER_LOCK = threading.Lock()


def _on_workers(copy_, key: str, client):
    """A future of ``copy_`` held by every worker of ``client`` (sent once per worker).

    The cluster key is ``key`` plus a fresh suffix: when the last future of an earlier scatter
    is collected, its release reaches the scheduler later, and a new scatter under the same key
    could be forgotten by that late release ("lost dependencies"). Tasks name the estimator by
    ``key`` itself, so workers still reuse the network they prepared for an equal estimator.
    """
    with _SCATTER_LOCK:
        future = _SCATTERED.get((client.id, key))
        if future is None or future.status != "finished":
            unique = f"{key}-{uuid.uuid4().hex[:12]}"
            future = client.scatter({unique: copy_}, broadcast=True, hash=False)[unique]
            _SCATTERED[(client.id, key)] = future
        return future


def tasks(estimator, method, partitions: Partitions, function=None, extra=lambda index: (), client=None):
    """One delayed call of ``function(estimator, key, method, part, offset, *extra(index))`` per partition.

    With ``client``, the estimator is scattered to its workers and the tasks refer to it by
    key; without, the graph holds the object (dask's local schedulers do not serialise it).
    """
    dask = require("dask")
    copy_, digest = shipped(estimator)
    key = f"skvgg-{type(estimator).__name__}-{digest}"
    node = _on_workers(copy_, key, client) if client is not None else dask.delayed(copy_, name=key, traverse=False)
    call = dask.delayed(function or run_partition, pure=True)
    offsets = np.concatenate([[0], np.cumsum(partitions.lengths)]).astype(int)
    return [call(node, key, method, part, int(offsets[i]), *extra(i)) for i, part in enumerate(partitions.parts)], offsets


def lazy(estimator, method, X):
    """``estimator.<method>`` of a dask collection, as a lazy dask array with known chunks."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    _check_output_config(estimator, method)
    da = require("dask.array")
    partitions = as_partitioned(X)
    if sum(partitions.lengths) == 0:
        raise ValueError("X is empty: expected at least one image")
    meta = output_meta(estimator, method)
    delayed, _ = tasks(estimator, method, partitions, client=active_client())
    blocks = [da.from_delayed(d, shape=(n, *meta.shape[1:]), meta=meta) for d, n in zip(delayed, partitions.lengths)]
    return da.concatenate(blocks, axis=0)


# --- in a worker -----------------------------------------------------------------------------------

# Statistics of this process's tasks, read by skvgg.dask.worker_stats through Client.run.
_STATS = {"partitions": 0, "images": 0}
_STATS_LOCK = threading.Lock()
_READY_LOCK = threading.Lock()
# The estimators prepared in this process, by key, the most recent last. A worker may receive
# the same key again (distributed's active memory manager drops replicas no task waits for,
# and a later computation fetches it back): the copy prepared first, network loaded, serves it.
_PREPARED: collections.OrderedDict = collections.OrderedDict()
PREPARED_KEPT = 2


def stats() -> dict:
    """This process's ``partitions`` and ``images`` described and ``network_builds``."""
    from .._pipeline.runtime import network_builds

    with _STATS_LOCK:
        return dict(_STATS, network_builds=network_builds())


def ready(estimator, key: str):
    """The estimator of ``key`` with its network loaded in this process (once per key while it is kept)."""
    with _READY_LOCK:  # tasks running at once in one worker load it once
        prepared = _PREPARED.get(key)
        if prepared is None:
            prepared = _PREPARED[key] = estimator.load_network()
            while len(_PREPARED) > PREPARED_KEPT:
                _PREPARED.popitem(last=False)
        _PREPARED.move_to_end(key)
        return prepared


def run_partition(estimator, key: str, method: str, part, offset: int):
    """``estimator.<method>`` on one partition's items; errors name the row in the whole input."""
    return _run(estimator, key, method, part, offset)[0]


def run_partition_reporting(estimator, key: str, method: str, part, offset: int):
    """:func:`run_partition` and the images it could not read (``on_error="nan"``), indexed in the whole input."""
    result, used = _run(estimator, key, method, part, offset)
    failures = [dict(f, index=f["index"] + offset) for f in getattr(used, "failures_", None) or []]
    return result, failures


def _run(estimator, key, method, part, offset):
    """The result and the estimator that computed it: a shallow copy per task, so that tasks running at
    once in one worker (``threads_per_worker`` > 1) share the loaded network but not ``failures_``."""
    from ..images import ImageInputError

    items = partition_items(part)
    if len(items) == 0:
        return output_meta(estimator, method), None
    used = copy.copy(ready(estimator, key))
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


# --- plain inputs computed on a cluster (skvgg.dask.distribute) ----------------------------------


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

    from ..images import check_images

    check_is_fitted(estimator)
    items = check_images(X)
    client = client_of(settings.client)
    partitions = list_partitions(items, settings.partition_size)
    delayed, _ = tasks(estimator, method, partitions, function=run_partition_reporting, client=client)
    results, _ = compute_with_progress(
        client, delayed, partitions.lengths, verbose=bool(getattr(estimator, "verbose", False)), desc=type(estimator).__name__
    )
    failures = [failure for _, part_failures in results for failure in part_failures]
    if hasattr(estimator, "_skvgg_report_failures"):  # failures_ and the warning, as the local call leaves them
        estimator._skvgg_report_failures(failures, len(items))
    return np.concatenate([values for values, _ in results], axis=0)
