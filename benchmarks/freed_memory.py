"""Resident memory with and without skvgg.keep_freed_memory, over rounds of images of many sizes.

    python benchmarks/freed_memory.py            # VGG11, 10 rounds of 12 images (~5 min on 2 cores)
    python benchmarks/freed_memory.py --save     # also JSON and log under benchmarks/results/

Each case runs in a fresh process (the setting is process-wide): VGGFeaturizer(VGG11, float32)
on rounds of random uint8 images of random sizes (224-640 pixels a side), with a single view
and with dense scales (256, 384) + flip, glibc's default allocator against
``keep_freed_memory()``. Prints the peak and current resident memory after each round and
the ratio kept/default at the end, with the CPU model and flags and the glibc version.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cpu_speed import Report  # noqa: E402  (the benchmarks' one CPU description and results files)

CHILD = """
import json, resource, sys
import numpy as np
import skvgg
mode, view, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "kept":
    assert skvgg.keep_freed_memory()
dense = dict(scales=(256, 384), flip=True) if view == "dense" else {}
featurizer = skvgg.VGGFeaturizer(
    arch="vgg11", weights=None, random_state=0, device="cpu", precision="float32", batch_size=8, **dense
)
rng = np.random.default_rng(0)
for _ in range(rounds):
    sides = rng.integers(224, 641, size=(12, 2))
    featurizer.transform([rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8) for h, w in sides])
    status = open("/proc/self/status").read()
    current = int(status.split("VmRSS:")[1].split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": round(peak), "current_mb": round(current)}), flush=True)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 12 images")
    parser.add_argument("--save", action="store_true", help="write JSON and log under benchmarks/results/")
    args = parser.parse_args(argv)
    report = Report()
    flags, say = report.flags, report.say
    say(f"C library: {' '.join(platform.libc_ver())}; VGG11 float32, batch 8, {args.rounds} rounds of 12 images")
    result = {"date": datetime.date.today().isoformat(), "cpu": flags, "libc": platform.libc_ver(), "cases": {}}
    for view in ("single", "dense"):
        for mode in ("default", "kept"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, view, str(args.rounds)], capture_output=True, text=True, check=True
            ).stdout
            rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            result["cases"][f"{view}, {mode}"] = rounds
            trail = ", ".join(f"{r['peak_mb']}" for r in rounds)
            end = rounds[-1]["current_mb"]
            say(f"{view} view(s), freed memory {mode}: peak MB after each round: {trail}; current at the end {end}")
        kept, default = result["cases"][f"{view}, kept"][-1], result["cases"][f"{view}, default"][-1]
        say(f"  {view}: peak kept/default {kept['peak_mb'] / default['peak_mb']:.2f}x")
    if args.save:
        report.save("freed_memory", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
