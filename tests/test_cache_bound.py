"""The disk cache's size bound (least recently used entries go first) and joblib fingerprints."""

import copy
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone

from skvgg import Preprocessing, VGGFeaturizer
from skvgg.cache import DEFAULT_DISK_CACHE_BYTES, DiskCache, fingerprint, open_cache

SMALL = Preprocessing(resize_size=40, crop_size=32)
REPO = Path(__file__).resolve().parents[1]


def key(i: int) -> str:
    return fingerprint("entry", i)


def vector(seed: int, n: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def entry_bytes(tmp_path) -> int:
    probe = DiskCache(tmp_path / "probe", max_bytes=None)
    probe.put(key(-1), vector(0))
    return probe.size()


def set_last_use(cache: DiskCache, k: str, seconds: int) -> None:
    os.utime(cache.directory / k[:2] / f"{k}.npy", ns=(seconds * 10**9, seconds * 10**9))


# --- the bound ---------------------------------------------------------------------------------


def test_a_single_writer_never_passes_the_bound_and_keeps_the_newest(tmp_path):
    size = entry_bytes(tmp_path)
    cache = DiskCache(tmp_path / "c", max_bytes=10 * size)
    for i in range(35):
        cache.put(key(i), vector(i))
        set_last_use(cache, key(i), 1_000_000 + i)  # a distinct clock per entry, whatever the file system's resolution
        assert cache.size() <= 10 * size, f"after store {i}"
    kept = {path.stem for _, _, path in cache.entries()}
    assert 9 <= len(kept) <= 10
    assert kept == {key(i) for i in range(35 - len(kept), 35)}  # the most recent ones
    for i in range(35 - len(kept), 35):
        np.testing.assert_array_equal(cache.get(key(i)), vector(i))


def test_a_hit_makes_an_entry_recently_used(tmp_path):
    size = entry_bytes(tmp_path)
    cache = DiskCache(tmp_path / "c", max_bytes=4 * size)
    for i in range(4):
        cache.put(key(i), vector(i))
        set_last_use(cache, key(i), 1_000_000 + i)
    assert cache.get(key(0)) is not None  # the oldest is read: now the most recent
    cache.put(key(4), vector(4))  # past the bound: trims to 90 % of it, i.e. 3 entries
    kept = {path.stem for _, _, path in cache.entries()}
    assert kept == {key(0), key(3), key(4)}  # 1 and 2 were the least recently used
    assert cache.get(key(1)) is None and cache.get(key(2)) is None


def test_entries_are_listed_least_recently_used_first(tmp_path):
    cache = DiskCache(tmp_path / "c", max_bytes=None)
    for i, when in enumerate([30, 10, 20]):
        cache.put(key(i), vector(i))
        set_last_use(cache, key(i), 1_000_000 + when)
    assert [path.stem for _, _, path in cache.entries()] == [key(1), key(2), key(0)]


def test_no_bound_keeps_everything(tmp_path):
    cache = DiskCache(tmp_path / "c", max_bytes=None)
    for i in range(20):
        cache.put(key(i), vector(i))
    assert len(cache.entries()) == 20


def test_an_existing_directory_over_the_bound_is_trimmed_by_the_first_store(tmp_path):
    size = entry_bytes(tmp_path)
    unbounded = DiskCache(tmp_path / "c", max_bytes=None)
    for i in range(20):
        unbounded.put(key(i), vector(i))
        set_last_use(unbounded, key(i), 1_000_000 + i)
    bounded = DiskCache(tmp_path / "c", max_bytes=5 * size)
    bounded.put(key(99), vector(99))
    assert bounded.size() <= 5 * size
    assert key(99) in {path.stem for _, _, path in bounded.entries()}


def test_other_files_are_neither_counted_nor_deleted(tmp_path):
    size = entry_bytes(tmp_path)
    cache = DiskCache(tmp_path / "c", max_bytes=3 * size)
    notes = tmp_path / "c" / "README.txt"
    notes.write_text("x" * (10 * size))
    tmp = tmp_path / "c" / "ab" / ".inflight.tmp"
    tmp.parent.mkdir()
    tmp.write_bytes(b"x" * size)
    for i in range(6):
        cache.put(key(i), vector(i))
    assert notes.exists() and tmp.exists()
    assert 1 <= len(cache.entries()) <= 3


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from skvgg.cache import DiskCache, fingerprint
    directory, max_bytes, worker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cache = DiskCache(directory, max_bytes=max_bytes)
    for i in range(60):
        k = fingerprint("worker", worker, i)
        cache.put(k, np.full(64, worker * 1000 + i, dtype=np.float32))
        got = cache.get(k)  # may have been evicted by the other writer meanwhile, never damaged
        assert got is None or got[0] == worker * 1000 + i
    print("ok")
    """
)


def test_processes_sharing_a_directory_keep_it_near_the_bound(tmp_path):
    size = entry_bytes(tmp_path)
    bound = 12 * size
    directory = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), str(bound), str(w)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0 and out.strip() == "ok", err
    cache = DiskCache(directory, max_bytes=bound)
    # Each writer trims when its own estimate passes the bound: the other's stores since its
    # last scan (a tenth of the bound at most) may be on top.
    assert cache.size() <= bound + bound // 10 + size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every surviving entry reads back whole
        for _, _, path in cache.entries():
            value = cache.get(path.stem)
            assert value is not None and value.shape == (64,)
    assert not list(directory.rglob("*.tmp"))


# --- the parameter -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10GB", True])
def test_max_bytes_is_checked(tmp_path, bad):
    with pytest.raises(ValueError, match="max_bytes must be a positive int or None"):
        DiskCache(tmp_path, max_bytes=bad)


def test_a_path_gets_the_default_bound_and_an_object_is_used_as_given(tmp_path):
    assert open_cache(tmp_path / "a").max_bytes == DEFAULT_DISK_CACHE_BYTES
    mine = DiskCache(tmp_path / "b", max_bytes=12345)
    assert open_cache(mine) is mine


def test_the_object_pickles_copies_and_clones_with_its_values(tmp_path):
    cache = DiskCache(tmp_path / "c", max_bytes=4096)
    for twin in (pickle.loads(pickle.dumps(cache)), copy.deepcopy(cache)):
        assert twin == cache and twin is not cache and twin.max_bytes == 4096
    assert DiskCache(tmp_path / "c", max_bytes=None) != cache
    featurizer = VGGFeaturizer(arch="vgg11", cache=cache)
    assert clone(featurizer).get_params()["cache"] == cache
    assert "max_bytes=4096" in repr(cache)


def test_unpickling_recreates_a_missing_directory(tmp_path):
    blob = pickle.dumps(DiskCache(tmp_path / "gone", max_bytes=4096))
    (tmp_path / "gone").rmdir()
    assert pickle.loads(blob).directory.is_dir()


def test_featurizer_with_a_bounded_cache(vgg11_file, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(rng.integers(0, 255, size=(40, 36, 3), dtype=np.uint8)).save(paths[-1])
    common = dict(arch="vgg11", weights=vgg11_file, device="cpu", preprocessing=SMALL, layer="pool5")
    reference = VGGFeaturizer(**common).fit().transform(paths)
    one_entry = 4 * reference.shape[1] + 128
    cache = DiskCache(tmp_path / "cache", max_bytes=3 * one_entry)
    out = VGGFeaturizer(**common, cache=cache).fit().transform(paths)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)
    assert 1 <= len(cache.entries()) <= 3 and cache.size() <= 3 * one_entry


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_sees_the_middle_of_large_arrays():
    a = np.zeros(5000, dtype=np.float32)
    b = a.copy()
    b[2500] = 1.0
    assert repr(a) == repr(b)  # what a repr-based digest would have seen
    assert fingerprint("x", a) != fingerprint("x", b)
    assert fingerprint("x", a) == fingerprint("x", a.copy())


def test_fingerprint_tells_types_and_order_apart():
    assert fingerprint(1) != fingerprint(1.0) != fingerprint("1")
    assert fingerprint("a", "b") != fingerprint("b", "a")
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_fingerprint_is_the_same_in_another_process():
    parts = ("vgg16", (0.485, 0.456, 0.406), ("fc7",), None, 224)
    code = "from skvgg.cache import fingerprint; print(fingerprint('vgg16', (0.485, 0.456, 0.406), ('fc7',), None, 224))"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == fingerprint(*parts)
