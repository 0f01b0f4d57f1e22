"""Compute needed to reproduce the paper's Table 11 with skvgg, per dataset and network.

    python benchmarks/table11_compute.py          # measures this machine's VGG16 throughput first

MACs per image are counted exactly from the layer shapes (``VGG.count_macs``) for the
paper's dense evaluation: fc7 at each test scale Q, image and mirror, on an image of
aspect ratio 4:3 (VOC's typical 500x375; Caltech images vary, mostly around 3:2-4:3).
Hours on this CPU use the throughput measured here, in the same run. Minutes on GPUs are
*estimates* from published VGG16 inference throughput at 224x224 with large batches
(timm's benchmark CSVs, quoted in the project's reference notes), not measured by skvgg;
dense evaluation of variable-size images batches less well, so expect more.
"""

from __future__ import annotations

import time

import torch

from skvgg import VGG, build_vgg
from skvgg.experiments import DATASETS

# Images the protocol describes (the whole dataset, or the train and test image sets).
IMAGES = {"caltech101": 9144, "caltech256": 30607, "voc2007": 9963, "voc2012": 11540}
# Published VGG16 224x224 inference throughput, images/s (timm benchmark CSVs, AMP):
GPU_ANCHORS = {"RTX 4090, eager AMP channels_last": 2905, "RTX 4090, AMP + torch.compile": 3852}


def macs_per_image(arch: str, scales, aspect=4 / 3) -> int:
    with torch.device("meta"):
        network = VGG(arch)
    total = 0
    for q in scales:
        total += 2 * network.count_macs(q, round(q * aspect), "fc7", dense=True)  # image + mirror
    return total


def measure_cpu_gmacs(batch=8) -> float:
    network = build_vgg("vgg16").to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        network.extract(x[:2], "fc7")
        started = time.perf_counter()
        network.extract(x, "fc7")
        seconds = time.perf_counter() - started
    return batch * network.count_macs(224, 224, "fc7") / seconds / 1e9


def main():
    cpu = measure_cpu_gmacs()
    print(f"this CPU ({torch.get_num_threads()} threads): {cpu:.0f} GMAC/s on VGG16 at 224, batch 8 (measured now)")
    per_224 = 15.47e9
    gpus = {name: rate * per_224 / 1e9 for name, rate in GPU_ANCHORS.items()}
    print(
        "| dataset | network | scales Q | GMACs / image | images | CPU hours (here) | "
        + " | ".join(f"minutes, {g} (est.)" for g in gpus)
        + " |"
    )
    print("|---" * (6 + len(gpus)) + "|")
    for name, protocol in DATASETS.items():
        for archs in (["vgg16"], ["vgg19"], ["vgg16", "vgg19"]):
            macs = sum(macs_per_image(a, protocol.scales) for a in archs)
            total = macs * IMAGES[name]
            cells = [f"{total / (rate * 1e9) / 60:.0f}" for rate in gpus.values()]
            print(
                f"| {protocol.title} | {'+'.join(archs)} | {','.join(map(str, protocol.scales))} | {macs / 1e9:,.0f} | "
                f"{IMAGES[name]:,} | {total / (cpu * 1e9) / 3600:,.0f} | " + " | ".join(cells) + " |"
            )


if __name__ == "__main__":
    main()
