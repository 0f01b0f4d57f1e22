"""VGGFeaturizer speed and memory, as ratios against baselines measured in the same run.

    python benchmarks/featurizer_speed.py            # all four measurements (~10 min on 2 CPU cores)
    python benchmarks/featurizer_speed.py --only grid --images 24

1. end-to-end   VGG16 fc7, default view, from JPEG files: the featurizer against
                (a) the loop a user writes by hand: torchvision's vgg16 in eager mode,
                    PIL preprocessing image by image, batch 1, and
                (b) the raw forward pass of the same network on ready tensors at the
                    featurizer's batch size.
                Targets: >= 1.3x (a) and >= 0.9x (b) in images/s.
2. grid         GridSearchCV(3 values of C, cv=3) over featurizer(cache=True) ->
                Normalizer -> LinearSVC, against one featurization pass. Target <= 1.5x.
3. dense        scales=(256, 384, 512), flip=True, against the sum of the same dense
                forward passes (3 scales x image and mirror) on ready tensors. Target <= 1.2x.
4. memory       peak RSS featurizing N and 10N images (separate processes). Target:
                growth <= output array + 200 MB.

Weights are random (speed does not depend on their values): no download needed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from sklearn.datasets import load_sample_images

from skvgg import Preprocessing, VGGFeaturizer, clear_memory_cache, clear_network_cache


def make_jpegs(directory: Path, n: int, size=(500, 375), seed=0) -> list[str]:
    """Photo-like JPEGs: random crops of scikit-learn's two sample photos."""
    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    paths = []
    for i in range(n):
        photo = photos[i % 2]
        h, w = photo.shape[:2]
        ch, cw = rng.integers(h // 2, h), rng.integers(w // 2, w)
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = Image.fromarray(photo[top : top + ch, left : left + cw]).resize(size, Image.BILINEAR)
        path = directory / f"img{i:04d}.jpg"
        crop.save(path, quality=90)
        paths.append(str(path))
    return paths


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def torchvision_vgg16(seed=0):
    torch.manual_seed(seed)
    return torchvision.models.vgg16().eval()


def fc7(model, x):
    return model.classifier[:5](torch.flatten(model.avgpool(model.features(x)), 1))


def bench_end_to_end(paths, batch_size):
    model = torchvision_vgg16()
    # float32, as the hand loop and the raw forward pass (precision="auto" is bfloat16 on CPUs with native bf16).
    featurizer = VGGFeaturizer(weights=model.state_dict(), batch_size=batch_size, device="cpu", precision="float32").fit(paths)
    transform = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()
    featurizer.transform(paths[:2])  # warm-up (oneDNN primitive creation)

    def hand_loop():
        rows = []
        with torch.no_grad():
            for path in paths:
                x = transform(Image.open(path).convert("RGB"))[None]
                rows.append(fc7(model, x).numpy())
        return np.vstack(rows)

    ready = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])

    def raw_forward():
        with torch.inference_mode():
            return np.vstack([fc7(model, ready[i : i + batch_size]).numpy() for i in range(0, len(ready), batch_size)])

    bf16 = VGGFeaturizer(weights=model.state_dict(), batch_size=batch_size, device="cpu", precision="bfloat16").fit()
    bf16.transform(paths[:2])

    t_loop, loop_out = timed(hand_loop)
    t_raw, _ = timed(raw_forward)
    t_ours, ours = timed(lambda: featurizer.transform(paths))
    t_bf16, ours_bf16 = timed(lambda: bf16.transform(paths))
    assert np.allclose(ours, loop_out, rtol=1e-3, atol=1e-4), "featurizer and hand loop disagree"
    deviation = np.abs(ours_bf16 - loop_out).max() / np.abs(loop_out).max()
    n = len(paths)
    print(f"[end-to-end] {n} JPEGs, VGG16 fc7, batch {batch_size}")
    print(f"  hand loop (eager, PIL, batch 1): {n / t_loop:6.2f} img/s")
    print(f"  raw forward on ready tensors:    {n / t_raw:6.2f} img/s")
    print(f"  VGGFeaturizer from JPEG files:   {n / t_ours:6.2f} img/s  (precision='float32')")
    print(f"  ratio vs hand loop:   {t_loop / t_ours:.2f}x  (target >= 1.3)")
    print(f"  ratio vs raw forward: {t_raw / t_ours:.2f}x  (target >= 0.9)")
    print(
        f"  VGGFeaturizer, precision='bfloat16': {n / t_bf16:6.2f} img/s, {t_loop / t_bf16:.2f}x the hand loop "
        f"(largest fc7 deviation {100 * deviation:.1f}% of the largest value)"
    )


