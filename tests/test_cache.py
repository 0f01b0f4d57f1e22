"""Disk cache integrity: checksummed entries, damaged entries recomputed, read-only directories usable."""

import errno
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skvgg.cache as cache_module
from skvgg import CacheIntegrityWarning, CacheReadOnlyWarning, Preprocessing, VGGFeaturizer
from skvgg.cache import DiskCache

SMALL = Preprocessing(resize_size=40, crop_size=32)
KEY = "ab" + "0" * 30


def vector(n=64, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def no_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    assert not caught, [str(w.message) for w in caught]
    return result


# --- the entry format -------------------------------------------------------------------------


def test_entry_round_trips_and_stays_a_plain_npy_file(tmp_path):
    cache = DiskCache(tmp_path)
    value = vector()
    cache.put(KEY, value)
    path = tmp_path / "ab" / f"{KEY}.npy"
    np.testing.assert_array_equal(no_warnings(lambda: cache.get(KEY)), value)
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), value)  # other tools can read entries
    assert b"skvgg-blake2b256:" in path.read_bytes()[:128]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert no_warnings(lambda: cache.get("cd" + "1" * 30)) is None  # a plain miss is silent


def test_entries_follow_the_umask_so_a_shared_cache_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        DiskCache(tmp_path).put(KEY, vector())
    finally:
        os.umask(old)
    assert (tmp_path / "ab" / f"{KEY}.npy").stat().st_mode & 0o777 == 0o644  # mkstemp would give 0o600


def _flip_payload_byte(data):
    data[-7] ^= 0x10
    return data


def _nan_in_payload(data):
    data[-8:-4] = np.float32(np.nan).tobytes()
    return data


def _other_shape(data):
    # A consistent file (size matches the header) whose header announces another shape.
    text = data.decode("latin1")
    return bytearray(text.replace("'shape': (64,)", "'shape': (63,)").encode("latin1")[:-4])


def _flip_digest(data):
    at = data.index(b"blake2b256:") + len(b"blake2b256:")
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    return data


