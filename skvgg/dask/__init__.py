"""Scale out with Dask: a resumable parquet store of descriptors, clusters, and plain code run on a cluster.

The estimators take dask collections directly (``VGGFeaturizer().fit().transform(dask_series)``
is a lazy dask array; see :doc:`/user-guide/scale-out`). This module adds what a
cluster run needs around them:

- :func:`featurize_to_parquet`: descriptors into a parquet dataset directory, one part per
  partition written atomically; a rerun (after a killed worker or client) computes only the
  parts that are missing or stale;
- :func:`distribute`: inside it, ``transform``/``predict`` of plain lists run on the cluster
  (so ``run_transfer`` or a grid search's pipelines scale out unchanged);
- :func:`output_meta`: the ``meta`` that dask (``map_partitions``) and dask-ml
  (``ParallelPostFit(transform_meta=...)``) take to know an estimator's output type
  without calling it on placeholder data;
- :func:`start_client` (what ``skvgg featurize --workers/--scheduler`` uses) and
  :func:`worker_stats` (networks built and images described per worker process).

Needs the ``skvgg[dask]`` extra (dask, distributed) except where noted; nothing here
imports dask before it is called. dask-ml is not needed (it works with the estimators
when installed).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._typing import StrPath
from . import _collections, _store

# distributed.Client and dask collections are annotated as Any: the dask extra is optional, and
# the annotations resolve (typing.get_type_hints) without it.

__all__ = ["featurize_to_parquet", "distribute", "output_meta", "start_client", "worker_stats"]


def featurize_to_parquet(
    estimator: BaseEstimator,
    X: Any,
    directory: StrPath,
    *,
    partition_size: int = 64,
    client: Any = None,
    verbose: bool | None = None,
) -> dict[str, Any]:
    """Describe ``X`` into a parquet dataset directory, one part per partition; resumable.

    Parameters
    ----------
    estimator : VGGFeaturizer or fitted VGGClassifier
        What describes the images (its ``transform``). An unfitted featurizer is fitted
        (it learns nothing from the images).
    X : list of paths (or images), pandas Series, or dask Series / one-column DataFrame / bag / array
        The images. A dask collection brings its own partitions and runs on the active
        dask scheduler (a ``distributed.Client`` when one is active); a plain ``X`` is cut into
        ``partition_size`` images per part and described on ``client``, or in this process
        when ``client`` is None (no dask needed then).
    directory : str or os.PathLike
        The dataset directory (created; conventionally named ``*.parquet``). It must not hold
        parquet files skvgg did not write.
    partition_size : int, default=64
        Images per part for a plain ``X``. Keep it fixed between a run and its rerun: the
        parts are cut the same way only then (other sizes recompute everything).
    client : distributed.Client or None, default=None
        Where a plain ``X`` is described.
    verbose : bool or None, default=None
        A progress bar over images (images/s across the cluster); None: the estimator's ``verbose``.

    Returns
    -------
    summary : dict
        ``directory``, ``rows``, ``parts``, ``computed`` (parts described by this call),
        ``described`` (their images),
        ``reused`` (parts found complete and kept) and ``seconds``.

    Notes
    -----
    Each part is written to a hidden temporary file and renamed into place, so a part
    exists only complete. Its name digests the images it holds (resolved path, size and
    modification time of each file) and everything that changes a descriptor (weights,
    layers, scales, ``on_error``...), not ``batch_size``, ``device`` placement of work or
    ``num_workers``. A rerun keeps the parts whose name it would write and recomputes the
    rest; when all exist, it writes the manifest ``_skvgg.json`` and deletes parts of
    other runs, so ``pandas.read_parquet(directory)`` returns this run's rows in order.
    Two runs writing the same directory at once are not supported.

    Examples
    --------
    In this process (``client=None``: no dask needed), on generated images and random
    weights; a rerun reuses every part:

    >>> import tempfile
    >>> import pandas as pd
    >>> from skvgg import Preprocessing, VGGFeaturizer
    >>> from skvgg.dask import featurize_to_parquet
    >>> from skvgg.datasets import load_image_folder
    >>> from skvgg.testing import make_image_folder
    >>> paths, labels = load_image_folder(make_image_folder(tempfile.mkdtemp()), return_X_y=True)
    >>> featurizer = VGGFeaturizer("vgg11", weights=None, random_state=0,
    ...                            preprocessing=Preprocessing(resize_size=40, crop_size=32))
    >>> store = tempfile.mkdtemp() + "/descriptors.parquet"
    >>> summary = featurize_to_parquet(featurizer, paths, store, partition_size=2)
    >>> summary["rows"], summary["parts"], summary["computed"]
    (5, 3, 3)
    >>> featurize_to_parquet(featurizer, paths, store, partition_size=2)["reused"]
    3
    >>> pd.read_parquet(store).shape  # the path column and 4096 descriptor columns
    (5, 4097)
    """
    from sklearn.utils.validation import check_is_fitted

    from ..featurizer import VGGFeaturizer

    if isinstance(estimator, VGGFeaturizer):
        try:
            check_is_fitted(estimator)
        except Exception:
            estimator = estimator.fit()
    check_is_fitted(estimator)
    directory = Path(directory)
    _store.check_directory(directory)
    run = _store.run_fingerprint(estimator)
    names = [str(n) for n in estimator.get_feature_names_out()]
    verbose = bool(getattr(estimator, "verbose", False)) if verbose is None else verbose
    started = time.perf_counter()
    if _collections.is_dask_collection(X) or client is not None:
        if _collections.is_dask_collection(X):
            partitions = _collections.as_partitioned(X)
            dask = _collections.require("dask", "featurize_to_parquet on a dask collection")
            client = client or _collections.active_client()
        else:
            from ..images import check_images

            partitions = _collections.list_partitions(check_images(X), partition_size)
        delayed, _ = _collections.tasks(
            estimator, "transform", partitions, function=_store.write_part,
            extra=lambda index: (str(directory), index, run, names), client=client,
        )  # fmt: skip
        if client is not None:
            written, _ = _collections.compute_with_progress(
                client, delayed, partitions.lengths, verbose=verbose, desc=type(estimator).__name__
            )
        else:
            written = list(dask.compute(*delayed))
    else:
        written = _write_here(estimator, X, directory, partition_size, run, names, verbose)
    _store.finish(directory, written, run, names)
    computed = sum(1 for _, _, fresh in written if fresh)
    return {
        "described": int(sum(rows for _, rows, fresh in written if fresh)),
        "directory": str(directory),
        "rows": int(sum(rows for _, rows, _ in written)),
        "parts": len(written),
        "computed": computed,
        "reused": len(written) - computed,
        "seconds": time.perf_counter() - started,
    }


def _write_here(estimator, X, directory, partition_size, run, names, verbose):
    """The parts described in this process, one after another (no dask needed)."""
    from tqdm.auto import tqdm

    from ..images import check_images

    partitions = _collections.list_partitions(check_images(X), partition_size)
    copy_, digest = _collections.shipped(estimator)
    key = f"skvgg-local-{type(estimator).__name__}-{digest}"
    offsets = np.concatenate([[0], np.cumsum(partitions.lengths)]).astype(int)
    written = []
    with tqdm(total=int(offsets[-1]), disable=not verbose, unit="img", desc=type(estimator).__name__) as progress:
        for index, part in enumerate(partitions.parts):
            written.append(
                _store.write_part(copy_, key, "transform", part, int(offsets[index]), str(directory), index, run, names)
            )
            progress.update(len(part))
    return written


@contextlib.contextmanager
def distribute(client: Any = None, *, partition_size: int = 64) -> Iterator[None]:
    """Run the estimators' ``transform``/``predict``/``predict_proba`` of plain inputs on a dask cluster.

    Inside the ``with`` block, ``X`` (a list of paths...) is cut into ``partition_size``
    images per task, described on ``client`` (None: the active ``distributed`` client) and
    gathered: the result is what the local call returns. Code written for one machine
    (``skvgg.experiments.run_transfer``, a Pipeline in a grid search) then describes its
    images on the cluster unchanged. Progress (with ``verbose``) counts images across the
    cluster.

    Parameters
    ----------
    client : distributed.Client or None, default=None
    partition_size : int, default=64

    Examples
    --------
    On a cluster of one thread in this process, quick to start (``Client(n_workers=4,
    threads_per_worker=1)`` starts four worker processes), with generated images and
    random weights:

    >>> import tempfile
    >>> from distributed import Client
    >>> from skvgg import Preprocessing, VGGFeaturizer
    >>> from skvgg.dask import distribute
    >>> from skvgg.datasets import load_image_folder
    >>> from skvgg.testing import make_image_folder
    >>> paths, labels = load_image_folder(make_image_folder(tempfile.mkdtemp()), return_X_y=True)
    >>> featurizer = VGGFeaturizer("vgg11", weights=None, random_state=0,
    ...                            preprocessing=Preprocessing(resize_size=40, crop_size=32)).fit()
    >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
    ...     with distribute(client, partition_size=2):
    ...         descriptors = featurizer.transform(paths)  # three tasks of at most 2 images
    >>> descriptors.shape
    (5, 4096)
    """
    if int(partition_size) < 1:
        raise ValueError(f"partition_size must be >= 1, got {partition_size!r}")
    _collections.require("distributed", "skvgg.dask.distribute")
    _collections.client_of(client)  # fails now, not at the first transform, without a client
    with _collections.distributing(_collections.Distribute(client, int(partition_size))):
        yield


def output_meta(estimator: BaseEstimator, method: str = "transform", *, output: str = "default") -> Any:
    """An empty object of the type, dtype and columns of ``estimator.<method>``'s output: dask's ``meta``.

    Dask infers an output's type by calling the function on placeholder data (strings such
    as ``"foo"``, which are no image files) unless it is given ``meta``; pass this instead.

    Parameters
    ----------
    estimator : fitted VGGFeaturizer or VGGClassifier
    method : {"transform", "predict_proba", "predict"}, default="transform"
    output : {"default", "pandas"}, default="default"
        ``"default"``: a numpy array; ``"pandas"``: an empty DataFrame with the output's
        column names (``get_feature_names_out()``, or ``classes_`` for ``predict_proba``),
        an empty Series for ``predict``: the meta of partitions computed under
        ``set_output(transform="pandas")``.

    Returns
    -------
    meta : ndarray of shape (0, n_outputs) or (0,), or pandas DataFrame or Series with no rows

    Examples
    --------
    >>> from skvgg import Preprocessing, VGGFeaturizer
    >>> from skvgg.dask import output_meta
    >>> featurizer = VGGFeaturizer("vgg11", weights=None, random_state=0, layer="pool5",
    ...                            preprocessing=Preprocessing(resize_size=40, crop_size=32)).fit()
    >>> output_meta(featurizer).shape, output_meta(featurizer).dtype
    ((0, 512), dtype('float32'))
    >>> list(output_meta(featurizer, output="pandas").columns[:2])
    ['pool5_000', 'pool5_001']

    With dask-ml (a lazy dask DataFrame indexed as the input, one task per partition)::

        ParallelPostFit(featurizer.set_output(transform="pandas"),
                        transform_meta=output_meta(featurizer, output="pandas")).transform(frame)
    """
    return _collections.output_meta(estimator, method, output=output)


def start_client(
    workers: int | None = None,
    scheduler: StrPath | None = None,
    *,
    threads_per_worker: int = 1,
    dashboard_address: str | None = ":0",
) -> Any:
    """A ``distributed.Client``: on a new ``LocalCluster`` of ``workers`` processes, or joined to ``scheduler``.

    Parameters
    ----------
    workers : int or None
        Worker processes of a new LocalCluster (one network each).
    scheduler : str or None
        The address of a running scheduler (``tcp://host:8786``) or a scheduler file (JSON).
    threads_per_worker : int, default=1
        Tasks each worker runs at once (each uses ``num_workers`` decoding threads and, through
        dask's default ``OMP_NUM_THREADS=1``, one compute thread per task on the CPU).
    dashboard_address : str or None, default=":0"
        Where the LocalCluster serves its dashboard (":0": a free port; None: none).

    Returns
    -------
    client : distributed.Client
        Close it (and its LocalCluster, ``client.cluster``) with ``client.close()``; a
        context manager closes both.
    """
    distributed = _collections.require("distributed", "--workers/--scheduler" if workers or scheduler else "start_client")
    if (workers is None) == (scheduler is None):
        raise ValueError("give either workers (a new LocalCluster) or scheduler (an existing cluster's address)")
    if scheduler is not None:
        if str(scheduler).endswith(".json") and Path(scheduler).is_file():
            return distributed.Client(scheduler_file=str(scheduler))
        return distributed.Client(scheduler)
    # The client makes the LocalCluster itself, so closing the client closes the cluster too.
    return distributed.Client(
        n_workers=int(workers), threads_per_worker=int(threads_per_worker), processes=True,
        dashboard_address=dashboard_address,
    )  # fmt: skip


def worker_stats(client: Any) -> dict[str, dict[str, int]]:
    """Per worker address: ``network_builds`` (weights loaded by that process), ``partitions`` and ``images`` described.

    ``network_builds`` counts the networks loaded through the shared registry (featurizers);
    a classifier restores its own network once per copy a worker holds. Counts are since the
    process started.
    """
    return client.run(_collections.stats)