def bench_grid(paths, batch_size):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer
    from sklearn.svm import LinearSVC

    labels = np.arange(len(paths)) % 2
    params = dict(weights=None, random_state=0, batch_size=batch_size, device="cpu")
    VGGFeaturizer(**params).fit(paths).transform(paths[:2])  # load and warm up outside both timings
    t_pass, _ = timed(lambda: VGGFeaturizer(**params).fit(paths).transform(paths))
    clear_memory_cache()
    pipe = Pipeline([("vgg", VGGFeaturizer(cache=True, **params)), ("norm", Normalizer()), ("svm", LinearSVC())])
    grid = GridSearchCV(pipe, {"svm__C": [0.1, 1.0, 10.0]}, cv=3)
    t_grid, _ = timed(lambda: grid.fit(paths, labels))
    print(f"[grid] {len(paths)} JPEGs, 3 values of C x cv=3 (+ refit), featurizer cache=True")
    print(f"  one featurization pass: {t_pass:6.1f} s")
    print(f"  GridSearchCV:           {t_grid:6.1f} s")
    print(f"  ratio: {t_grid / t_pass:.2f}x  (target <= 1.5)")


def bench_dense(paths):
    from skvgg._pipeline.views import dense_view  # the package's own dense views (end-to-end needs only the public API)

    scales = (256, 384, 512)
    model = torchvision_vgg16()
    featurizer = VGGFeaturizer(weights=model.state_dict(), scales=scales, flip=True, batch_size=2, device="cpu").fit(paths)
    network = featurizer._get_network()
    pre = Preprocessing()
    ready = []
    for p in paths:
        image = Image.open(p).convert("RGB")
        ready.extend(pre.normalize(torch.stack(dense_view(image, q, mirror=True))) for q in scales)

    def forward_passes():
        with torch.inference_mode():
            for x in ready:  # each: an image and its mirror at one scale
                network.extract(x.contiguous(memory_format=torch.channels_last), "fc7", dense=True)

    forward_passes()  # warm-up
    t_raw, _ = timed(forward_passes)
    t_ours, _ = timed(lambda: featurizer.transform(paths))
    n = len(paths)
    print(f"[dense] {n} JPEGs, VGG16 fc7, scales={scales}, flip=True")
    print(f"  sum of dense forward passes on ready tensors: {t_raw / n:6.2f} s/img")
    print(f"  VGGFeaturizer from JPEG files:                {t_ours / n:6.2f} s/img")
    print(f"  ratio: {t_ours / t_raw:.2f}x  (target <= 1.2)")


def _memory_child(directory: str, n: int, batch_size: int) -> None:
    import resource

    paths = make_jpegs(Path(directory), n, size=(320, 240), seed=n)
    featurizer = VGGFeaturizer(arch="vgg16", weights=None, random_state=0, batch_size=batch_size, device="cpu")
    out = featurizer.fit(paths).transform(paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"n": n, "peak": peak, "out_bytes": out.nbytes}))


def bench_memory(n, batch_size):
    results = []
    for count in (n, 10 * n):
        with tempfile.TemporaryDirectory() as directory:
            here = str(Path(__file__).parent)
            code = f"import sys; sys.path.insert(0, {here!r}); import featurizer_speed as b; "
            code += f"b._memory_child({directory!r}, {count}, {batch_size})"
            line = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
            results.append(json.loads(line.strip().splitlines()[-1]))
    small, large = results
    growth = large["peak"] - small["peak"]
    allowed = large["out_bytes"] + 200 * 2**20
    print(f"[memory] VGG16 fc7, batch {batch_size}: {small['n']} vs {large['n']} images")
    print(f"  peak RSS: {small['peak'] / 2**20:7.0f} MiB vs {large['peak'] / 2**20:7.0f} MiB")
    print(f"  growth {growth / 2**20:.0f} MiB; allowed: output {large['out_bytes'] / 2**20:.1f} MiB + 200 MiB")
    print(f"  ratio growth/allowed: {growth / allowed:.2f}  (target <= 1.0)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["end-to-end", "grid", "dense", "memory"], action="append")
    parser.add_argument("--images", type=int, default=16, help="images for end-to-end and grid")
    parser.add_argument("--dense-images", type=int, default=3)
    parser.add_argument("--memory-images", type=int, default=16, help="N of the N vs 10N memory run (>= batch size)")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    chosen = args.only or ["end-to-end", "grid", "dense", "memory"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as directory:
        paths = make_jpegs(Path(directory), max(args.images, args.dense_images))
        if "end-to-end" in chosen:
            bench_end_to_end(paths[: args.images], args.batch_size)
        if "grid" in chosen:
            clear_network_cache()
            bench_grid(paths[: args.images], args.batch_size)
        if "dense" in chosen:
            clear_network_cache()
            bench_dense(paths[: args.dense_images])
    if "memory" in chosen:
        bench_memory(args.memory_images, args.batch_size)


if __name__ == "__main__":
    main()
