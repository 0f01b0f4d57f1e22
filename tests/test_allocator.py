"""skvgg.keep_freed_memory: freed activations are reused without page faults; the command line sets it
for its own process only."""

import subprocess
import sys

import pytest

import skvgg
import skvgg.cli
from skvgg import _allocator

# Page faults of one more batch through a few layers, after three: each activation is a fresh tensor of
# 38 MB (4 x 16 x 384 x 384 floats), above glibc's largest mmap threshold (32 MB).
BATCH_FAULTS = """
import resource, sys, torch
import skvgg
if sys.argv[1] == "keep":
    assert skvgg.keep_freed_memory()
torch.manual_seed(0)
layers = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1)
)
x = torch.randn(4, 3, 384, 384)
with torch.inference_mode():
    for _ in range(3):
        layers(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    layers(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def batch_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", BATCH_FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(_allocator._glibc() is None, reason="glibc's mallopt only")
def test_later_batches_reuse_freed_memory_without_page_faults():
    # Default: the activations' memory goes back to the kernel when freed, and every batch faults
    # its pages in again (4 KiB each: 38 MB is 9,216 pages).
    default = batch_faults("default")
    assert default > 9_216
    # Kept: the next batch reuses pages already mapped.
    assert batch_faults("keep") < default // 100


def test_restores_glibc_defaults_and_reports_where_it_cannot(monkeypatch):
    calls = []
    monkeypatch.setattr(_allocator, "_glibc", lambda: lambda parameter, value: calls.append((parameter.value, value.value)) or 1)
    assert skvgg.keep_freed_memory()
    assert calls == [(-1, 2**31 - 1), (-4, 0)]  # M_TRIM_THRESHOLD 2 GiB, M_MMAP_MAX 0
    calls.clear()
    assert skvgg.keep_freed_memory(False)
    assert calls == [(-1, 128 * 1024), (-4, 65536)]  # glibc's defaults
    monkeypatch.undo()
    monkeypatch.setattr(_allocator.platform, "libc_ver", lambda: ("", ""))  # musl, macOS, Windows
    assert _allocator._glibc() is None and skvgg.keep_freed_memory() is False


def test_command_line_sets_it_on_request(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(skvgg.cli, "keep_freed_memory", lambda: calls.append(True))
    assert skvgg.cli.main(["archs"]) == 0  # glibc's default unless asked
    assert calls == []
    assert skvgg.cli.main(["--keep-freed-memory", "archs"]) == 0
    assert calls == [True]
    assert "vgg16" in capsys.readouterr().out
