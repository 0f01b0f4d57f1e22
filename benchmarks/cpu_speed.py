"""CPU speed of VGGFeaturizer by precision, and peak memory of loading VGG16 weights (issue 10).

    python benchmarks/cpu_speed.py           # VGG16, 32 photos (~10-20 min on 2 shared cores)
    python benchmarks/cpu_speed.py --quick   # VGG11, 8 photos: a check that every path runs

One run, ratios against the hand loop measured in the same run: torchvision's vgg16 in
eager mode, PIL preprocessing image by image, batch 1. Then VGGFeaturizer with the
default precision, bfloat16, int8 (single view), and dense scales in int8 and float32.
Each path reports images/s, x the hand loop and the fc7 cosine to float32 (mean, min);
int8 graph builds (quantization, calibration, compilation) are timed apart, as they are
paid once per process. Finally the peak RSS of ``build_vgg("vgg16", weights=path)`` the
old way (torch.load, then copy into the network) and the new way (memory-mapped and
assigned), each in a fresh process. Photos: crops of scikit-learn's two sample photos,
saved as JPEG. Weights are random (the cost does not depend on their values), saved in
torchvision's state_dict format. Results go to benchmarks/results/ as JSON and log.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from featurizer_speed import make_jpegs  # noqa: E402

from skvgg import VGGFeaturizer  # noqa: E402

FLAGS = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx2")

# VmHWM, not getrusage's ru_maxrss: a child started from this (large) process can
# report its parent's high-water mark there.
PEAK = """
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
OLD_LOAD = (
    PEAK
    + """
import torch
from skvgg import build_vgg
from skvgg.models.architectures import resolve_arch
from skvgg.models.network import VGG
state = torch.load({path!r}, map_location="cpu", weights_only=True)
with torch.device("meta"):
    model = VGG(resolve_arch({arch!r}), 1000, init_weights=False)
model = model.to_empty(device="cpu")
model.load_state_dict(state)
del state
print(peak_kb())
"""
)
NEW_LOAD = (
    PEAK
    + """
from skvgg import build_vgg
model = build_vgg({arch!r}, weights={path!r})
print(peak_kb())
"""
)


def cpu_flags() -> dict:
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = set(re.search(r"^flags\s*:\s*(.*)$", text, re.M).group(1).split())
        model = re.search(r"^model name\s*:\s*(.*)$", text, re.M).group(1).strip()
    except (OSError, AttributeError):
        flags, model = set(), platform.processor()
    return {"model": model, "cores": torch.get_num_threads(), **{flag: flag in flags for flag in FLAGS}}


def cosine(a, b) -> tuple[float, float]:
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.mean()), float(c.min())


def peak_rss_mb(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="VGG11 and 8 photos")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--scales", type=int, nargs="+", default=[256, 384])
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    arch = "vgg11" if args.quick else "vgg16"
    n = args.images or (8 if args.quick else 32)
    flags = cpu_flags()
    log = io.StringIO()

    def say(text=""):
        print(text, flush=True)
        log.write(text + "\n")

    say(f"CPU: {flags['model']}, {flags['cores']} threads; " + ", ".join(f"{f}={'yes' if flags[f] else 'no'}" for f in FLAGS))
    say(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {arch}, {n} photos, batch {args.batch_size}")
    rows, builds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), n)
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)().eval()
        weights = str(Path(tmp) / f"{arch}.pth")
        torch.save(model.state_dict(), weights)
        transform = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()

        def hand_loop():
            out = []
            with torch.no_grad():
                for path in paths:
                    x = transform(Image.open(path).convert("RGB"))[None]
                    out.append(model.classifier[:5](torch.flatten(model.avgpool(model.features(x)), 1)).numpy())
            return np.vstack(out)

        hand_loop()  # warm-up
        start = time.perf_counter()
        hand = hand_loop()
        t_hand = time.perf_counter() - start
        rows.append({"path": "hand loop: torchvision eager, PIL, batch 1", "seconds": t_hand, "images_per_s": n / t_hand})

        common = dict(arch=arch, weights=weights, device="cpu", batch_size=args.batch_size)
        paths_run = {
            "skvgg default (precision='auto')": dict(),
            "skvgg precision='bfloat16'": dict(precision="bfloat16"),
            "skvgg precision='int8', single view": dict(precision="int8"),
            "skvgg float32, dense scales": dict(precision="float32", scales=args.scales),
            "skvgg precision='int8', dense scales": dict(precision="int8", scales=args.scales),
        }
        outputs = {}
        for name, options in paths_run.items():
            featurizer = VGGFeaturizer(**common, **options).fit()
            start = time.perf_counter()
            featurizer.transform(paths[:2])  # warm-up; builds the int8 graph
            warm = time.perf_counter() - start
            if featurizer._extractors:
                builds[name] = round(sum(f.build_seconds for f in featurizer._extractors), 1)
            start = time.perf_counter()
            outputs[name] = featurizer.transform(paths)
            t = time.perf_counter() - start
            rows.append({"path": name, "seconds": t, "images_per_s": n / t, "warm_up_s": warm, **options})
        float32 = VGGFeaturizer(**common, precision="float32").fit().transform(paths)
        dense32 = outputs["skvgg float32, dense scales"]
        for row in rows[1:]:
            reference = dense32 if "scales" in row else float32
            row["fc7_cosine_mean"], row["fc7_cosine_min"] = cosine(outputs[row["path"]], reference)
        rows[0]["fc7_cosine_mean"], rows[0]["fc7_cosine_min"] = cosine(hand, float32)

        say()
        say("| path | images/s | x the hand loop | fc7 cosine to float32 (mean / min) |")
        say("|---|---|---|---|")
        for row in rows:
            cos = f"{row['fc7_cosine_mean']:.5f} / {row['fc7_cosine_min']:.5f}"
            label = row["path"] + (f" {tuple(row['scales'])}" if "scales" in row else "")
            say(f"| {label} | {row['images_per_s']:.2f} | {t_hand / row['seconds']:.2f} | {cos} |")
        say()
        for name, seconds in builds.items():
            say(f"graph build (once per process) for {name}: {seconds} s")
        from skvgg._pipeline.runtime import resolve_precision

        say(f"precision='auto' resolves to {resolve_precision('auto', torch.device('cpu'))} on this CPU")

        rss_old = peak_rss_mb(OLD_LOAD.format(path=weights, arch=arch))
        rss_new = peak_rss_mb(NEW_LOAD.format(path=weights, arch=arch))
        say(
            f"peak RSS of build_vgg({arch!r}, weights=path): old (load, then copy) {rss_old:.0f} MB; "
            f"new (memory-mapped, assigned) {rss_new:.0f} MB"
        )

    stamp = datetime.date.today().isoformat()
    cpu = re.sub(r"[^A-Za-z0-9]+", "-", flags["model"]).strip("-").lower()[:40]
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    base = out / f"cpu_speed-{stamp}-{cpu}{'-quick' if args.quick else ''}"
    result = {
        "date": stamp,
        "cpu": flags,
        "torch": torch.__version__,
        "arch": arch,
        "images": n,
        "batch_size": args.batch_size,
        "scales": args.scales,
        "rows": rows,
        "graph_build_s": builds,
        "peak_rss_mb": {"old": rss_old, "new": rss_new},
    }
    base.with_suffix(".json").write_text(json.dumps(result, indent=2))
    base.with_suffix(".log").write_text(log.getvalue())
    print(f"wrote {base}.json and .log")


if __name__ == "__main__":
    main()
