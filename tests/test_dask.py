"""Dask collections in and out, on a LocalCluster of two worker processes (one for the whole module)."""

import gc
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402

import skvgg  # noqa: E402
from skvgg import ImageInputError, Preprocessing, VGGClassifier, VGGFeaturizer  # noqa: E402
from skvgg import dask as skdask  # noqa: E402
from skvgg._pipeline.runtime import clear_network_cache  # noqa: E402
from skvgg.dask._collections import MissingExtraError  # noqa: E402
from skvgg.testing import write_image  # noqa: E402

SMALL = Preprocessing(resize_size=40, crop_size=32)
# float32: "auto" is bfloat16 on CPUs with bfloat16 instructions, whose sums depend on the
# thread count (one per worker here, several in this process) beyond the tolerances below.
EXACT = "float32"
SKVGG_ROOT = str(Path(skvgg.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """14 small JPEGs of two classes (their folder's colour), in a fixed order."""
    root = tmp_path_factory.mktemp("images")
    paths = [str(write_image(root / ("red" if i % 2 else "blue") / f"img{i:02d}.jpg", size=(36 + i, 30))) for i in range(14)]
    return paths, np.array(["red" if i % 2 else "blue" for i in range(14)])


def featurizer(**params):
    defaults = dict(arch="vgg11", weights=None, random_state=0, preprocessing=SMALL, device="cpu", batch_size=4, precision=EXACT)
    return VGGFeaturizer(**{**defaults, **params})


@pytest.fixture(scope="module")
def local(images):
    paths, _ = images
    return featurizer().fit().transform(paths)


def stats_delta(client, before):
    after = skdask.worker_stats(client)
    return {w: {k: after[w][k] - before.get(w, {}).get(k, 0) for k in after[w]} for w in after}


def assert_known_chunks(array, n, width):
    assert array.shape == (n, width) and not any(np.isnan(c) for c in array.chunks[0])
    assert array.dtype == np.float32 and isinstance(array._meta, np.ndarray)


# --- dask collections in, dask collections out ---------------------------------------------------


@pytest.mark.parametrize("kind", ["series", "bag", "array", "column_array"])
def test_dask_inputs_give_the_local_descriptors(client, images, local, kind):
    paths, _ = images
    X = {
        "series": lambda: dd.from_pandas(pd.Series(paths, name="path"), npartitions=3),
        "bag": lambda: db.from_sequence(paths, npartitions=4),
        "array": lambda: da.from_array(np.array(paths, dtype=object), chunks=5),
        "column_array": lambda: da.from_array(np.array(paths, dtype=object)[:, None], chunks=(4, 1)),
    }[kind]()
    lazy = featurizer().fit().transform(X)
    assert isinstance(lazy, da.Array)
    assert_known_chunks(lazy, len(paths), local.shape[1])
    np.testing.assert_allclose(lazy.compute(), local, rtol=1e-5, atol=1e-6)


def test_set_output_pandas_refuses_to_compute_and_dask_meta_gives_a_lazy_dataframe(client, images, local):
    paths, _ = images
    frame = pd.DataFrame({"path": paths}, index=pd.RangeIndex(100, 100 + len(paths)))
    model = featurizer().set_output(transform="pandas").fit()
    series = dd.from_pandas(frame["path"], npartitions=3)
    # scikit-learn's set_output would build a pandas DataFrame from the lazy array, computing it here.
    with pytest.raises(ValueError, match=r"set_output\(transform='pandas'\) would compute it into memory.*output_meta"):
        model.transform(series)
    # dask's meta gives the lazy DataFrame: named columns, float32, indexed as the input.
    lazy = series.map_partitions(model.transform, meta=skdask.output_meta(model, output="pandas"))
    assert isinstance(lazy, dd.DataFrame) and lazy.npartitions == 3
    assert list(lazy.columns) == list(model.get_feature_names_out()) and (lazy.dtypes == np.float32).all()
    result = lazy.compute()
    assert list(result.index) == list(frame.index)
    np.testing.assert_allclose(result.to_numpy(), local, rtol=1e-5, atol=1e-6)
    # The in-memory result of the same estimator is unchanged: a pandas DataFrame.
    assert isinstance(model.transform(paths[:2]), pd.DataFrame)


def test_output_meta_has_the_output_type_dtype_and_columns(images):
    paths, labels = images
    model = featurizer(layer="pool5").fit()
    meta = skdask.output_meta(model)
    assert isinstance(meta, np.ndarray) and meta.shape == (0, 512) and meta.dtype == np.float32
    frame = skdask.output_meta(model, output="pandas")
    assert list(frame.columns) == list(model.get_feature_names_out()) and len(frame) == 0
    with pytest.raises(ValueError, match="method='fit' has no dask counterpart"):
        skdask.output_meta(model, "fit")
    with pytest.raises(ValueError, match="output='polars'"):
        skdask.output_meta(model, output="polars")
    # The featurizer learns nothing (requires_fit=False): unfitted, it fits itself for its output's columns.
    assert skdask.output_meta(featurizer(layer="pool5")).shape == (0, 512)


class EstimatorFinder(pickle.Pickler):
    """Pickles a graph into nothing, collecting the skvgg estimators it holds."""

    def __init__(self):
        super().__init__(open(os.devnull, "wb"), protocol=pickle.HIGHEST_PROTOCOL)
        self.found = []

    def persistent_id(self, obj):
        if isinstance(obj, VGGFeaturizer | VGGClassifier):
            self.found.append(obj)
        return None


def estimators_in(collection):
    finder = EstimatorFinder()
    finder.dump(dict(collection.__dask_graph__()))
    return finder.found


def scattered_featurizers(client):
    return {key for keys in client.has_what().values() for key in keys if str(key).startswith("skvgg-VGGFeaturizer-")}


def test_the_graph_refers_to_the_estimator_scattered_once_to_the_workers(client, images, local):
    paths, _ = images
    model = featurizer(random_state=7).fit()
    X = db.from_sequence(paths, npartitions=4)
    before = scattered_featurizers(client)
    lazy = model.transform(X)
    assert estimators_in(lazy) == []  # the graph names a key; the estimator is on the workers
    (key,) = scattered_featurizers(client) - before
    again = model.transform(X)  # an equal estimator: the copy the workers hold is reused, not sent again
    assert estimators_in(again) == [] and scattered_featurizers(client) - before == {key}
    np.testing.assert_allclose(lazy.compute(), again.compute(), rtol=0, atol=0)


def test_a_released_estimator_is_scattered_again_under_a_new_key(client, images, local):
    # Reusing the old key raced with its release: the scheduler could forget the new copy when the
    # late release arrived, and every later computation failed with "lost dependencies".
    paths, _ = images
    keys = set()
    for _ in range(4):  # transform, compute, drop: each time the last reference to the copy goes
        before = scattered_featurizers(client)
        lazy = featurizer().fit().transform(db.from_sequence(paths, npartitions=2))
        keys |= scattered_featurizers(client) - before
        np.testing.assert_allclose(lazy.compute(), local, rtol=1e-5, atol=1e-6)
        del lazy
        gc.collect()
    assert len(keys) == 4


def test_fit_checks_a_dask_container_without_computing_it(client, images):
    paths, _ = images
    frame = dd.from_pandas(pd.DataFrame({"path": paths, "label": 0}), npartitions=2)
    with pytest.raises(ValueError, match=r"2 columns \['path', 'label'\]"):
        featurizer().fit(frame)
    assert featurizer().fit(frame[["path"]]).n_features_out_ == 4096
    with pytest.raises(ValueError, match="X is empty"):
        featurizer().fit().transform(db.from_sequence([], npartitions=1))
    with pytest.raises(TypeError, match="dask Delayed"):
        featurizer().fit().transform(dask.delayed(paths))


def test_an_unreadable_image_is_named_by_its_row_in_the_whole_input(client, images, tmp_path):
    paths, _ = images
    missing = str(tmp_path / "gone.jpg")
    X = db.from_sequence([*paths[:7], missing, *paths[7:]], npartitions=4)  # row 7, in the second partition
    with pytest.raises(ImageInputError) as error:
        featurizer().fit().transform(X).compute()
    assert error.value.index == 7 and error.value.path == missing
    # on_error="nan": that row is NaN, the others are the local descriptors.
    described = featurizer(on_error="nan").fit().transform(X).compute()
    assert np.isnan(described[7]).all() and np.isfinite(np.delete(described, 7, axis=0)).all()


def test_weights_are_loaded_once_per_worker_process(client, images):
    paths, _ = images
    client.run(clear_network_cache)
    before = skdask.worker_stats(client)
    X = db.from_sequence(paths, partition_size=2)
    featurizer(random_state=1).fit().transform(X).compute()
    delta = stats_delta(client, before)
    assert sum(d["partitions"] for d in delta.values()) == X.npartitions == 7
    assert max(d["partitions"] for d in delta.values()) >= 4  # some worker ran several partitions...
    for d in delta.values():
        assert d["network_builds"] == (1 if d["partitions"] else 0)  # ...and loaded the network once


def test_a_worker_killed_mid_run_loses_no_row(client, images, local):
    paths, _ = images
    many = paths * 3  # 42 rows in 21 tasks: the run outlasts the kill
    future = client.compute(featurizer().fit().transform(db.from_sequence(many, npartitions=21)))
    before = set(client.scheduler_info(n_workers=-1)["workers"])
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline and not future.done():
        busy = [worker for worker, keys in client.processing().items() if keys]
        victim = busy[0] if busy else None
        time.sleep(0.05)
    assert victim is not None, "no worker was running a task"
    try:
        client.run(os._exit, 1, workers=[victim])
    except Exception:  # the worker dies before it answers
        pass
    result = future.result(timeout=120)
    np.testing.assert_allclose(result, np.concatenate([local] * 3), rtol=1e-5, atol=1e-6)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, as a new process
    assert victim not in set(client.scheduler_info(n_workers=-1)["workers"]) and victim in before


def test_the_disk_cache_is_shared_by_worker_processes(client, images, local, tmp_path):
    paths, _ = images
    cache = tmp_path / "cache"
    before = skdask.worker_stats(client)
    # Every image twice, in partitions spread over both workers: concurrent writers of the same entries.
    X = db.from_sequence(paths + paths[::-1], npartitions=6)
    described = featurizer(cache=str(cache)).fit().transform(X).compute()
    delta = stats_delta(client, before)
    assert all(d["partitions"] > 0 for d in delta.values())  # both processes wrote into the cache
    np.testing.assert_allclose(described, np.concatenate([local, local[::-1]]), rtol=1e-5, atol=1e-6)
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert len([p for p in entries if p.suffix == ".npy"]) == len(paths)
    assert not [p for p in entries if p.name.endswith(".tmp")]
    # A process that never described them reads every entry back intact.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(featurizer(cache=str(cache)).fit().transform(paths), local, rtol=1e-5, atol=1e-6)


# --- the classifier and the scikit-learn/dask-ml integrations -------------------------------------


@pytest.fixture(scope="module")
def classifier(images):
    paths, labels = images
    return VGGClassifier(
        arch="vgg11",
        weights=None,
        preprocessing=SMALL,
        max_epochs=1,
        batch_size=4,
        random_state=0,
        device="cpu",
        precision=EXACT,
    ).fit(paths, labels)


@pytest.mark.slow  # the classifier's trained weights (about 500 MiB with weights=None) travel to two processes
def test_classifier_methods_on_dask_collections_send_it_once_per_worker_outside_the_graph(client, images, classifier):
    paths, _ = images
    X = dd.from_pandas(pd.Series(paths), npartitions=3)
    before = skdask.worker_stats(client)
    with warnings.catch_warnings():
        # distributed warns when a graph it sends is large: the trained weights are hundreds of MiB.
        warnings.filterwarnings("error", message="Sending large graph", category=UserWarning)
        proba = classifier.predict_proba(X)
        assert isinstance(proba, da.Array) and proba.shape == (len(paths), 2) and proba.dtype == np.float32
        graph = pickle.dumps(dict(proba.__dask_graph__()), protocol=pickle.HIGHEST_PROTOCOL)
        assert len(graph) < 2**20, f"the graph holds {len(graph) / 2**20:.0f} MiB"
        computed_proba = proba.compute()
        predicted = classifier.predict(X)
        assert predicted.dtype == classifier.classes_.dtype and predicted.shape == (len(paths),)
        computed_predicted = predicted.compute()
        descriptors = classifier.transform(db.from_sequence(paths, npartitions=2)).compute()
        with skdask.distribute(client, partition_size=5):  # plain lists: scattered the same way
            gathered = classifier.predict_proba(paths)
    # The four computations shared one scattered copy: one key, held by the workers, one copy each.
    held = {worker: [k for k in keys if str(k).startswith("skvgg-VGGClassifier-")] for worker, keys in client.has_what().items()}
    assert all(len(keys) <= 1 for keys in held.values()) and len({k for keys in held.values() for k in keys}) == 1, held
    delta = stats_delta(client, before)
    assert sum(d["partitions"] for d in delta.values()) == 3 + 3 + 2 + 3
    local_proba = classifier.predict_proba(paths)
    np.testing.assert_allclose(computed_proba, local_proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gathered, local_proba, rtol=1e-5, atol=1e-6)
    assert list(computed_predicted) == list(classifier.predict(paths))
    np.testing.assert_allclose(descriptors, classifier.transform(paths), rtol=1e-5, atol=1e-6)


def test_dask_ml_parallel_post_fit_with_output_meta(client, images, local):
    ParallelPostFit = pytest.importorskip("dask_ml.wrappers").ParallelPostFit  # in the test extra, not in [dask]

    paths, _ = images
    frame = dd.from_pandas(pd.DataFrame({"path": paths}), npartitions=2)
    model = featurizer().fit()
    wrapped = ParallelPostFit(model, transform_meta=skdask.output_meta(model)).fit(frame)
    np.testing.assert_allclose(np.asarray(wrapped.transform(frame).compute()), local, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wrapped.transform(frame["path"]).compute(), local, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wrapped.transform(db.from_sequence(paths)).compute(), local, rtol=1e-5, atol=1e-6)
    named = featurizer().set_output(transform="pandas").fit()
    meta = skdask.output_meta(named, output="pandas")
    pandas_out = ParallelPostFit(named, transform_meta=meta).fit(frame).transform(frame)
    assert list(pandas_out.columns[:2]) == ["fc7_0000", "fc7_0001"]
    np.testing.assert_allclose(pandas_out.compute().to_numpy(), local, rtol=1e-5, atol=1e-6)
    # Without meta, dask calls transform on its placeholder rows, which are no image files: dask's
    # own error says to give meta (nothing answers them with made-up zeros).
    with pytest.raises(ValueError, match="meta"):
        ParallelPostFit(featurizer().fit()).fit(frame).transform(frame)


def test_grid_search_on_the_joblib_dask_backend(client, images):
    import joblib
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer
    from sklearn.svm import LinearSVC

    paths, labels = images
    search = GridSearchCV(
        make_pipeline(featurizer(layer="pool5"), Normalizer(), LinearSVC()),
        {"linearsvc__C": [0.01, 1.0]}, cv=StratifiedKFold(2), n_jobs=-1,
    )  # fmt: skip
    before = skdask.worker_stats(client)
    with joblib.parallel_backend("dask"):
        search.fit(paths, labels)
    delta = stats_delta(client, before)
    local = GridSearchCV(search.estimator, search.param_grid, cv=StratifiedKFold(2), n_jobs=1).fit(paths, labels)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert all(d["network_builds"] <= 1 for d in delta.values())  # clones in a worker share its network


def test_distribute_runs_plain_code_on_the_cluster(client, images, local, tmp_path):
    paths, _ = images
    model = featurizer(on_error="nan").fit()
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    before = skdask.worker_stats(client)
    with skdask.distribute(client, partition_size=3), pytest.warns(skvgg.ImageFailureWarning, match="1 of 15"):
        described = model.transform([*paths[:9], str(bad), *paths[9:]])
    assert sum(d["images"] for d in stats_delta(client, before).values()) == 15  # described by the workers
    assert isinstance(described, np.ndarray) and np.isnan(described[9]).all()
    np.testing.assert_allclose(np.delete(described, 9, axis=0), local, rtol=1e-5, atol=1e-6)
    assert [(f["index"], f["path"]) for f in model.failures_] == [(9, str(bad))]


# --- the resumable parquet store -------------------------------------------------------------------


def read_dataset(directory):
    table = pd.read_parquet(directory)
    return list(table["path"]), table.drop(columns="path").to_numpy()


def test_parquet_dataset_resumes_and_recomputes_only_missing_or_stale_parts(client, images, local, tmp_path):
    import shutil

    paths = [str(shutil.copy(path, tmp_path / Path(path).name)) for path in images[0]]  # one is rewritten below
    out = tmp_path / "features.parquet"
    first = skdask.featurize_to_parquet(featurizer(), paths, out, partition_size=3, client=client)
    assert (first["parts"], first["computed"], first["rows"]) == (5, 5, len(paths))
    got_paths, values = read_dataset(out)
    assert got_paths == paths
    np.testing.assert_allclose(values, local, rtol=1e-5, atol=1e-6)
    parts = sorted(out.glob("part-*.parquet"))
    for part in parts[1:3]:  # as after a killed run: two parts never written
        part.unlink()
    second = skdask.featurize_to_parquet(featurizer(), paths, out, partition_size=3, client=client)
    assert (second["computed"], second["reused"]) == (2, 3)
    assert sorted(out.glob("part-*.parquet")) == parts
    # An image rewritten under the same name makes its part stale: only that part is recomputed...
    time.sleep(0.01)
    write_image(Path(paths[4]), size=(50, 50))
    third = skdask.featurize_to_parquet(featurizer(batch_size=2), paths, out, partition_size=3, client=client)
    assert (third["computed"], third["reused"]) == (1, 4)
    # ...and the old part is gone: readers see each row once, in order.
    got_paths, values = read_dataset(out)
    assert got_paths == paths and len(list(out.glob("part-*.parquet"))) == 5
    np.testing.assert_allclose(values[4], featurizer().fit().transform([paths[4]])[0], rtol=1e-5, atol=1e-6)
    # Other parameters: every part is new, in this process this time (no client, no dask needed).
    fourth = skdask.featurize_to_parquet(featurizer(layer="pool5"), paths, out, partition_size=3)
    assert fourth["computed"] == 5 and read_dataset(out)[1].shape == (len(paths), 512)
    manifest = (out / "_skvgg.json").read_text()
    assert '"rows": 14' in manifest and "pool5_000" in manifest
    (out / "other.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="holds parquet files skvgg did not write"):
        skdask.featurize_to_parquet(featurizer(), paths, out)


def test_parquet_dataset_from_a_dask_collection(client, images, local, tmp_path):
    paths, _ = images
    out = tmp_path / "from-series.parquet"
    summary = skdask.featurize_to_parquet(featurizer(), dd.from_pandas(pd.Series(paths), npartitions=4), out)
    assert (summary["parts"], summary["computed"]) == (4, 4)
    np.testing.assert_allclose(dd.read_parquet(out).compute().drop(columns="path").to_numpy(), local, rtol=1e-5, atol=1e-6)
    assert skdask.featurize_to_parquet(featurizer(), dd.from_pandas(pd.Series(paths), npartitions=4), out)["computed"] == 0


def skvgg_process(*argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=SKVGG_ROOT, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "skvgg", *map(str, argv)], env=env, **kwargs)


@pytest.mark.slow
def test_a_killed_command_line_run_resumes_with_the_missing_parts_only(client, images, vgg11_file, tmp_path):
    paths, _ = images
    many = [*paths, *paths]  # 28 images at 224 pixels, two per part: the run takes a while
    listing = tmp_path / "list.csv"
    pd.DataFrame({"path": many}).to_csv(listing, index=False)
    out = tmp_path / "killed.parquet"
    argv = ["featurize", listing, "-o", out, "--arch", "vgg11", "--weights", vgg11_file, "--layer", "pool5",
            "--workers", "2", "--partition-size", "2", "--device", "cpu", "--precision", EXACT, "--quiet"]  # fmt: skip
    process = skvgg_process(*argv, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while len(list(out.glob("part-*.parquet"))) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the client and its cluster, at once
    process.wait()
    done = len(list(out.glob("part-*.parquet")))
    assert 3 <= done < 14, process.stderr.read().decode()
    assert not (out / "_skvgg.json").exists()
    model = VGGFeaturizer(arch="vgg11", weights=str(vgg11_file), layer="pool5", device="cpu", precision=EXACT)
    summary = skdask.featurize_to_parquet(model, many, out, partition_size=2, client=client)
    assert (summary["computed"], summary["reused"]) == (14 - done, done)
    got_paths, values = read_dataset(out)
    assert got_paths == many
    np.testing.assert_allclose(values, model.transform(many), rtol=1e-5, atol=1e-6)


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_featurize_with_two_workers_from_the_command_line(images, local, vgg11_file, tmp_path):
    paths, _ = images
    listing = tmp_path / "list.csv"
    pd.DataFrame({"path": paths}).to_csv(listing, index=False)
    common = ["featurize", listing, "--arch", "vgg11", "--weights", vgg11_file, "--layer", "pool5", "--device", "cpu",
              "--precision", EXACT, "--workers", "2", "--partition-size", "4"]  # fmt: skip
    expected = (
        VGGFeaturizer(arch="vgg11", weights=str(vgg11_file), layer="pool5", device="cpu", precision=EXACT).fit().transform(paths)
    )
    result = subprocess.run(
        [sys.executable, "-m", "skvgg", *map(str, common), "-o", tmp_path / "out.npz"],
        env=dict(os.environ, PYTHONPATH=SKVGG_ROOT, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "started a local cluster of 2 worker(s)" in result.stderr and "img/s" in result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["X"], expected, rtol=1e-5, atol=1e-6)
    result = subprocess.run(
        [sys.executable, "-m", "skvgg", *map(str, common), "-o", tmp_path / "out.parquet", "--quiet"],
        env=dict(os.environ, PYTHONPATH=SKVGG_ROOT, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4 parts: 4 described, 0 already complete" in result.stderr
    assert (tmp_path / "out.parquet").is_dir()
    np.testing.assert_allclose(read_dataset(tmp_path / "out.parquet")[1], expected, rtol=1e-5, atol=1e-6)


def test_featurize_parquet_dataset_without_a_cluster(images, vgg11_file, tmp_path, capsys):
    from skvgg.cli import main

    paths, _ = images
    out = tmp_path / "local.parquet"
    out.mkdir()  # an existing directory: the resumable dataset, described in this process
    argv = ["featurize", *paths[:4], "-o", out, "--arch", "vgg11", "--weights", vgg11_file, "--layer", "pool5",
            "--device", "cpu", "--partition-size", "2", "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    assert "2 parts: 2 described, 0 already complete" in capsys.readouterr().err
    assert main([str(a) for a in argv]) == 0
    assert "2 parts: 0 described, 2 already complete" in capsys.readouterr().err
    assert read_dataset(out)[0] == paths[:4]


# --- without the skvgg[dask] extra ---------------------------------------------------------------


def test_without_the_extra_the_errors_name_it(monkeypatch, capsys, tmp_path, images):
    from skvgg.cli import main

    paths, _ = images
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'skvgg\[dask\]'"):
        skdask.start_client(workers=2)
    with pytest.raises(MissingExtraError, match=r"skvgg\[dask\]"):
        with skdask.distribute():
            pass
    code = main(["featurize", paths[0], "-o", str(tmp_path / "o.npz"), "--arch", "vgg11", "--weights", "none",
                 "--workers", "2", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "skvgg[dask]" in err and "Traceback" not in err
    assert not (tmp_path / "o.npz").exists()
    # A dask collection without dask.array installed: the error names the extra too.
    bag = db.from_sequence(paths[:2])
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(MissingExtraError, match=r"skvgg\[dask\]"):
        featurizer().fit().transform(bag)


@pytest.mark.slow
def test_transfer_describes_on_a_running_cluster(client, capsys, tmp_path, vgg11_file):
    from skvgg.cli import main
    from skvgg.testing import make_caltech101

    root = make_caltech101(tmp_path, counts={"BACKGROUND_Google": 4, "accordion": 4, "airplanes": 4})
    before = skdask.worker_stats(client)
    try:
        code = main([str(a) for a in ["transfer", "caltech101", "--root", root, "--arch", "vgg11", "--weights", vgg11_file,
                     "--scales", "224", "--splits", "1", "--train", "2", "--test", "2", "--quiet",
                     "--scheduler", client.scheduler.address, "--partition-size", "4"]])  # fmt: skip
    finally:
        distributed.client._set_global_client(client)  # the command's own client was the default while it ran
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"joined {client.scheduler.address} of 2 worker(s)" in captured.err
    assert "split 1: mean class recall" in captured.out
    assert sum(d["images"] for d in stats_delta(client, before).values()) >= 12  # described by the workers


def test_the_parquet_store_in_this_process_needs_no_dask(monkeypatch, images, local, tmp_path):
    paths, _ = images
    for name in ("dask", "dask.array", "dask.bag", "dask.dataframe", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    summary = skdask.featurize_to_parquet(featurizer(), paths[:5], tmp_path / "plain.parquet", partition_size=2)
    assert (summary["parts"], summary["computed"], summary["rows"]) == (3, 3, 5)
    monkeypatch.undo()
    np.testing.assert_allclose(read_dataset(tmp_path / "plain.parquet")[1], local[:5], rtol=1e-5, atol=1e-6)
