"""Shared fixtures: random VGG weights in torchvision's exact format, built once per session."""

import gc
import os

import pytest
import torch
import torchvision


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds; deselect with -m 'not slow'")
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one); select with -m cuda")
    torch.set_num_threads(max(1, os.cpu_count() or 1))


@pytest.fixture(autouse=True, scope="module")
def free_networks_and_graphs_after_each_module():
    """Each test module starts without the networks and compiled graphs of the ones before.

    The shared network registry and torch.compile's caches (int8 and compiled graphs hold
    their own copies of the weights) otherwise accumulate across a whole run: the slow
    suite reached 13 GB in one process. A test that needs a network loads it again.
    """
    yield
    from skvgg import clear_memory_cache, clear_network_cache

    clear_network_cache()
    clear_memory_cache()
    torch._dynamo.reset()
    gc.collect()


@pytest.fixture(scope="session")
def tv_vgg11():
    """torchvision's own randomly initialised vgg11, in eval mode."""
    torch.manual_seed(0)
    return torchvision.models.vgg11().eval()


@pytest.fixture(scope="session")
def vgg11_file(tv_vgg11, tmp_path_factory):
    """tv_vgg11's state_dict saved as torchvision saves its published files."""
    path = tmp_path_factory.mktemp("weights") / "vgg11-random.pth"
    torch.save(tv_vgg11.state_dict(), path)
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision download cache; returns its checkpoints directory."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints


@pytest.fixture
def offline(monkeypatch):
    """Make every torch.hub download fail as it does without network."""
    import urllib.error

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