DAMAGES = {
    "flipped payload byte": _flip_payload_byte,
    "NaN written in": _nan_in_payload,
    "truncated": lambda data: data[:-10],
    "header only": lambda data: data[:128],
    "empty": lambda data: bytearray(),
    "extra bytes": lambda data: data + b"\0\0\0\0",
    "other shape": _other_shape,
    "flipped digest": _flip_digest,
    "garbage": lambda data: bytearray(b"\x00garbage" * 40),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_entry_is_never_served(tmp_path, damage):
    cache = DiskCache(tmp_path)
    cache.put(KEY, vector())
    path = tmp_path / "ab" / f"{KEY}.npy"
    path.write_bytes(bytes(DAMAGES[damage](bytearray(path.read_bytes()))))
    with pytest.warns(CacheIntegrityWarning, match="Damaged descriptor cache entry") as record:
        assert cache.get(KEY) is None
    assert str(path) in str(record[0].message)


def test_entry_under_another_key_is_damaged(tmp_path):
    """The digest covers the key: a file copied or renamed to another key's place is refused."""
    cache = DiskCache(tmp_path)
    cache.put(KEY, vector())
    other = "ab" + "9" * 30
    shutil.copy(tmp_path / "ab" / f"{KEY}.npy", tmp_path / "ab" / f"{other}.npy")
    with pytest.warns(CacheIntegrityWarning, match="checksum mismatch"):
        assert cache.get(other) is None


def test_directory_in_place_of_an_entry_is_not_served(tmp_path):
    cache = DiskCache(tmp_path)
    (tmp_path / "ab" / f"{KEY}.npy").mkdir(parents=True)
    with pytest.warns(UserWarning, match=KEY):
        assert cache.get(KEY) is None


def test_entry_of_the_previous_version_is_a_silent_miss_and_is_rewritten(tmp_path):
    cache = DiskCache(tmp_path)
    path = tmp_path / "ab" / f"{KEY}.npy"
    path.parent.mkdir()
    np.save(path, np.zeros(64, dtype=np.float32))  # what skvgg 0.1.0 wrote: no digest
    assert no_warnings(lambda: cache.get(KEY)) is None
    value = vector()
    cache.put(KEY, value)
    np.testing.assert_array_equal(no_warnings(lambda: cache.get(KEY)), value)


def test_many_damaged_entries_do_not_flood(tmp_path):
    cache = DiskCache(tmp_path)
    keys = [f"ab{i:030d}" for i in range(12)]
    for key in keys:
        (tmp_path / "ab").mkdir(exist_ok=True)
        (tmp_path / "ab" / f"{key}.npy").write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert all(cache.get(key) is None for key in keys)
    messages = [str(w.message) for w in caught]
    assert len(messages) == cache_module._MAX_REPORTS + 1
    assert all(keys[i] in messages[i] for i in range(cache_module._MAX_REPORTS))
    assert "without further warnings" in messages[-1]


# --- read-only directories --------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["os.replace", "os.open", "mkdir"])
def test_unwritable_directory_reads_hits_skips_writes_and_warns_once(tmp_path, monkeypatch, failing):
    cache = DiskCache(tmp_path)
    stored = vector(seed=1)
    cache.put(KEY, stored)

    caches = [DiskCache(tmp_path) for _ in range(5)]  # a new DiskCache per call, as transform makes
    original_open = os.open

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def refuse_creation(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            refuse()
        return original_open(path, flags, *args, **kwargs)

    if failing == "mkdir":
        monkeypatch.setattr(cache_module.Path, "mkdir", refuse)
    elif failing == "os.open":
        monkeypatch.setattr(cache_module.os, "open", refuse_creation)
    else:
        monkeypatch.setattr(cache_module.os, "replace", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(4):
            caches[i].put(f"{i}d" + "2" * 30, vector(seed=i))
        np.testing.assert_array_equal(caches[4].get(KEY), stored)
    assert [w.category for w in caught] == [CacheReadOnlyWarning]
    assert str(tmp_path) in str(caught[0].message) and "Read-only file system" in str(caught[0].message)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{KEY}.npy"]  # nothing written, no temp left


_READ_ONLY_SCRIPT = """
import json, sys, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])  # the checkout (or installed tree) under test
import skvgg.cache as cache
directory, key = sys.argv[2], sys.argv[3]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    hit = cache.DiskCache(directory).get(key)
    for i in range(3):
        cache.DiskCache(directory).put(f"{i}e" + "3" * 30, np.ones(8, dtype=np.float32))
print(json.dumps({"hit": None if hit is None else hit.tolist(),
                  "warnings": [[w.category.__name__, str(w.message)] for w in caught]}))
"""


def test_really_read_only_directory(tmp_path):
    """chmod 0o555 without monkeypatching; root ignores modes, so it runs without CAP_DAC_OVERRIDE."""
    directory = tmp_path / "shared"
    cache = DiskCache(directory)
    stored = vector(8, seed=2)
    cache.put(KEY, stored)
    package_root = str(Path(cache_module.__file__).resolve().parents[1])
    command = [sys.executable, "-c", _READ_ONLY_SCRIPT, package_root, str(directory), KEY]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (to drop CAP_DAC_OVERRIDE) is not installed")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--", *command]
    for folder in (directory, directory / "ab"):
        folder.chmod(0o555)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        for folder in (directory, directory / "ab"):
            folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    np.testing.assert_array_equal(np.array(report["hit"], dtype=np.float32), stored)
    assert [category for category, _ in report["warnings"]] == ["CacheReadOnlyWarning"]
    assert "PermissionError" in report["warnings"][0][1]
    assert sorted(p.name for p in directory.rglob("*")) == ["ab", f"{KEY}.npy"]


# --- through the featurizer -------------------------------------------------------------------


@pytest.fixture
def image_paths(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(rng.integers(0, 255, size=(40, 36, 3), dtype=np.uint8)).save(paths[-1])
    return paths


@pytest.fixture
def featurizer(vgg11_file, monkeypatch):
    from skvgg import VGG

    calls = []
    original = VGG.extract

    def counting(self, x, *args, **kwargs):
        calls.append(len(x))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(VGG, "extract", counting)

    def make(cache_dir):
        f = VGGFeaturizer(arch="vgg11", weights=vgg11_file, device="cpu", preprocessing=SMALL, layer="pool5", cache=cache_dir)
        return f.fit()

    make.calls = calls
    return make


def test_featurizer_recomputes_and_rewrites_a_damaged_entry(featurizer, image_paths, tmp_path):
    cache_dir = tmp_path / "cache"
    first = featurizer(cache_dir).transform(image_paths)
    entries = sorted(cache_dir.rglob("*.npy"))
    assert sum(featurizer.calls) == 3 and len(entries) == 3
    damaged = entries[1]
    data = bytearray(damaged.read_bytes())
    data[-4:] = np.float32(np.nan).tobytes()  # a NaN written over the last value, header intact
    damaged.write_bytes(bytes(data))
    with pytest.warns(CacheIntegrityWarning, match="Damaged descriptor cache entry") as record:
        again = featurizer(cache_dir).transform(image_paths)
    assert [str(damaged) in str(w.message) for w in record] == [True]
    assert sum(featurizer.calls) == 4  # only the damaged one ran again
    assert np.isfinite(again).all()
    # Recomputed in a batch of one: equal up to the batch size's rounding; the others are served as stored.
    np.testing.assert_allclose(again, first, rtol=1e-4, atol=1e-6)
    assert sum(np.array_equal(a, b) for a, b in zip(again, first)) >= 2
    third = no_warnings(lambda: featurizer(cache_dir).transform(image_paths))  # rewritten: a hit again
    assert sum(featurizer.calls) == 4
    np.testing.assert_array_equal(third, again)


def test_featurizer_upgrades_entries_of_the_previous_version(featurizer, image_paths, tmp_path):
    cache_dir = tmp_path / "cache"
    first = featurizer(cache_dir).transform(image_paths)
    for entry in cache_dir.rglob("*.npy"):
        np.save(entry, np.zeros(len(first[0]), dtype=np.float32))  # the old format, with wrong values
    upgraded = no_warnings(lambda: featurizer(cache_dir).transform(image_paths))
    np.testing.assert_array_equal(upgraded, first)  # recomputed in the same batch: identical
    assert sum(featurizer.calls) == 6
    np.testing.assert_array_equal(no_warnings(lambda: featurizer(cache_dir).transform(image_paths)), first)
    assert sum(featurizer.calls) == 6


def test_featurizer_with_a_read_only_cache(featurizer, image_paths, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    first = featurizer(cache_dir).transform(image_paths[:2])

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cache_module.os, "replace", refuse)
    with pytest.warns(CacheReadOnlyWarning, match="cannot be written") as record:
        out = featurizer(cache_dir).transform(image_paths)
    assert len(record) == 1
    assert sum(featurizer.calls) == 2 + 1  # the two stored descriptors were read
    np.testing.assert_array_equal(out[:2], first)
    again = no_warnings(lambda: featurizer(cache_dir).transform(image_paths))  # once per directory and process
    np.testing.assert_array_equal(again, out)
    assert len(list(cache_dir.rglob("*.npy"))) == 2
