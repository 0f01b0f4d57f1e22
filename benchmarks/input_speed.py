"""Cost of reading inputs, before and after a change, in one run: the input package's own overhead.

    python benchmarks/input_speed.py --before /path/to/old/checkout --after .

Each checkout is imported in its own process (``PYTHONPATH``) and measures, on the same
generated JPEG files (640x480, the size of a typical photo):

- ``load_rgb(path)``: open, decode, EXIF, RGB (per image, median of rounds);
- ``image_key(path)``: the cache key of a file (stat calls and a digest);
- ``check_images`` of 10,000 paths (the container check before anything is read);
- ``load_rgb(bytes)`` and ``image_key(bytes)``, where the checkout accepts bytes.

The network is not involved: what the estimators add per image on top of these is the
forward pass, the same before and after. Prints one JSON line per checkout and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_MEASURE = r"""
import io, json, statistics, sys, time
from pathlib import Path
from skvgg.images import check_images, image_key, load_rgb

folder = Path(sys.argv[1])
paths = sorted(str(p) for p in folder.glob("*.jpg"))
blobs = [Path(p).read_bytes() for p in paths]

def per_item(function, items, rounds=5):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            function(item)
        times.append((time.perf_counter() - start) / len(items))
    return statistics.median(times)

result = {
    "load_rgb_path_ms": 1e3 * per_item(load_rgb, paths),
    "image_key_path_us": 1e6 * per_item(image_key, paths),
    "check_images_10k_paths_ms": 1e3 * per_item(check_images, [paths * (10000 // len(paths))], rounds=7),
}
try:
    result["load_rgb_bytes_ms"] = 1e3 * per_item(load_rgb, blobs)
    result["image_key_bytes_us"] = 1e6 * per_item(image_key, blobs)
except TypeError:
    pass  # this checkout does not read bytes
import skvgg
result["skvgg"] = skvgg.__file__
print(json.dumps(result))
"""


def _make_images(folder, count):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        # Smooth content compresses like a photo; noise would make decoding unusually slow.
        base = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
        Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC).save(os.path.join(folder, f"{i:03d}.jpg"), quality=90)


def _measure(checkout, folder):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), PYTHONDONTWRITEBYTECODE="1")
    # cwd: python -c puts the working directory first on sys.path, before PYTHONPATH.
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, folder], env=env, cwd=folder, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout to compare against (its skvgg is imported)")
    parser.add_argument("--after", default=".", help="checkout under test (default: this one)")
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        _make_images(folder, args.images)
        # Interleaved, three times each, so that a noisy neighbour weighs on both sides alike.
        runs = {"before": [], "after": []}
        for _ in range(3):
            for name in ("before", "after"):
                runs[name].append(_measure(getattr(args, name), folder))
    for name, results in runs.items():
        print(name, "imports", results[0].pop("skvgg"), *(run.pop("skvgg") for run in results[1:]))
    best = {name: {key: min(run[key] for run in results) for key in results[0]} for name, results in runs.items()}
    for name in ("before", "after"):
        print(name, json.dumps({key: round(value, 3) for key, value in best[name].items()}))
    for key in best["before"].keys() & best["after"].keys():
        print(f"{key}: after/before = {best['after'][key] / best['before'][key]:.3f}")


if __name__ == "__main__":
    main()
