"""Compute needed to reproduce the paper's Table 11 with skvgg, per dataset and network.

    python benchmarks/table11_compute.py          # rates from the newest files in benchmarks/results/

MACs per image are counted exactly from the layer shapes (``VGG.count_macs``) for the
paper's dense evaluation: fc7 at each test scale Q, image and mirror, on an image of
aspect ratio 4:3 (VOC's typical 500x375; Caltech images vary, mostly around 3:2-4:3).
Hours and minutes are *estimates*: those MACs divided by a rate measured by another
benchmark and kept in ``benchmarks/results/`` (one source for every speed figure), named
with its date and machine in the output:

* CPU: ``cpu_speed-*.json`` (``benchmarks/cpu_speed.py``), the end-to-end images/s of the
  default single view (float32) and of ``precision="int8"``, times VGG16's MACs at 224.
* GPU: ``gpu-*.json`` (``benchmarks/gpu.py``), the end-to-end images/s of the dense
  protocol itself (scales 256, 384, 512, flipped, 500x375 JPEGs) with ``decode="cpu"`` and
  ``decode="gpu"``, times the MACs of that protocol.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from skvgg import VGG
from skvgg.experiments import DATASETS

RESULTS = Path(__file__).resolve().parent / "results"
# Images the protocol describes (the whole dataset, or the train and test image sets).
IMAGES = {"caltech101": 9144, "caltech256": 30607, "voc2007": 9963, "voc2012": 11540}


def macs_per_image(arch: str, scales, aspect=4 / 3) -> int:
    with torch.device("meta"):
        network = VGG(arch)
    total = 0
    for q in scales:
        total += 2 * network.count_macs(q, round(q * aspect), "fc7", dense=True)  # image + mirror
    return total


def newest(pattern: str) -> Path:
    found = sorted(RESULTS.glob(pattern))  # file names start with the date after the benchmark's name
    if not found:
        sys.exit(f"no {pattern} in {RESULTS}: run the benchmark that writes it first")
    return max(found, key=lambda p: json.loads(p.read_text()).get("date") or json.loads(p.read_text()).get("started", ""))


def cpu_rates(path: Path) -> tuple[str, dict]:
    """GMAC/s of the CPU's end-to-end single-view paths, from a cpu_speed result."""
    result = json.loads(path.read_text())
    per_224 = macs_per_view("vgg16", 224)
    rows = {row["path"]: row["images_per_s"] for row in result["rows"]}
    rates = {
        "float32": rows["skvgg default (precision='auto')"] * per_224,
        "int8": rows["skvgg precision='int8', single view"] * per_224,
    }
    cpu = result["cpu"]
    return f"{result['date']}, {cpu['model']}, {cpu['cores']} cores ({path.name})", rates


def gpu_rates(path: Path) -> tuple[str, dict]:
    """GMAC/s of the dense protocol end to end on the GPU, from a gpu.py result."""
    result = json.loads(path.read_text())
    dense = result["sections"]["dense"]["results"]
    macs = macs_per_image("vgg16", dense["scales"]) if dense["flip"] else macs_per_image("vgg16", dense["scales"]) / 2
    rates = {f"decode={k.split('_')[1]}": dense[k]["images_per_s"] * macs for k in ("decode_cpu", "decode_gpu")}
    return f"{result['started'][:10]}, {result['summary']['card']} ({path.name})", rates


def macs_per_view(arch: str, side: int) -> int:
    with torch.device("meta"):
        return VGG(arch).count_macs(side, side, "fc7")


def main():
    cpu_source, cpu = cpu_rates(newest("cpu_speed-*.json"))
    gpu_source, gpu = gpu_rates(newest("gpu-*.json"))
    print(f"CPU: {cpu_source}: " + ", ".join(f"{k} {v / 1e9:.0f} GMAC/s" for k, v in cpu.items()))
    print(f"GPU: {gpu_source}: " + ", ".join(f"{k} {v / 1e9:,.0f} GMAC/s" for k, v in gpu.items()))
    print()
    print(
        "| dataset | network | scales Q | GMACs / image | images | "
        + " | ".join(f"CPU hours, {k} (est.)" for k in cpu)
        + " | "
        + " | ".join(f"GPU minutes, {k} (est.)" for k in gpu)
        + " |"
    )
    print("|---" * (5 + len(cpu) + len(gpu)) + "|")
    for name, protocol in DATASETS.items():
        for archs in (["vgg16"], ["vgg19"], ["vgg16", "vgg19"]):
            macs = sum(macs_per_image(a, protocol.scales) for a in archs)
            total = macs * IMAGES[name]
            hours = [f"{total / rate / 3600:,.0f}" for rate in cpu.values()]
            minutes = [f"{total / rate / 60:,.0f}" for rate in gpu.values()]
            print(
                f"| {protocol.title} | {'+'.join(archs)} | {','.join(map(str, protocol.scales))} | {macs / 1e9:,.0f} | "
                f"{IMAGES[name]:,} | " + " | ".join(hours) + " | " + " | ".join(minutes) + " |"
            )


if __name__ == "__main__":
    main()
