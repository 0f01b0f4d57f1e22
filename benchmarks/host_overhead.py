"""The pipeline's own cost on the host: VGGFeaturizer against the same computation done by hand (issue 17).

    python benchmarks/host_overhead.py           # ~5 min on 2 shared cores
    python benchmarks/host_overhead.py --quick   # a check that every path runs

The network is cut to a cheap layer (VGG11's ``pool1``, average-pooled to 64 numbers) on
small inputs (32 px views), so what is measured is the pipeline around it. Each row times
the featurizer and, on the same inputs with the same batch size and threads, the same
computation written by hand:

* a 4-D uint8 torch tensor ``(N, 3, 32, 32)`` and a 4-D uint8 numpy array ``(N, 32, 32, 3)``
  against a loop over slices: normalise, run the layers, pool (the images already have
  the view's size, so the featurizer cuts slices: no PIL, no per-image tensor);
* the same array as a list of per-image arrays (the per-image path; for reference);
* JPEG files (80x60, resized to 40 and centre-cropped to 32) against a bare thread pool
  (``concurrent.futures``, the same number of threads) that decodes, resizes and crops
  each file with PIL/torchvision, then the same batched network loop.

Hand and featurizer runs alternate, ``--repeats`` times each, and the median is kept:
the machine may be shared, and ratios within one run are what count. Prints the CPU
model and flags; writes ``benchmarks/results/host_overhead-<date>-<cpu>.{json,log}``.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

sys.path.insert(0, str(Path(__file__).parent))
from cpu_speed import Report  # noqa: E402

from skvgg import Preprocessing, VGGFeaturizer  # noqa: E402

LAYER = "pool1"


def hand_network(network, pre: Preprocessing):
    """The by-hand computation on a uint8 NCHW batch: normalise, the layers, average pooling."""

    def run(pixels: torch.Tensor) -> np.ndarray:
        x = pre.normalize(pixels).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return network.extract(x, [LAYER])[LAYER].float().mean(dim=(2, 3)).numpy()

    return run


def make_jpegs(directory: Path, n: int, size=(80, 60)) -> list[str]:
    rng = np.random.default_rng(0)
    smooth = torch.nn.functional.interpolate(torch.rand(n, 3, size[1] // 4, size[0] // 4) * 255, size=size[::-1], mode="bilinear")
    pixels = (smooth + torch.from_numpy(rng.normal(0, 8, (n, 3, size[1], size[0]))).float()).round().clamp(0, 255)
    paths = []
    for i in range(n):
        path = directory / f"img{i:05d}.jpg"
        Image.fromarray(pixels[i].permute(1, 2, 0).to(torch.uint8).numpy()).save(path, quality=90)
        paths.append(str(path))
    return paths


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few images, one repeat")
    parser.add_argument("--images", type=int, default=None, help="4-D batch size N (default 4096; quick: 512)")
    parser.add_argument("--files", type=int, default=None, help="JPEG files (default 512; quick: 64)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="decoding threads, for both sides")
    parser.add_argument("--repeats", type=int, default=None, help="alternating runs of each side (default 3; quick: 1)")
    args = parser.parse_args()
    n = args.images or (512 if args.quick else 4096)
    n_files = args.files or (64 if args.quick else 512)
    repeats = args.repeats or (1 if args.quick else 3)
    bs = args.batch_size
    report = Report()
    flags, say = report.flags, report.say
    say(f"torch {torch.__version__}, torchvision {torchvision.__version__}; vgg11 cut at {LAYER}, batch {bs}")
    rows = []

    def row(name, n_images, t_hand, t_featurizer, agree):
        ratio = t_hand / t_featurizer
        rows.append({
            "input": name, "images": n_images, "hand_s": t_hand, "featurizer_s": t_featurizer,
            "hand_images_per_s": n_images / t_hand, "featurizer_images_per_s": n_images / t_featurizer,
            "ratio": ratio, "max_abs_difference": agree,
        })  # fmt: skip
        say(f"{name:<34} hand {n_images / t_hand:>9.0f} img/s   featurizer {n_images / t_featurizer:>9.0f} img/s   "
            f"ratio {ratio:.2f}x   max |diff| {agree:.2e}")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        weights = Path(tmp) / "vgg11.pth"
        torch.save(torchvision.models.vgg11().state_dict(), weights)
        pre = Preprocessing(resize_size=32, crop_size=32)
        common = dict(arch="vgg11", weights=str(weights), layer=LAYER, device="cpu", precision="float32", compile=False)
        featurizer = VGGFeaturizer(**common, preprocessing=pre, batch_size=bs, num_workers=args.workers).fit()
        run = hand_network(featurizer._get_network(), pre)

        rng = np.random.default_rng(0)
        nhwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()

        def by_hand_tensor():
            out = np.empty((n, 64), np.float32)
            for start in range(0, n, bs):
                out[start : start + bs] = run(nchw[start : start + bs])
            return out

        def by_hand_numpy():
            out = np.empty((n, 64), np.float32)
            for start in range(0, n, bs):
                out[start : start + bs] = run(torch.from_numpy(nhwc[start : start + bs]).permute(0, 3, 1, 2))
            return out

        featurizer.transform(nchw[:bs])  # warm-up: oneDNN primitives, buffers
        by_hand_tensor()
        for name, hand, X in [
            ("4-D uint8 torch tensor (NCHW)", by_hand_tensor, nchw),
            ("4-D uint8 numpy array (NHWC)", by_hand_numpy, nhwc),
        ]:
            t_hand, t_feat = [], []
            for _ in range(repeats):
                t, expected = median_seconds(hand, 1)
                t_hand.append(t)
                t, got = median_seconds(lambda X=X: featurizer.transform(X), 1)
                t_feat.append(t)
            row(name, n, statistics.median(t_hand), statistics.median(t_feat), float(np.abs(got - expected).max()))
        few = max(bs, n // 8)  # the per-image path is slow: a slice of the batch
        t_list, got = median_seconds(lambda: featurizer.transform(list(nhwc[:few])), 1)
        t_hand_few, expected = median_seconds(lambda: by_hand_numpy()[:few], 1)
        row("list of arrays (per-image path)", few, t_hand_few * few / n, t_list, float(np.abs(got - expected[:few]).max()))

        paths = make_jpegs(Path(tmp), n_files)
        files_pre = Preprocessing(resize_size=40, crop_size=32)
        files_featurizer = VGGFeaturizer(**common, preprocessing=files_pre, batch_size=bs, num_workers=args.workers).fit()

        def view(path):
            with Image.open(path) as image:
                resized = TF.resize(image.convert("RGB"), 40, interpolation=InterpolationMode.BILINEAR, antialias=True)
            return TF.pil_to_tensor(TF.center_crop(resized, [32, 32]))

        def by_hand_files():
            out = np.empty((n_files, 64), np.float32)
            with ThreadPoolExecutor(args.workers) as pool:
                views = pool.map(view, paths)
                for start in range(0, n_files, bs):
                    batch = torch.stack([next(views) for _ in range(min(bs, n_files - start))])
                    out[start : start + len(batch)] = run(batch)
            return out

        files_featurizer.transform(paths[:bs])
        by_hand_files()
        t_hand, t_feat = [], []
        for _ in range(repeats):
            t, expected = median_seconds(by_hand_files, 1)
            t_hand.append(t)
            t, got = median_seconds(lambda: files_featurizer.transform(paths), 1)
            t_feat.append(t)
        row(f"JPEG files ({args.workers} threads)", n_files, statistics.median(t_hand), statistics.median(t_feat),
            float(np.abs(got - expected).max()))  # fmt: skip

    targets = {
        "4-D uint8 torch tensor (NCHW)": 0.8,
        "4-D uint8 numpy array (NHWC)": 0.8,
        f"JPEG files ({args.workers} threads)": 0.9,
    }
    for r in rows:
        if r["input"] in targets:
            r["target"] = targets[r["input"]]
            say(f"{r['input']}: {r['ratio']:.2f}x, target >= {r['target']}x: {'met' if r['ratio'] >= r['target'] else 'NOT met'}")
    result = {
        "date": datetime.date.today().isoformat(), "cpu": flags, "torch": torch.__version__, "layer": LAYER,
        "batch_size": bs, "workers": args.workers, "repeats": repeats, "rows": rows,
    }  # fmt: skip
    report.save("host_overhead", result, "-quick" if args.quick else "")


if __name__ == "__main__":
    main()
