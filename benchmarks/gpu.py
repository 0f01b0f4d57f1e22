"""skvgg on one GPU: VGG16 fc7 images/s from uint8 tensors and from JPEG files, dense descriptors,
fine-tuning, and descriptor agreement across precisions and decoders (issue 12).

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py --time-budget 240 --out $OUT/gpu.json
    python benchmarks/gpu.py --device cpu --quick          # every section at tiny sizes (~1 min on a CPU)
    python benchmarks/gpu.py --device cpu --only agreement  # the CPU-measurable agreement numbers

Sections, in order (each isolated: an error is recorded with its traceback and the run goes
on; each time-limited: loops stop at the section's deadline and a watchdog ends the process,
JSON written, if a section hangs past it):

environment         card, capability, memory, versions, CPU model and flags, what precision="auto" picks
agreement           fc7 cosine of bfloat16 / float16 / float32 on the device against float32 on the CPU
                    (scikit-learn's sample photos and crops); GPU-decode resizing (tensor arithmetic, run
                    on CPU tensors) against PIL: pixel differences and fc7 cosine
raw                 the network alone from uint8 batches: channels_last, bfloat16 autocast, batch 128 and
                    256, input already on the device and copied from pinned host memory, against a float32
                    NCHW baseline; CUDA-event timing after warm-up
featurizer_tensors  VGGFeaturizer.transform on 4-D uint8 batches, cut in slices by the view plan: a torch
                    tensor, a numpy NHWC array, a batch resized in batch on the device, and compile=True
jpeg_files          ~2000 generated JPEGs (500x375, quality 90): decode="cpu" (PIL, one thread per core)
                    and decode="gpu" (nvJPEG); decode-only rates; nvJPEG-vs-PIL pixel and fc7 agreement
dense               scales=(256, 384, 512), flip=True
finetune            one VGGClassifier epoch, train_layers="all" and "classifier"
cuda_tests          ``pytest -m cuda tests/test_cuda.py`` in a subprocess (a minimal runner if pytest is missing)
compile             torch.compile of the fc7 network, in a subprocess with a hard timeout

Weights are random (speed does not depend on their values; no download). Targets printed beside
the measurements (issue 17): >= 12,000 img/s from uint8 tensors and >= 8,000 img/s end to end from
JPEG files with decode="gpu" on one H100/H200, fc7 cosine >= 0.999 to float32.
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import gc
import importlib.util
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402

TARGETS = {"uint8_tensors_img_s": 12000, "jpeg_files_img_s": 8000, "fc7_cosine": 0.999}

FULL = dict(
    arch="vgg16", size=224, resize=256, raw_batches=(128, 256), baseline_batch=128, n_tensors=4096, tensor_side=256,
    featurizer_batch=256, n_jpegs=2000, jpeg_size=(500, 375), dense_scales=(256, 384, 512), dense_batch=32,
    n_finetune=1024, finetune_batch=64, agreement_crops=6, pixel_files=16, dense_warmup=4,
)  # fmt: skip
QUICK = dict(
    arch="vgg11", size=64, resize=72, raw_batches=(2, 4), baseline_batch=2, n_tensors=8, tensor_side=72,
    featurizer_batch=4, n_jpegs=12, jpeg_size=(160, 120), dense_scales=(224,), dense_batch=4,
    n_finetune=10, finetune_batch=1, agreement_crops=1, pixel_files=4, dense_warmup=1,
)  # fmt: skip

# name, nominal seconds at --time-budget 240, fewest seconds worth starting it with
SECTIONS = [
    ("environment", 3, 0),
    ("agreement", 12, 4),
    ("raw", 25, 6),
    ("featurizer_tensors", 15, 5),
    ("jpeg_files", 35, 8),
    ("dense", 15, 5),
    ("finetune", 20, 6),
    ("cuda_tests", 70, 15),
    ("compile", 45, 20),
]


# --- small utilities ------------------------------------------------------------------------


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cpu_model_and_flags():
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("Flags:"):
                wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_bf16", "amx_int8", "amx_tile")
                flags = [f for f in line.split(":", 1)[1].split() if f in wanted]
    except (OSError, subprocess.SubprocessError):
        pass
    return model, flags


class Clock:
    """Times device work: CUDA events on a GPU (no host stall inside a block), wall time elsewhere."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def time(self, fn, repeats: int) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeats):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        return time.perf_counter() - started


def rate(clock: Clock, fn, images_per_call: int, deadline: float, seconds: float, warmup: int = 3) -> dict:
    """Images/s of ``fn`` after ``warmup`` calls: median over blocks of ~0.4 s, for about ``seconds``."""
    for _ in range(warmup):
        fn()
    clock.sync()
    single = max(clock.time(fn, 1), 1e-6)
    repeats = max(1, int(0.4 / single))
    rates, stop = [], min(deadline, time.perf_counter() + seconds)
    while not rates or (time.perf_counter() < stop and len(rates) < 25):
        rates.append(repeats * images_per_call / clock.time(fn, repeats))
    return {"images_per_s": float(np.median(rates)), "best": float(max(rates)), "blocks": len(rates), "calls_per_block": repeats}


def cosines(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    values = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return {"fc7_cosine_min": float(values.min()), "fc7_cosine_mean": float(values.mean()), "n": len(values)}


def free_memory(networks: bool = False):
    """Return cached device memory; ``networks`` also drops the shared networks (before subprocesses)."""
    from skvgg._pipeline.runtime import clear_network_cache

    if networks:
        clear_network_cache()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def guarded(out: dict, key: str, fn):
    """``fn()``, or record its error under ``out[key]`` and go on: one failing part keeps the section's others."""
    try:
        return fn()
    except Exception as error:  # noqa: BLE001
        out[key] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-3000:]}
        say(f"  {key}: ERROR {type(error).__name__}: {error}")
        return None


