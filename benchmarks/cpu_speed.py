"""CPU speed of VGGFeaturizer by precision, and peak memory of loading VGG16 weights (issue 10).

    python benchmarks/cpu_speed.py                  # VGG16, 32 photos (~10-20 min on 2 shared cores)
    python benchmarks/cpu_speed.py --quick          # VGG11, 8 photos: a check that every path runs
    python benchmarks/cpu_speed.py --network-only   # only the float32 network comparison (below)

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

The float32 network comparison (issue 19: skvgg float32 ran at 0.81x ONNX Runtime's
float32 on the same CPU) times the network alone, fc7 of the same weights on the same
preprocessed batch (the photos' centre views), in one process, in turns, so that the
ratios hold on a loaded machine: torch eager in contiguous (NCHW) and channels_last
layouts (skvgg's eager path), torch.compile with inductor freezing (skvgg's
``compile=True``: weights prepacked for oneDNN, convolution and ReLU fused), and ONNX
Runtime's CPU provider on the same network exported to ONNX, if onnxruntime is installed
(an optional reference, not a dependency of skvgg).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
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

from skvgg import VGGFeaturizer, build_vgg  # noqa: E402

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


def cpu_line(flags: dict) -> str:
    """The CPU model, thread count and instruction-set flags, as every benchmark prints them first."""
    return f"CPU: {flags['model']}, {flags['cores']} threads; " + ", ".join(f"{f}={'yes' if flags[f] else 'no'}" for f in FLAGS)


class Report:
    """What a benchmark prints, kept for its log file; it opens with the CPU model and flags."""

    def __init__(self):
        self.flags = cpu_flags()
        self.log = io.StringIO()
        self.say(cpu_line(self.flags))

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.log.write(text + "\n")

    def save(self, name: str, result: dict, suffix: str = "") -> Path:
        """Write ``benchmarks/results/<name>-<date>-<cpu><suffix>.json`` and ``.log``; returns the stem."""
        cpu = re.sub(r"[^A-Za-z0-9]+", "-", self.flags["model"]).strip("-").lower()[:40]
        base = Path(__file__).parent / "results" / f"{name}-{datetime.date.today().isoformat()}-{cpu}{suffix}"
        base.parent.mkdir(exist_ok=True)
        base.with_suffix(".json").write_text(json.dumps(result, indent=2))
        base.with_suffix(".log").write_text(self.log.getvalue())
        print(f"wrote {base}.json and .log")
        return base


def cosine(a, b) -> tuple[float, float]:
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.mean()), float(c.min())


def peak_rss_mb(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


class Fc7(torch.nn.Module):
    """torchvision VGG up to fc7 (after its ReLU): what the featurizer computes by default."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.classifier[:5](torch.flatten(self.model.avgpool(self.model.features(x)), 1))


def network_rows(model, arch: str, batch: torch.Tensor, repeats: int, say) -> list[dict]:
    """Images/s of the float32 network alone, each path timed ``repeats`` times in turns; best of each."""
    import copy

    from torch._inductor import config

    fc7 = Fc7(model).eval()
    channels_last = copy.deepcopy(fc7).to(memory_format=torch.channels_last)
    batch_cl = batch.contiguous(memory_format=torch.channels_last)
    # skvgg's own network in eager mode: torchvision's convolutions, its fc layers through
    # skvgg.models._fast_fc (oneDNN's inner product instead of MKL's sgemm).
    network = build_vgg(arch, weights=model.state_dict()).to(memory_format=torch.channels_last)
    paths = {
        "torch eager, contiguous (NCHW)": (fc7, batch),
        "torch eager, channels_last": (channels_last, batch_cl),
        "skvgg network eager, channels_last (compile=False)": (lambda x: network.extract(x, "fc7")["fc7"], batch_cl),
    }
    start = time.perf_counter()
    with config.patch(freezing=True), torch.inference_mode():
        compiled = torch.compile(copy.deepcopy(fc7).to(memory_format=torch.channels_last), dynamic=True)
        compiled(batch_cl)
    say(f"compile with freezing: {time.perf_counter() - start:.1f} s (once per process)")
    paths["torch.compile, freezing, channels_last (skvgg compile=True)"] = (compiled, batch_cl)
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
        say("onnxruntime is not installed: no ONNX Runtime reference line")
    if onnxruntime is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "fc7.onnx")
            torch.onnx.export(
                fc7, (batch,), path, dynamo=False, input_names=["x"], output_names=["fc7"], dynamic_axes={"x": {0: "batch"}}
            )
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {"x": batch.numpy()}

        def run_onnx(_):
            return torch.from_numpy(session.run(None, feed)[0])

        paths[f"ONNX Runtime {onnxruntime.__version__} CPU, float32"] = (run_onnx, batch)
    reference = None
    times = {name: [] for name in paths}
    outputs = {}
    for _ in range(repeats):
        for name, (run, x) in paths.items():
            with config.patch(freezing=True), torch.inference_mode():
                run(x)  # warm (the first of each turn is not timed: caches, thread pools)
                start = time.perf_counter()
                outputs[name] = run(x)
                times[name].append(time.perf_counter() - start)
    reference = outputs["torch eager, contiguous (NCHW)"]
    rows = []
    for name, seconds in times.items():
        best = min(seconds)
        difference = float((outputs[name] - reference).abs().max() / reference.abs().max())
        rows.append({"path": name, "seconds": best, "images_per_s": len(batch) / best, "max_rel_difference": difference})
    return rows


