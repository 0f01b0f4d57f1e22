"""Peak memory of decoding: 8 large JPEGs against 8 small ones, through the real featurizer.

    python benchmarks/decode_memory.py                  # default workers, and 8 workers
    python benchmarks/decode_memory.py --size 6000x4000 --workers 8 --workers 16

Each measurement runs in a fresh Python process, which fits a ``VGGFeaturizer`` (VGG11,
random weights: it is decoding memory that is measured, not the network's), warms it up
on one image, returns freed memory to the system, and then describes 8 JPEG files with
the default single view; it reports the peak resident set size during that transform
(the kernel's VmHWM, reset just before; ``ru_maxrss`` where that is unavailable). The
growth is the peak for the large JPEGs minus the peak for the small ones with the same
number of decoding threads. Target: growth <= 300 MB.

A third process per worker count describes the large JPEGs with the decoded-memory
allowance lifted (``skvgg.images.DECODE_MEMORY_BYTES`` made unlimited): what every
thread decoding its own large image at once costs, for comparison. Since the network's
own activations can hide the decoding peak, the same three runs are repeated without
the network (the pipeline's decoding and view cutting alone), reporting the peak over
the resident size at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

TARGET_MB = 300
N_IMAGES = 8


def cpu_flags() -> str:
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return platform.processor() or "unknown"
    return " ".join(flag for flag in wanted if flag in flags) or "none of " + ", ".join(wanted)


def make_jpegs(directory: Path, size: tuple[int, int], n: int = N_IMAGES, seed: int = 0) -> list[str]:
    """Photo-like JPEGs of ``size`` (width, height): the sample photos enlarged, with grain."""
    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    paths = []
    for i in range(n):
        image = Image.fromarray(photos[i % 2]).resize(size, Image.BILINEAR)
        # Grain, so that the JPEG is as costly to decode as a photograph of that size.
        grain = rng.integers(-12, 13, size=(size[1], 1, 3), dtype=np.int16)
        pixels = np.clip(np.asarray(image, dtype=np.int16) + grain + rng.integers(-6, 7, size=(1, size[0], 3)), 0, 255)
        path = directory / f"{size[0]}x{size[1]}_{i}.jpg"
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


class PeakRSS:
    """Peak resident set size from now on.

    Linux: the kernel's high-water mark (VmHWM), reset through /proc/self/clear_refs so
    that what came before (building the network) does not hide what is measured.
    Elsewhere: ru_maxrss of the whole process (then only the difference between two
    processes that built the same network means anything).
    """

    def __init__(self):
        self.linux = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.linux = self._status("VmHWM") is not None
        except OSError:
            pass

    @staticmethod
    def _status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return None

    def peak(self) -> int:
        if self.linux:
            return self._status("VmHWM")
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def release_free_memory():
    """Hand memory freed while building the network back to the system (glibc), so that
    decoding cannot hide in it."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def child(paths: list[str], workers: int | None, unlimited: bool, decode_only: bool) -> None:
    """One measurement, in its own process: print a JSON line."""
    import skvgg.images._budget
    from skvgg import Preprocessing, VGGFeaturizer
    from skvgg._pipeline.batches import ImageSource
    from skvgg._pipeline.plan import ViewPlan

    if unlimited:
        skvgg.images._budget._GATE = skvgg.images._budget._MemoryGate(2**62)
    if decode_only:
        # The pipeline's decoding and view cutting alone, as the featurizer runs them.
        def run(items):
            plan = ViewPlan.single(Preprocessing().resize_size, Preprocessing().crop_size)
            source = ImageSource(items, range(len(items)), num_workers=workers)
            return sum(len(batch.pixels) for batch in source.batches(plan, 32))

    else:
        featurizer = VGGFeaturizer(arch="vgg11", weights=None, random_state=0, device="cpu", num_workers=workers)
        featurizer.fit()

        def run(items):
            out = featurizer.transform(items)
            assert np.isfinite(out).all()
            return len(out)

    run(paths[:1] * 2)  # warm-up: the network's own buffers, oneDNN primitives
    release_free_memory()
    meter = PeakRSS()
    before = meter.peak()
    start = time.perf_counter()
    count = run(paths)
    seconds = time.perf_counter() - start
    peak = meter.peak()
    assert count == len(paths)
    print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "hwm": meter.linux}))


def measure(paths: list[str], workers: int | None, unlimited: bool = False, decode_only: bool = False) -> dict:
    spec = {"paths": paths, "workers": workers, "unlimited": unlimited, "decode_only": decode_only}
    args = [sys.executable, __file__, "--child", json.dumps(spec)]
    result = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="6000x4000", help="large JPEG size, WIDTHxHEIGHT")
    parser.add_argument("--small", default="500x375", help="small JPEG size (the baseline)")
    parser.add_argument("--workers", type=int, action="append", help="decoding threads (default: the featurizer's default and 8)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        child(spec["paths"], spec["workers"], spec["unlimited"], spec["decode_only"])
        return

    from skvgg._pipeline.batches import default_num_workers
    from skvgg.images import DECODE_MEMORY_BYTES

    large_size = tuple(int(v) for v in args.size.lower().split("x"))
    small_size = tuple(int(v) for v in args.small.lower().split("x"))
    worker_counts = args.workers or [None, 8]
    print(f"{os.cpu_count()} CPUs, flags: {cpu_flags()}")
    allowance = DECODE_MEMORY_BYTES / 2**20
    print(f"default decoding threads here: {default_num_workers()}; decoded-memory allowance {allowance:.0f} MiB")
    with tempfile.TemporaryDirectory() as directory:
        small = make_jpegs(Path(directory), small_size, seed=1)
        large = make_jpegs(Path(directory), large_size, seed=2)
        mb = sum(os.path.getsize(p) for p in large) / 1e6
        sizes = f"{small_size[0]}x{small_size[1]} vs {N_IMAGES} of {large_size[0]}x{large_size[1]}"
        print(f"{N_IMAGES} JPEGs of {sizes} ({mb:.0f} MB on disk)")
        print("VGGFeaturizer(arch='vgg11', weights=None), default view; peak RSS of fresh processes")
        for workers in worker_counts:
            shown = f"{default_num_workers()} (default)" if workers is None else str(workers)
            base = measure(small, workers)
            big = measure(large, workers)
            free = measure(large, workers, unlimited=True)
            growth = (big["peak"] - base["peak"]) / 1e6
            free_growth = (free["peak"] - base["peak"]) / 1e6
            print(f"  workers {shown}:")
            for name, m in (("small", base), ("large", big)):
                print(f"    {name}: peak {m['peak'] / 1e6:7.0f} MB (at start {m['before'] / 1e6:5.0f} MB), {m['seconds']:5.1f} s")
            print(f"    growth {growth:6.0f} MB  ratio to target {growth / TARGET_MB:.2f}  (target <= {TARGET_MB} MB)")
            print(f"    without the allowance: growth {free_growth:6.0f} MB, {free['seconds']:5.1f} s")
            # Decoding alone: its peak is otherwise hidden under the network's activations.
            base, big = measure(small, workers, decode_only=True), measure(large, workers, decode_only=True)
            free = measure(large, workers, unlimited=True, decode_only=True)
            over = [(m["peak"] - m["before"]) / 1e6 for m in (base, big, free)]
            print(
                f"    decoding only (no network), peak over start: small {over[0]:4.0f} MB, large {over[1]:4.0f} MB, "
                f"large without the allowance {over[2]:4.0f} MB"
            )


if __name__ == "__main__":
    main()
