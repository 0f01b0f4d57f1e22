"""Weights files are checked once against the SHA-256 prefix in their names (torch.hub's convention)."""

import hashlib
import os
import shutil
import zipfile

import pytest
import torch
from torchvision.models import VGG11_Weights

import skvgg.models.weights as weights_module
from skvgg import WeightsCorruptedError, WeightsError, build_vgg, resolve_arch
from skvgg.models.weights import resolve_weights

VGG11 = resolve_arch("vgg11")


def load(weights):
    """The tensors skvgg reads for ``weights=`` (the key and shape check against a network is not needed here)."""
    return weights_module.load_state_dict(resolve_weights(VGG11, weights), VGG11, progress=False)


@pytest.fixture
def small_file(tmp_path):
    """A small torch.save checkpoint: hashing and loading it is quick."""
    torch.manual_seed(3)
    path = tmp_path / "source" / "small.pth"
    path.parent.mkdir()
    torch.save({"features.0.weight": torch.randn(128, 256), "features.0.bias": torch.randn(128)}, path)
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def hash_calls(monkeypatch):
    """Count the files skvgg hashes (and still hash them)."""
    calls = []
    original = weights_module._sha256

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(weights_module, "_sha256", counting)
    monkeypatch.setattr(weights_module, "_verified", {})  # a fresh process's memory
    return calls


def hash_named_copy(source, folder, stem="vgg11"):
    """Copy ``source`` under torch.hub's name for it: ``stem-<first 10 hex digits of its SHA-256>.pth``."""
    path = folder / f"{stem}-{sha256(source)[:10]}.pth"
    shutil.copy(source, path)
    return path


def flip_byte_inside_a_tensor(path):
    """Damage the stored bytes of the largest tensor in a torch.save zip, leaving the zip structure intact."""
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
        assert info.compress_type == zipfile.ZIP_STORED
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(f.read(2), "little") for _ in range(2))
        at = info.header_offset + 30 + name_length + extra_length + info.file_size // 2
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x40]))


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hash_named_file_is_hashed_once_then_again_only_when_it_changes(small_file, torch_home, tmp_path, hash_calls):
    path = hash_named_copy(small_file, tmp_path)
    reference = torch.load(small_file, weights_only=True)
    assert same(load(path), reference)
    assert hash_calls == [os.path.realpath(path)]
    load(path)
    assert len(hash_calls) == 1  # remembered in this process
    weights_module._verified.clear()  # another process: the memo on disk is enough
    load(str(path))
    assert len(hash_calls) == 1
    assert len(list((torch_home.parent / "skvgg-verified").glob("*.json"))) == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: checked again
    assert same(load(path), reference)
    assert len(hash_calls) == 2


def test_flipped_bytes_inside_the_zip_are_an_error_naming_the_file(small_file, torch_home, tmp_path, hash_calls):
    path = hash_named_copy(small_file, tmp_path)
    expected = path.stem.rsplit("-", 1)[1]
    load(path)  # verified and remembered while intact
    stat = path.stat()
    flip_byte_inside_a_tensor(path)
    # The damage is silent without the name's hash: torch.load reads the archive happily.
    plain = tmp_path / "small-mine.pth"
    shutil.copy(path, plain)
    assert not same(load(plain), torch.load(small_file, weights_only=True))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # a write moves the mtime; force it past the clock's tick
    with pytest.raises(WeightsCorruptedError) as info:
        load(path)
    message = str(info.value)
    actual = sha256(path)[: len(expected)]
    assert actual != expected
    assert str(path) in message and f"expected {expected}, got {actual}" in message
    assert "delete it" in message and "rename it" in message  # not a torchvision name: it may be the user's own
    assert isinstance(info.value, WeightsError)
    with pytest.raises(WeightsCorruptedError):  # an error is not remembered as verified
        load(path)


def test_a_name_with_a_hash_that_never_matched_is_refused(small_file, torch_home, tmp_path, hash_calls):
    """A user's own file whose name happens to end in 8+ hex digits (a date) must be renamed, as with torch.hub."""
    path = tmp_path / "vgg11-finetuned-20240101.pth"
    shutil.copy(small_file, path)
    with pytest.raises(WeightsCorruptedError, match=r"expected 20240101, got [0-9a-f]{8}"):
        load(path)
    renamed = tmp_path / "vgg11-finetuned-2024-01-01.pth"  # '01' is too short to be a hash
    path.rename(renamed)
    load(renamed)
    assert len(hash_calls) == 1


def test_damaged_file_in_torchvisions_cache(small_file, torch_home, tmp_path, offline, hash_calls):
    """Other weights under the published name: their SHA-256 does not start with 8a719046."""
    cached = torch_home / "vgg11-8a719046.pth"
    shutil.copy(small_file, cached)
    with pytest.raises(WeightsCorruptedError) as info:
        build_vgg("vgg11", weights="imagenet")
    message = str(info.value)
    assert f"Weights file {cached} does not match the SHA-256 prefix in its name: expected 8a719046" in message
    assert f"Delete it ({cached})" in message and "https://download.pytorch.org/models/vgg11-8a719046.pth" in message
    assert f"place it at {cached}" in message
    # A user path with a published name is checked too, and told where to get the file.
    elsewhere = tmp_path / "vgg11-8a719046.pth"
    shutil.copy(small_file, elsewhere)
    with pytest.raises(WeightsCorruptedError, match="obtain it again from https://download.pytorch.org/models/vgg11"):
        build_vgg("vgg11", weights=elsewhere)


def test_intact_file_in_torchvisions_cache_is_hashed_once(small_file, torch_home, offline, hash_calls, monkeypatch):
    cached = hash_named_copy(small_file, torch_home)
    monkeypatch.setattr(VGG11_Weights.IMAGENET1K_V1.value, "url", f"https://download.pytorch.org/models/{cached.name}")
    for _ in range(2):
        assert same(load("imagenet"), torch.load(small_file, weights_only=True))
    assert hash_calls == [os.path.realpath(cached)]


def test_file_just_downloaded_is_not_hashed_again(small_file, torch_home, hash_calls, monkeypatch):
    """torch.hub hashes a download on the way in: skvgg remembers it instead of hashing it again."""
    prefix = sha256(small_file)[:8]
    monkeypatch.setattr(VGG11_Weights.IMAGENET1K_V1.value, "url", f"https://download.pytorch.org/models/vgg11-{prefix}.pth")
    downloads = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        downloads.append(hash_prefix)
        shutil.copy(small_file, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    load("imagenet")
    load("imagenet")
    assert downloads == [prefix]  # downloaded once, with torch.hub's own hash check requested
    assert hash_calls == []


def test_memo_folder_not_writable_keeps_the_memo_in_process(small_file, torch_home, tmp_path, hash_calls, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(weights_module, "_memo_file", lambda real: str(blocker / "memo.json"))
    path = hash_named_copy(small_file, tmp_path)
    load(path)
    load(path)
    assert len(hash_calls) == 1
    weights_module._verified.clear()
    load(path)
    assert len(hash_calls) == 2  # nothing on disk to remember it by


def test_names_without_a_hash_are_not_hashed(small_file, torch_home, tmp_path, hash_calls):
    for name in ("small.pth", "vgg11-random.pth", "vgg11-2024.pth", "model-ABCDEF12.pth"):
        shutil.copy(small_file, tmp_path / name)
        load(tmp_path / name)
    assert hash_calls == []