def layer_rows(model, arch: str, batch: torch.Tensor, repeats: int) -> list[dict]:
    """Seconds per layer of the float32 network on ``batch``, best of ``repeats``: skvgg's network in
    eager mode (channels_last; each convolution timed with its ReLU, in the chain) against ONNX
    Runtime's own profile of the same graph (kernel time per node; it fuses each convolution with
    its ReLU and keeps its NCHWc layout). Convolution names as in the paper, pools, fc6 and fc7."""
    import onnxruntime

    from skvgg.models._fast_fc import linear_inference

    network = build_vgg(arch, weights=model.state_dict()).eval().to(memory_format=torch.channels_last)
    names = [name for name in network.layer_names if name.startswith(("conv", "pool"))]
    ends = [network.feature_index[name] for name in names]
    fc6, fc7 = network.classifier[0], network.classifier[3]
    torch_s = {name: float("inf") for name in [*names, "fc6", "fc7"]}
    with torch.inference_mode():
        for _ in range(repeats):
            x = batch.contiguous(memory_format=torch.channels_last)
            start_index = 0
            for name, end in zip(names, ends):
                start = time.perf_counter()
                for module in network.features[start_index : end + 1]:
                    x = module(x)
                torch_s[name] = min(torch_s[name], time.perf_counter() - start)
                start_index = end + 1
            x = torch.flatten(network.avgpool(x), 1)
            for name, linear in (("fc6", fc6), ("fc7", fc7)):
                start = time.perf_counter()
                x = torch.relu(linear_inference(x, linear))
                torch_s[name] = min(torch_s[name], time.perf_counter() - start)
    options = onnxruntime.SessionOptions()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        path = str(Path(tmp) / "fc7.onnx")
        torch.onnx.export(Fc7(model).eval(), (batch,), path, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for _ in range(repeats + 1):  # the first run warms up
            session.run(None, {"x": batch.numpy()})
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes: dict[str, list] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            nodes.setdefault(event["name"], [event["args"].get("op_name"), []])[1].append(event["dur"] / 1e6)
    # ONNX Runtime's nodes in graph order: convolutions, pools and the two fc layers (Gemm) map onto
    # the paper's names in order; reorders, flatten and the average pool are reported as "other".
    queues = {
        "Conv": [n for n in names if n.startswith("conv")],
        "MaxPool": [n for n in names if n.startswith("pool")],
        "FusedGemm": ["fc6", "fc7"],
    }
    ort_s = {name: 0.0 for name in torch_s}
    ort_s["other"] = 0.0
    for op, times in nodes.values():
        best = min(times[1:] or times)
        queue = queues.get("FusedGemm" if op == "Gemm" else op)
        ort_s[queue.pop(0) if queue else "other"] += best
    torch_s["other"] = 0.0
    return [{"layer": name, "torch_s": torch_s[name], "onnxruntime_s": ort_s[name]} for name in torch_s]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="VGG11 and 8 photos")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--scales", type=int, nargs="+", default=[256, 384])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--network-only", action="store_true", help="only the float32 network comparison")
    parser.add_argument("--repeats", type=int, default=3, help="turns of the network comparison (best of)")
    parser.add_argument(
        "--keep-freed-memory", action="store_true", help="skvgg.keep_freed_memory() first (as skvgg --keep-freed-memory does)"
    )
    args = parser.parse_args()
    if args.keep_freed_memory:
        from skvgg import keep_freed_memory  # here: before_after.py imports this file beside older checkouts

        assert keep_freed_memory(), "keep_freed_memory needs glibc"
    arch = "vgg11" if args.quick else "vgg16"
    n = args.images or (8 if args.quick else 32)
    report = Report()
    say = report.say
    say(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {arch}, {n} photos, batch {args.batch_size}")
    say(f"freed memory kept for reuse (skvgg.keep_freed_memory): {'yes' if args.keep_freed_memory else 'no (glibc default)'}")
    rows, builds, network = [], {}, []
    rss_old = rss_new = None
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

        views = torch.stack([transform(Image.open(path).convert("RGB")) for path in paths[: args.batch_size]])
        say()
        say(f"float32 network alone: {arch} fc7, a batch of {len(views)} centre views, best of {args.repeats} turns")
        network = network_rows(model, arch, views, args.repeats, say)
        eager = network[1]["images_per_s"]
        onnx = next((row["images_per_s"] for row in network if row["path"].startswith("ONNX Runtime")), float("nan"))
        say("| path | images/s | x torch eager channels_last | x ONNX Runtime | max difference to NCHW eager (relative) |")
        say("|---|---|---|---|---|")
        for row in network:
            ratio = row["images_per_s"] / eager
            say(
                f"| {row['path']} | {row['images_per_s']:.2f} | {ratio:.2f} | {row['images_per_s'] / onnx:.2f} "
                f"| {row['max_rel_difference']:.1e} |"
            )
        try:
            layers = layer_rows(model, arch, views, args.repeats)
        except ImportError:
            layers = []
        if layers:
            say()
            say("Per layer (why): skvgg eager channels_last against ONNX Runtime's profile of the same graph")
            say("| layer | torch eager (s) | ONNX Runtime (s) | torch / ONNX Runtime |")
            say("|---|---|---|---|")
            for row in layers:
                ratio = row["torch_s"] / row["onnxruntime_s"] if row["onnxruntime_s"] else float("nan")
                say(f"| {row['layer']} | {row['torch_s']:.4f} | {row['onnxruntime_s']:.4f} | {ratio:.2f} |")
            say(
                f"| total | {sum(r['torch_s'] for r in layers):.4f} | {sum(r['onnxruntime_s'] for r in layers):.4f} | "
                f"{sum(r['torch_s'] for r in layers) / sum(r['onnxruntime_s'] for r in layers):.2f} |"
            )
        if args.network_only:
            return finish(args, report, arch, n, rows, builds, network, rss_old, rss_new, layers)

        hand_loop()  # warm-up
        start = time.perf_counter()
        hand = hand_loop()
        t_hand = time.perf_counter() - start
        rows.append({"path": "hand loop: torchvision eager, PIL, batch 1", "seconds": t_hand, "images_per_s": n / t_hand})

        common = dict(arch=arch, weights=weights, device="cpu", batch_size=args.batch_size)
        paths_run = {
            "skvgg default (precision='auto')": dict(),
            "skvgg precision='float32', compile=True": dict(precision="float32", compile=True),
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

    finish(args, report, arch, n, rows, builds, network, rss_old, rss_new, layers)


def finish(args, report, arch, n, rows, builds, network, rss_old, rss_new, layers=()):
    suffix = "".join(
        part
        for part, wanted in (
            ("-quick", args.quick),
            ("-network", args.network_only),
            ("-keep-freed-memory", args.keep_freed_memory),
        )
        if wanted
    )
    result = {
        "date": datetime.date.today().isoformat(),
        "cpu": report.flags,
        "torch": torch.__version__,
        "arch": arch,
        "images": n,
        "batch_size": args.batch_size,
        "scales": args.scales,
        "load_average": list(os.getloadavg()),
        "keep_freed_memory": args.keep_freed_memory,
        "network_float32": network,
        "network_float32_per_layer": list(layers),
        "rows": rows,
        "graph_build_s": builds,
        "peak_rss_mb": {"old": rss_old, "new": rss_new},
    }
    report.save("cpu_speed", result, suffix)


if __name__ == "__main__":
    main()