def say(text=""):
    print(text, flush=True)


def against(value, target, unit="img/s"):
    if value is None:
        return ""
    mark = "meets" if value >= target else "below"
    return f"  [target >= {target:,} {unit}: {mark}]" if unit else f"  [target >= {target}: {mark}]"


# --- inputs ---------------------------------------------------------------------------------


def sample_views(n_crops: int):
    """scikit-learn's two sample photos and ``n_crops`` crops of each, as uint8 HxWx3 arrays."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    out = []
    for photo in load_sample_images().images:
        out.append(photo)
        h, w = photo.shape[:2]
        for _ in range(n_crops):
            ch, cw = int(rng.integers(h // 2, h)), int(rng.integers(w // 2, w))
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            out.append(np.ascontiguousarray(photo[top : top + ch, left : left + cw]))
    return out


def _write_jpegs(job):
    """Worker: write JPEGs ``start..stop`` (random crops of the sample photos, varied colour and layout)."""
    directory, start, stop, size = job
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    paths = []
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        photo = photos[i % 2]
        h, w = photo.shape[:2]
        ch, cw = int(rng.integers(h // 3, h)), int(rng.integers(w // 3, w))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = photo[top : top + ch, left : left + cw].astype(np.float32)
        crop = crop * rng.uniform(0.6, 1.3, 3) + rng.uniform(-30, 30)  # colour and brightness
        if i % 3 == 0:
            crop = crop[:, ::-1]
        if i % 5 == 0:
            crop = crop + rng.normal(0, 12, crop.shape)  # texture
        image = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        target = size if i % 4 else size[::-1]  # one in four portrait
        path = os.path.join(directory, f"img{i:05d}.jpg")
        image.resize(target, Image.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def make_jpegs(directory: str, n: int, size, processes: int) -> list[str]:
    step = max(1, -(-n // (processes * 4)))
    jobs = [(directory, start, min(n, start + step), tuple(size)) for start in range(0, n, step)]
    if processes > 1 and n > 32:
        with multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork").Pool(processes) as pool:
            chunks = pool.map(_write_jpegs, jobs)
    else:
        chunks = [_write_jpegs(job) for job in jobs]
    return [path for chunk in chunks for path in chunk]


# --- the run's context ------------------------------------------------------------------------


class Context:
    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device)
        self.p = QUICK if args.quick else FULL
        self.cores = os.cpu_count() or 1
        self.clock = Clock(self.device)
        self.tmp = tempfile.mkdtemp(prefix="skvgg-gpu-bench-")
        self.jpegs: list[str] = []
        self.jpeg_seconds = None
        from skvgg import Preprocessing

        self.pre = Preprocessing(resize_size=self.p["resize"], crop_size=self.p["size"])
        self.gpu_decode_emulated = False
        if self.device.type != "cuda":
            # decode="gpu" needs CUDA; on a CPU the same code runs with torchvision's CPU decoder.
            from skvgg._pipeline import gpudecode

            gpudecode.EMULATE_ON_CPU = True
            self.gpu_decode_emulated = True

    def past(self, deadline: float) -> bool:
        """Whether a section should stop its optional parts (never with --quick, which runs every part)."""
        return not self.args.quick and time.perf_counter() > deadline

    def featurizer(self, **options):
        from skvgg import VGGFeaturizer

        defaults = dict(
            arch=self.p["arch"], weights=None, random_state=0, device=str(self.device), preprocessing=self.pre,
            batch_size=self.p["featurizer_batch"], num_workers=self.cores,
        )  # fmt: skip
        return VGGFeaturizer(**{**defaults, **options})

    def ensure_jpegs(self, n: int, processes: int | None = None) -> list[str]:
        """``n`` generated JPEG files; ``main`` makes them before CUDA starts (forked workers)."""
        if len(self.jpegs) < n:
            started = time.perf_counter()
            directory = os.path.join(self.tmp, f"jpegs{n}")
            os.makedirs(directory, exist_ok=True)
            self.jpegs = make_jpegs(directory, n, self.p["jpeg_size"], processes or 1)
            self.jpeg_seconds = time.perf_counter() - started
        return self.jpegs[:n]


# --- sections ---------------------------------------------------------------------------------


def section_environment(ctx: Context, deadline: float) -> dict:
    from skvgg._pipeline.runtime import cuda_native_bfloat16, resolve_precision

    model, flags = cpu_model_and_flags()
    out = {
        "device": str(ctx.device), "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": platform.python_version(), "cpu_model": model, "cpu_flags": flags, "cpu_count": ctx.cores,
        "precision_auto": str(resolve_precision("auto", ctx.device)), "quick": ctx.args.quick,
        "pytest_available": importlib.util.find_spec("pytest") is not None,
    }  # fmt: skip
    if ctx.device.type == "cuda":
        props = torch.cuda.get_device_properties(ctx.device)
        out.update(
            card=torch.cuda.get_device_name(ctx.device), capability=list(torch.cuda.get_device_capability(ctx.device)),
            memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
            cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), bf16_native=cuda_native_bfloat16(ctx.device),
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32, matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        )  # fmt: skip
        try:
            from skvgg._pipeline.gpudecode import check_gpu_decoding

            check_gpu_decoding(ctx.device)
            out["nvjpeg"] = "ok"
        except Exception as error:  # noqa: BLE001
            out["nvjpeg"] = f"unavailable: {error}"
    else:
        out["card"] = f"cpu {model}"
    say(f"  {out.get('card')}  torch {out['torch']}  torchvision {out['torchvision']}  precision auto -> {out['precision_auto']}")
    say(f"  CPU: {model}, {ctx.cores} cores, flags {' '.join(flags) or '-'}")
    return out


def section_agreement(ctx: Context, deadline: float) -> dict:
    """fc7 of each precision against CPU float32; tensor resizing against PIL."""
    from skvgg import Preprocessing
    from skvgg._pipeline.batches import plan_groups
    from skvgg._pipeline.plan import ViewPlan, rescaled_shape
    from skvgg._pipeline.views import rescale as pil_rescale
    from skvgg._pipeline.views import resize_tensor, tensor_views

    images = sample_views(ctx.p["agreement_crops"])
    view = ctx.pre if ctx.args.quick else None  # the full run: torchvision's 256 -> 224 view
    out = {"images": len(images), "arch": ctx.p["arch"], "weights": "random (seed 0)"}
    reference = ctx.featurizer(device="cpu", precision="float32", preprocessing=view, batch_size=8).fit().transform(images)
    precision = {}
    for name in ("bfloat16", "float16", "float32"):
        if ctx.past(deadline):
            precision[name] = "skipped: section time limit"
            continue
        try:
            got = ctx.featurizer(precision=name, preprocessing=view, batch_size=8).fit().transform(images)
            precision[name] = cosines(got, reference)
            flag = against(precision[name]["fc7_cosine_min"], TARGETS["fc7_cosine"], unit="") if name != "float32" else ""
            say(f"  fc7 {name:9s} on {ctx.device} vs float32 on CPU: cosine min {precision[name]['fc7_cosine_min']:.6f}{flag}")
        except Exception as error:  # noqa: BLE001 - e.g. float16 autocast unsupported on this CPU
            precision[name] = f"error: {type(error).__name__}: {error}"
            say(f"  fc7 {name}: {precision[name]}")
    out["precision"] = precision

    # GPU-decode resizing: the tensor arithmetic (float, width then height, rounded) on CPU tensors.
    differing, total, worst = 0, 0, 0
    for array in images:
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)
        for side in (224, 256, 384, 512):
            resized = resize_tensor(tensor, rescaled_shape(*tensor.shape[-2:], side))
            difference = (resized.int() - pil_rescale(Image.fromarray(array), side).int()).abs()
            worst = max(worst, int(difference.max()))
            differing, total = differing + int((difference > 0).sum()), total + difference.numel()
    pre = view or Preprocessing()
    plan = ViewPlan.single(pre.resize_size, pre.crop_size)
    pil_views = torch.stack([plan_groups(plan, Image.fromarray(a))[0].views[0] for a in images])
    tensor_views = torch.cat(
        [tensor_views(torch.from_numpy(a.copy()).permute(2, 0, 1)[None], plan.layouts(*a.shape[:2])[0]) for a in images]
    )
    same_view = Preprocessing(resize_size=pre.crop_size, crop_size=pre.crop_size)  # the views are final: no resizing
    cpu = ctx.featurizer(device="cpu", precision="float32", preprocessing=same_view, batch_size=8).fit()
    out["resize"] = {
        "sides": [224, 256, 384, 512], "max_abs_pixel_difference": worst, "fraction_of_values_differing": differing / total,
        "view_224_max_abs_difference": int((pil_views.int() - tensor_views.int()).abs().max()),
        **cosines(cpu.transform(tensor_views), cpu.transform(pil_views)),
    }  # fmt: skip
    r = out["resize"]
    say(
        f"  GPU-decode resize vs PIL (CPU tensors): max |diff| {worst} levels, {100 * r['fraction_of_values_differing']:.2f}% of "
        f"values differ; fc7 cosine min {r['fc7_cosine_min']:.6f} (CPU float32)"
    )
    return out


def _network(ctx: Context):
    from skvgg.models.zoo import build_vgg

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_vgg(ctx.p["arch"], None)
    return network.requires_grad_(False).eval()


def section_raw(ctx: Context, deadline: float) -> dict:
    from skvgg import Preprocessing
    from skvgg._pipeline.runtime import autocast, resolve_precision

    device, size = ctx.device, ctx.p["size"]
    dtype = resolve_precision("auto", device)  # bfloat16 (Ampere and later) or float16 on CUDA, float32 elsewhere
    pre = Preprocessing()
    network = ctx.featurizer().fit()._get_network()  # skvgg's shared network: channels_last, eval, on the device
    out = {"arch": ctx.p["arch"], "size": size, "dtype": str(dtype), "eager": {}}
    budget = max(deadline - time.perf_counter(), 1)
    per = budget / (2 * len(ctx.p["raw_batches"]) + 2)
    if ctx.args.quick:
        per = min(per, 1.0)

    def step(x, dt, channels_last=True):
        x = pre.normalize(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(device, dt):
            return network.extract(x, "fc7")["fc7"]

    def measure(batch):
        host = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
        if device.type == "cuda":
            host = host.pin_memory()
        on_device = host.to(device)
        resident = rate(ctx.clock, lambda: step(on_device, dtype), batch, deadline, per)
        from_host = rate(ctx.clock, lambda: step(host.to(device, non_blocking=True), dtype), batch, deadline, per)
        out["eager"][str(batch)] = {"input_on_device": resident, "from_pinned_uint8": from_host}
        flag = against(from_host["images_per_s"], TARGETS["uint8_tensors_img_s"])
        say(
            f"  raw {ctx.p['arch']} fc7 {dtype}, channels_last, batch {batch}: {resident['images_per_s']:,.0f} img/s (input on "
            f"device), {from_host['images_per_s']:,.0f} img/s (from pinned uint8){flag}"
        )

    for batch in ctx.p["raw_batches"]:
        guarded(out, f"eager_batch_{batch}", lambda batch=batch: measure(batch))

    def baseline():
        batch = ctx.p["baseline_batch"]
        x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
        network.to(memory_format=torch.contiguous_format)
        try:
            base = rate(ctx.clock, lambda: step(x, torch.float32, channels_last=False), batch, deadline, per)
        finally:
            network.to(memory_format=torch.channels_last)
        out["baseline_float32_nchw"] = {"batch": batch, **base}
        best = max(v["input_on_device"]["images_per_s"] for v in out["eager"].values())
        out["speedup_vs_float32_nchw"] = best / base["images_per_s"]
        say(f"  baseline float32 NCHW batch {batch}: {base['images_per_s']:,.0f} img/s -> x{out['speedup_vs_float32_nchw']:.2f}")

    def tuned():
        batch = max(ctx.p["raw_batches"])
        x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
        torch.backends.cudnn.benchmark = True
        try:
            measured = rate(ctx.clock, lambda: step(x, dtype), batch, deadline, per, warmup=5)
        finally:
            torch.backends.cudnn.benchmark = False
        out["cudnn_benchmark"] = {"batch": batch, **measured}
        say(f"  with cudnn.benchmark=True, batch {batch}: {measured['images_per_s']:,.0f} img/s (input on device)")

    if not ctx.past(deadline):
        guarded(out, "baseline_float32_nchw", baseline)
    if device.type == "cuda" and not ctx.past(deadline):
        guarded(out, "cudnn_benchmark", tuned)
    return out


def _timed_transform(featurizer, X) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    result = featurizer.transform(X)
    return time.perf_counter() - started, result


def section_featurizer_tensors(ctx: Context, deadline: float) -> dict:
    """VGGFeaturizer on 4-D uint8 batches: cut in slices by the view plan (no PIL, no per-image tensor).

    Rows: a torch NCHW tensor whose images need no resize (centre crop only), the same as a
    numpy NHWC array, a batch that is resized in batch on the device, and on CUDA the first
    with ``compile=True`` (the compiled graph on the device; its build time in the warm-up).
    """
    side, n = ctx.p["tensor_side"], ctx.p["n_tensors"]
    distinct = torch.randint(0, 256, (min(n, 256), 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    X = distinct.repeat(-(-n // len(distinct)), 1, 1, 1)[:n]  # content does not change the cost
    big = side + side // 4  # needs a resize to the plan's shorter side
    resized = torch.nn.functional.interpolate(distinct.float(), size=(big, big)).to(torch.uint8)
    inputs = {
        "torch NCHW, no resize": (X, {}),
        "numpy NHWC, no resize": (X.permute(0, 2, 3, 1).numpy(), {}),
        f"torch NCHW {big} px, resized in batch": (resized.repeat(-(-n // len(resized)), 1, 1, 1)[:n], {}),
    }
    if ctx.device.type == "cuda":  # compile="auto" on CUDA (issue 17); on a CPU it costs minutes, measured by cpu_speed.py
        inputs["torch NCHW, no resize, compile=True"] = (X, {"compile": True})
    out = {"images": n, "side": side, "note": f"uint8 {side}x{side} tensors: rescale is a no-op, centre crop {ctx.p['size']}"}
    for key, (data, options) in inputs.items():
        if ctx.past(deadline):
            break

        def run(key=key, data=data, options=options):
            featurizer = ctx.featurizer(**options).fit()
            started = time.perf_counter()
            featurizer.transform(data[: 2 * ctx.p["featurizer_batch"]])  # warm-up: cuDNN, threads, buffers (and compiling)
            warm = time.perf_counter() - started
            seconds, _ = _timed_transform(featurizer, data)
            out[key] = {"seconds": seconds, "images_per_s": n / seconds, "warm_up_s": warm}
            say(
                f"  VGGFeaturizer from {key} (batch {featurizer.batch_size}): {n / seconds:,.0f} img/s"
                f"{against(n / seconds, TARGETS['uint8_tensors_img_s'])}  (warm-up {warm:.1f} s)"
            )

        guarded(out, key, run)
    return out


def section_jpeg_files(ctx: Context, deadline: float) -> dict:
    paths = ctx.ensure_jpegs(ctx.p["n_jpegs"])
    out = {
        "files": len(paths), "size": list(ctx.p["jpeg_size"]), "quality": 90, "generate_seconds": ctx.jpeg_seconds,
        "note": "files are in the page cache (written just before): disk reads are not measured",
        "gpu_decode_emulated_on_cpu": ctx.gpu_decode_emulated,
    }  # fmt: skip
    say(f"  {len(paths)} JPEGs, generated in {out['generate_seconds']:.1f} s")
    warm = paths[: 2 * ctx.p["featurizer_batch"]]
    results = {}
    for decode in ("cpu", "gpu"):
        if ctx.past(deadline):
            out[f"decode_{decode}"] = "skipped: section time limit"
            continue

        def run(decode=decode):
            featurizer = ctx.featurizer(decode=decode).fit()
            featurizer.transform(warm)
            seconds, results[decode] = _timed_transform(featurizer, paths)
            record = {"seconds": seconds, "images_per_s": len(paths) / seconds, "num_workers": ctx.cores}
            if decode == "gpu":
                record["decode_counts"] = dict(featurizer.decode_counts_)
            out[f"decode_{decode}"] = record
            say(
                f"  VGGFeaturizer from JPEG files, decode={decode!r}: {record['images_per_s']:,.0f} img/s"
                f"{against(record['images_per_s'], TARGETS['jpeg_files_img_s'])}"
            )

        guarded(out, f"decode_{decode}", run)
    if len(results) == 2:
        out["fc7_gpu_vs_cpu_decode"] = cosines(results["gpu"], results["cpu"])
        say(f"  fc7 decode='gpu' vs 'cpu': cosine min {out['fc7_gpu_vs_cpu_decode']['fc7_cosine_min']:.6f}")
    decode_device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    guarded(out, "decode_only", lambda: _decode_only(ctx, out, paths, decode_device))
    guarded(out, "decoder_pixels_vs_pil", lambda: _decoder_pixels(ctx, out, paths, decode_device))
    return out


def _decode_only(ctx, out, paths, decode_device):
    """Decoding alone, to see which side limits the end-to-end rate."""
    from concurrent.futures import ThreadPoolExecutor

    from torchvision.io import ImageReadMode, decode_jpeg

    from skvgg._pipeline.plan import ViewPlan
    from skvgg._pipeline.views import tensor_views
    from skvgg.images import load_rgb

    encoded = [torch.frombuffer(bytearray(Path(p).read_bytes()), dtype=torch.uint8) for p in paths[:256]]
    decode_jpeg(encoded[:8], mode=ImageReadMode.RGB, device=decode_device)
    ctx.clock.sync()
    t0 = time.perf_counter()
    decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=decode_device)
    ctx.clock.sync()
    out["decode_only_nvjpeg_batch_256_img_s" if ctx.device.type == "cuda" else "decode_only_torchvision_cpu_img_s"] = len(
        encoded
    ) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    plan = ViewPlan.single(ctx.pre.resize_size, ctx.pre.crop_size)
    views = [tensor_views(image[None], plan.layouts(*image.shape[-2:])[0]) for image in decoded]
    ctx.clock.sync()
    out["resize_crop_only_img_s"] = len(views) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(ctx.cores) as pool:
        list(pool.map(load_rgb, paths[:256]))
    out["pil_decode_only_threads_img_s"] = 256 / (time.perf_counter() - t0)
    say(
        "  decode only: device "
        f"{out.get('decode_only_nvjpeg_batch_256_img_s', out.get('decode_only_torchvision_cpu_img_s')):,.0f} img/s, "
        f"GPU-path resize+crop {out['resize_crop_only_img_s']:,.0f} img/s, PIL on {ctx.cores} threads "
        f"{out['pil_decode_only_threads_img_s']:,.0f} img/s"
    )


def _decoder_pixels(ctx, out, paths, decode_device):
    """The device decoder's pixels against PIL's, before resizing and as final views."""
    from torchvision.io import ImageReadMode, decode_jpeg

    from skvgg._pipeline import gpudecode
    from skvgg._pipeline.batches import plan_groups
    from skvgg._pipeline.plan import ViewPlan
    from skvgg._pipeline.views import tensor_views
    from skvgg.images import load_rgb, orient_tensor

    plan = ViewPlan.single(ctx.pre.resize_size, ctx.pre.crop_size)
    worst, means, view_worst = 0, [], 0
    for path in paths[: ctx.p["pixel_files"]]:
        data = torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)
        header = gpudecode.read_jpeg_header(bytes(data.numpy()))
        image = orient_tensor(decode_jpeg([data], mode=ImageReadMode.RGB, device=decode_device)[0], header.orientation)
        reference = load_rgb(path)
        pil = torch.from_numpy(np.asarray(reference).copy()).permute(2, 0, 1)
        difference = (image.cpu().int() - pil.int()).abs()
        worst, means = max(worst, int(difference.max())), means + [float(difference.float().mean())]
        mine = tensor_views(image[None], plan.layouts(*image.shape[-2:])[0])[0].cpu().int()
        theirs = plan_groups(plan, reference)[0].views[0].int()
        view_worst = max(view_worst, int((mine - theirs).abs().max()))
    out["decoder_pixels_vs_pil"] = {
        "files": len(means), "max_abs_difference": worst, "mean_abs_difference": float(np.mean(means)),
        "final_view_max_abs_difference": view_worst,
    }  # fmt: skip
    say(f"  decoded pixels vs PIL: max |diff| {worst}, mean {np.mean(means):.3f}; final views max |diff| {view_worst}")


def section_dense(ctx: Context, deadline: float) -> dict:
    scales = ctx.p["dense_scales"]
    paths = ctx.ensure_jpegs(max(ctx.p["n_jpegs"], 8))
    out = {"scales": list(scales), "flip": True}
    for decode in ("cpu", "gpu"):
        left = max(deadline - time.perf_counter(), 2 if ctx.args.quick else 0)
        if left < 2:
            out[f"decode_{decode}"] = "skipped: section time limit"
            continue

        def run(decode=decode, left=left):
            featurizer = ctx.featurizer(scales=scales, flip=True, batch_size=ctx.p["dense_batch"], decode=decode).fit()
            warm = ctx.p["dense_warmup"]
            seconds, _ = _timed_transform(featurizer, paths[:warm])  # warm-up: one cuDNN set-up per shape
            # As many images as fit in ~40% of what is left, judged by the warm-up rate (conservative).
            n = int(min(len(paths) - warm, max(warm, 0.4 * left * warm / max(seconds, 1e-3))))
            seconds, _ = _timed_transform(featurizer, paths[warm : warm + n])
            out[f"decode_{decode}"] = {"images": n, "seconds": seconds, "images_per_s": n / seconds}
            say(f"  dense {scales} + flip, decode={decode!r}: {n / seconds:,.1f} img/s ({n} images)")

        guarded(out, f"decode_{decode}", run)
    return out


def section_finetune(ctx: Context, deadline: float) -> dict:
    from skvgg import VGGClassifier

    n = ctx.p["n_finetune"]
    paths = ctx.ensure_jpegs(max(n, ctx.p["n_jpegs"]))[:n]
    labels = np.arange(n) % 10
    out = {"images": n, "batch_size": ctx.p["finetune_batch"], "classes": 10}
    # (an epoch makes at least 10 SGD steps: the quick run's 10 images go one at a time)
    # --quick exercises the section, one epoch each (10 SGD steps of VGG11 take ~10 s on 2 CPU cores).
    for layers, epochs in (("all", 1 if ctx.args.quick else 2), ("classifier", 1 if ctx.args.quick else 3)):
        if ctx.past(deadline):
            out[layers] = "skipped: section time limit"
            continue

        def run(layers=layers, epochs=epochs):
            clf = VGGClassifier(
                arch=ctx.p["arch"], weights=None, train_layers=layers, max_epochs=epochs, batch_size=ctx.p["finetune_batch"],
                validation_fraction=None, early_stopping=False, lr=1e-4, device=str(ctx.device), num_workers=ctx.cores,
                preprocessing=ctx.pre, random_state=0,
            )  # fmt: skip
            clf.fit(paths, labels)
            times = [h["time"] for h in clf.history_]
            out[layers] = {
                "epoch_seconds": times, "images_per_s_last_epoch": n / times[-1], "images_per_s_first_epoch": n / times[0],
                "losses": [h["train_loss"] for h in clf.history_],
            }  # fmt: skip
            say(
                f"  fine-tuning train_layers={layers!r}: {n / times[-1]:,.0f} img/s (epoch {len(times)}), "
                f"{n / times[0]:,.0f} img/s (epoch 1, incl. warm-up{' and the frozen pass' if layers != 'all' else ''})"
            )

        guarded(out, layers, run)
        free_memory()
    return out


def _stub_pytest():
    """Enough of pytest for tests/test_cuda.py where pytest is not installed."""

    class Skipped(Exception):
        pass

    class Mark:
        def __getattr__(self, name):
            def factory(*args, **kwargs):
                if len(args) == 1 and callable(args[0]) and not kwargs:
                    return args[0]
                return lambda fn: fn

            return factory

    module = types.ModuleType("pytest")
    module.mark = Mark()
    module.Skipped = Skipped

    def skip(reason=""):
        raise Skipped(reason)

    module.skip = skip
    module.fixture = lambda *a, **k: a[0] if a and callable(a[0]) else (lambda fn: fn)
    return module


def mini_pytest(path: str) -> dict:
    """Run every ``test_*`` function of ``path`` (fixtures: tmp_path, vgg11_file); print a JSON summary."""
    sys.modules.setdefault("pytest", _stub_pytest())
    stub = sys.modules["pytest"]
    spec = importlib.util.spec_from_file_location("cuda_tests_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results, weights = {}, None
    for name in sorted(n for n in dir(module) if n.startswith("test_")):
        fn = getattr(module, name)
        kwargs = {}
        params = fn.__code__.co_varnames[: fn.__code__.co_argcount]
        try:
            if not torch.cuda.is_available():
                raise stub.Skipped("needs a CUDA device")
            for param in params:
                if param == "tmp_path":
                    kwargs[param] = Path(tempfile.mkdtemp(prefix="skvgg-test-"))
                elif param == "vgg11_file":
                    if weights is None:
                        torch.manual_seed(0)
                        weights = Path(tempfile.mkdtemp(prefix="skvgg-weights-")) / "vgg11-random.pth"
                        torch.save(torchvision.models.vgg11().state_dict(), weights)
                    kwargs[param] = weights
            started = time.perf_counter()
            fn(**kwargs)
            results[name] = {"outcome": "passed", "seconds": round(time.perf_counter() - started, 2)}
        except stub.Skipped as skipped:
            results[name] = {"outcome": "skipped", "reason": str(skipped)}
        except Exception:  # noqa: BLE001
            results[name] = {"outcome": "failed", "traceback": traceback.format_exc()[-3000:]}
        print(f"{name}: {results[name]['outcome']}", flush=True)
    counts = {}
    for r in results.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = {"runner": "benchmarks/gpu.py minimal runner (pytest not installed)", "counts": counts, "tests": results}
    print("MINI-PYTEST-JSON " + json.dumps(summary), flush=True)
    return summary


def section_cuda_tests(ctx: Context, deadline: float) -> dict:
    free_memory(networks=True)
    timeout = max(5, deadline - time.perf_counter())
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    test_file = str(ROOT / "tests" / "test_cuda.py")
    if importlib.util.find_spec("pytest") is not None:
        command = [sys.executable, "-m", "pytest", "-m", "cuda", test_file, "-q", "-p", "no:cacheprovider", "-rfEs"]
        command.append("--durations=5")
        runner = "pytest"
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--mini-pytest", test_file]
        runner = "minimal runner (pytest not installed)"
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(ROOT))
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        output += f"\n[killed after {timeout:.0f} s]"
        code = "timeout"
    out = {"runner": runner, "returncode": code, "seconds": time.perf_counter() - started, "output_tail": output[-8000:]}
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", line)]
    if summary:
        out["summary"] = summary[-1].strip("= ")
    mini = [line for line in output.splitlines() if line.startswith("MINI-PYTEST-JSON ")]
    if mini:
        parsed = json.loads(mini[-1][len("MINI-PYTEST-JSON ") :])
        out["summary"] = parsed["counts"]
        out["tests"] = parsed["tests"]
    say(f"  {runner}: {out.get('summary', 'no summary')} (exit {code}, {out['seconds']:.0f} s)")
    return out


def compile_child(args) -> None:
    """In a subprocess: torch.compile the fc7 network, time compilation and throughput, print JSON."""
    from skvgg import Preprocessing
    from skvgg._pipeline.runtime import autocast, resolve_precision

    ctx = Context(args)
    device, size, batch = ctx.device, ctx.p["size"], max(ctx.p["raw_batches"])
    dtype = resolve_precision("auto", device)
    pre = Preprocessing()
    network = _network(ctx).to(device, memory_format=torch.channels_last)

    class Fc7(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, x):
            x = pre.normalize(x).contiguous(memory_format=torch.channels_last)
            with autocast(device, dtype):
                return self.network.extract(x, "fc7")["fc7"]

    compiled = torch.compile(Fc7(), mode=args.compile_mode)
    x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
    started = time.perf_counter()
    with torch.inference_mode():
        compiled(x)
        ctx.clock.sync()
        compile_seconds = time.perf_counter() - started
        measured = rate(ctx.clock, lambda: compiled(x), batch, time.perf_counter() + 60, 6 if not args.quick else 1)
    result = {"mode": args.compile_mode, "batch": batch, "compile_seconds": compile_seconds, **measured}
    print("COMPILE-JSON " + json.dumps(result))


def section_compile(ctx: Context, deadline: float) -> dict:
    free_memory(networks=True)
    timeout = max(5, deadline - time.perf_counter())
    command = [sys.executable, str(Path(__file__).resolve()), "--compile-child", "--device", str(ctx.device)]
    command += ["--compile-mode", ctx.args.compile_mode] + (["--quick"] if ctx.args.quick else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        say(f"  torch.compile (mode {ctx.args.compile_mode!r}): not done within {timeout:.0f} s; killed")
        message = f"torch.compile (mode {ctx.args.compile_mode!r}) not done within {timeout:.0f} s; child killed"
        raise TimeoutError(message) from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("COMPILE-JSON ")]
    if not lines:
        raise RuntimeError(f"compile child exited {done.returncode}: {(done.stdout + done.stderr)[-4000:]}")
    out = json.loads(lines[-1][len("COMPILE-JSON ") :])
    out["wall_seconds"] = time.perf_counter() - started
    say(
        f"  torch.compile mode {out['mode']!r}, batch {out['batch']}: {out['images_per_s']:,.0f} img/s (input on device), "
        f"compiled in {out['compile_seconds']:.0f} s{against(out['images_per_s'], TARGETS['uint8_tensors_img_s'])}"
    )
    return out


# --- the driver -------------------------------------------------------------------------------


class Report:
    def __init__(self, path: Path, args):
        self.path = path
        self.data = {
            "benchmark": "benchmarks/gpu.py", "issue": 12, "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "time_budget_s": args.time_budget, "targets": TARGETS, "sections": {},
        }  # fmt: skip
        self.lock = threading.Lock()

    def record(self, name, entry):
        with self.lock:
            self.data["sections"][name] = jsonable(entry)
            self.data["elapsed_s"] = round(time.perf_counter() - STARTED, 1)
            self.save()

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(self.path.suffix + ".partial")
        partial.write_text(json.dumps(self.data, indent=2))
        os.replace(partial, self.path)


class Watchdog(threading.Thread):
    """Ends the process (JSON saved) if a section overruns its hard limit: GPU calls cannot be interrupted."""

    def __init__(self, report: Report):
        super().__init__(daemon=True)
        self.report, self.current = report, None

    def arm(self, name, hard_deadline):
        self.current = (name, hard_deadline)

    def disarm(self):
        self.current = None

    def run(self):
        while True:
            time.sleep(1)
            current = self.current
            if current is not None and time.perf_counter() > current[1]:
                name = current[0]
                say(f"!! section {name!r} overran its hard limit; ending the run (JSON kept)")
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                error = "hard time limit exceeded; process ended by the watchdog"
                self.report.record(name, {"status": "timeout", "error": error})
                os._exit(3)


def default_out(device: torch.device) -> Path:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu-" + cpu_model_and_flags()[0]
    return ROOT / "benchmarks" / "results" / f"gpu-{slug(name)}-{datetime.date.today().isoformat()}.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (VGG11, 64 px) to exercise every section on a CPU")
    parser.add_argument("--time-budget", type=float, help="seconds for the whole run (default 240; 75 with --quick)")
    parser.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/gpu-<card>-<date>.json)")
    parser.add_argument("--only", nargs="+", choices=[name for name, _, _ in SECTIONS], help="run only these sections")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode (e.g. max-autotune-no-cudagraphs)")
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mini-pytest", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_budget is None:
        args.time_budget = 75.0 if args.quick else 240.0
    if args.mini_pytest:
        mini_pytest(args.mini_pytest)
        return 0
    if args.compile_child:
        compile_child(args)
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available; use --device cpu --quick")

    ctx = Context(args)
    chosen = [s for s in SECTIONS if not args.only or s[0] in args.only]
    if {"jpeg_files", "dense", "finetune"} & {name for name, _, _ in chosen}:
        # Worker processes are forked before this process touches the GPU.
        try:
            n = max(ctx.p["n_jpegs"], ctx.p["n_finetune"])
            ctx.ensure_jpegs(n, processes=min(ctx.cores, 16))
            say(f"{n} JPEG files generated in {ctx.jpeg_seconds:.1f} s ({min(ctx.cores, 16)} processes)")
        except Exception as error:  # noqa: BLE001 - the sections retry in this process
            say(f"JPEG generation failed ({type(error).__name__}: {error}); sections will generate in-process")
    report = Report(args.out or default_out(ctx.device), args)
    quick = " (quick)" if args.quick else ""
    say(f"benchmarks/gpu.py: device {ctx.device}, budget {args.time_budget:.0f} s{quick} -> {report.path}")
    watchdog = Watchdog(report)
    watchdog.start()
    scale = args.time_budget / 240.0
    functions = {name: globals()[f"section_{name}"] for name, _, _ in SECTIONS}
    try:
        for position, (name, share, minimum) in enumerate(chosen):
            left = args.time_budget - (time.perf_counter() - STARTED)
            reserve = sum(m * scale for _, _, m in chosen[position + 1 :])
            limit = min(share * scale, left - reserve) if position < len(chosen) - 1 else left
            if args.quick:  # every section runs, however slow this machine is today
                limit = max(limit, minimum * scale, 10)
            elif limit < minimum * scale or left <= 0:
                say(f"[{name}] skipped: {max(left, 0):.0f} s left of the budget")
                reason = f"time budget: {max(left, 0):.0f} s left, {limit:.0f} s for it"
                report.record(name, {"status": "skipped", "reason": reason})
                continue
            say(f"[{name}] (limit {limit:.0f} s)")
            started = time.perf_counter()
            watchdog.arm(name, started + 1.5 * limit + 30)
            try:
                results = functions[name](ctx, started + limit)
                entry = {"status": "ok", "results": results}
            except Exception as error:  # noqa: BLE001 - every section is isolated
                entry = {"status": "error", "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
                say(f"  ERROR {entry['error']}")
            finally:
                watchdog.disarm()
            entry["seconds"] = round(time.perf_counter() - started, 1)
            entry["limit_s"] = round(limit, 1)
            report.record(name, entry)
            free_memory()
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    try:
        summary = summarise(report.data)
    except Exception as error:  # noqa: BLE001 - the sections' JSON is already written
        summary = {"error": f"{type(error).__name__}: {error}"}
    report.data["summary"] = summary
    report.save()
    say("\nsummary (targets for one H100):")
    for key, value in summary.items():
        say(f"  {key}: {value}")
    say(f"written: {report.path}  ({time.perf_counter() - STARTED:.0f} s)")
    return 0


def summarise(data) -> dict:
    sections = data["sections"]

    def get(*keys):
        value = sections
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    eager = get("raw", "results", "eager") or {}
    from_host = [v["from_pinned_uint8"]["images_per_s"] for v in eager.values() if "from_pinned_uint8" in v]
    compiled = get("compile", "results", "images_per_s")
    runs = (get("featurizer_tensors", "results") or {}).values()
    tensors = [v["images_per_s"] for v in runs if isinstance(v, dict) and v.get("images_per_s")]
    summary = {
        "card": get("environment", "results", "card"),
        "raw_fc7_from_pinned_uint8_img_s (>= 12000)": max(from_host) if from_host else None,
        "raw_fc7_compiled_input_on_device_img_s": compiled,
        "featurizer_from_uint8_tensors_img_s (>= 12000)": max(tensors, default=None),
        "featurizer_from_uint8_tensors_vs_raw_compiled (>= 0.9)": max(tensors) / compiled if tensors and compiled else None,
        "featurizer_from_jpeg_decode_cpu_img_s": get("jpeg_files", "results", "decode_cpu", "images_per_s"),
        "featurizer_from_jpeg_decode_gpu_img_s (>= 8000)": get("jpeg_files", "results", "decode_gpu", "images_per_s"),
        "fc7_cosine_bfloat16_min (>= 0.999)": get("agreement", "results", "precision", "bfloat16", "fc7_cosine_min"),
        "fc7_cosine_float16_min (>= 0.999)": get("agreement", "results", "precision", "float16", "fc7_cosine_min"),
        "fc7_cosine_gpu_vs_cpu_decode_min": get("jpeg_files", "results", "fc7_gpu_vs_cpu_decode", "fc7_cosine_min"),
        "dense_img_s": get("dense", "results", "decode_cpu", "images_per_s"),
        "finetune_all_img_s": get("finetune", "results", "all", "images_per_s_last_epoch"),
        "cuda_tests": get("cuda_tests", "results", "summary"),
        "sections_not_ok": [name for name, s in sections.items() if s.get("status") != "ok"],
    }
    return jsonable(summary)


if __name__ == "__main__":
    faulthandler.enable()
    sys.exit(main())
