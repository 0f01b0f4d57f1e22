"""The fc layers in eager CPU inference: torch's own kernels against skvgg.models._fast_fc (issue 19).

    python benchmarks/fc_layers.py                      # both parts (~5 min on 2 cores)
    python benchmarks/fc_layers.py --only layers        # the fc layers alone
    python benchmarks/before_after.py --before OLD --after . -- fc_layers.py --only featurizer

1. layers      VGG16's fc6 and fc7 (random weights, true sizes) on pool5 activations, each
               way timed in turns, best of --repeats:
               * standard form, float32: ``nn.Linear`` (MKL sgemm) against oneDNN's inner product;
               * dense form, float32: fc6 as a 7x7 convolution over pool5 maps of the dense
                 scales 256, 384 and 512 (8x8, 12x12, 16x16), against the map's windows as rows;
               * bfloat16 autocast: ``nn.Linear`` (weights cast on every call) against the
                 weights cast once.
               Prints seconds, the ratio and the largest difference relative to the largest value.
2. featurizer  VGGFeaturizer end to end from JPEG files, VGG16 fc7, float32 and bfloat16, the
               single centre view and dense scales (256, 384, 512) with flip. Prints
               ``NAME: VALUE img/s`` lines, which ``before_after.py`` compares across checkouts.

Weights are random (speed does not depend on their values). The CPU model and flags are
printed first; ``--save`` writes the JSON and log under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from cpu_speed import Report  # noqa: E402  (the benchmarks' one CPU description and results files)
from featurizer_speed import make_jpegs  # noqa: E402

DENSE_MAPS = {256: 8, 384: 12, 512: 16}  # dense scale -> side of the pool5 map of a square image


def best_of(repeats: int, ways: dict) -> dict:
    """Seconds of each callable, timed in turns (so that a change of load hits all alike), best of ``repeats``."""
    times = {name: [] for name in ways}
    for _ in range(repeats):
        for name, run in ways.items():
            run()  # warm: oneDNN primitives, caches
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: min(seconds) for name, seconds in times.items()}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return float((a - b).abs().max() / b.abs().max())


def layer_rows(batch_size: int, repeats: int, say) -> list[dict]:
    from skvgg.models._fast_fc import linear_inference, windows_inference

    torch.manual_seed(0)
    fc6, fc7 = torch.nn.Linear(25088, 4096), torch.nn.Linear(4096, 4096)
    kernel6 = fc6.weight.view(4096, 512, 7, 7)
    rows = []

    def compare(case: str, torch_way, skvgg_way):
        with torch.inference_mode():
            seconds = best_of(repeats, {"torch": torch_way, "skvgg": skvgg_way})
            difference = relative(skvgg_way(), torch_way())
        row = {"case": case, "torch_s": seconds["torch"], "skvgg_s": seconds["skvgg"], "max_rel_difference": difference}
        row["speedup"] = row["torch_s"] / row["skvgg_s"]
        rows.append(row)
        say(f"| {case} | {row['torch_s']:.4f} | {row['skvgg_s']:.4f} | {row['speedup']:.2f} | {difference:.1e} |")

    say("| case | torch (s) | skvgg (s) | speed-up | max difference (relative) |")
    say("|---|---|---|---|---|")
    for n in sorted({2, 8, batch_size}):
        pool5 = torch.relu(torch.randn(n, 25088))
        compare(
            f"float32 fc6+fc7, batch {n}: nn.Linear vs oneDNN inner product",
            lambda x=pool5: fc7(torch.relu(fc6(x))),
            lambda x=pool5: linear_inference(torch.relu(linear_inference(x, fc6)), fc7),
        )
    for scale, side in DENSE_MAPS.items():
        pool5 = torch.relu(torch.randn(2, 512, side, side)).contiguous(memory_format=torch.channels_last)
        compare(
            f"float32 dense fc6, scale {scale} and its mirror (pool5 {side}x{side}): 7x7 convolution vs windows as rows",
            lambda x=pool5: F.conv2d(x, kernel6, fc6.bias),
            lambda x=pool5: windows_inference(x, fc6, 7),
        )
    for n in sorted({2, batch_size}):
        pool5 = torch.relu(torch.randn(n, 25088))

        def autocast(run, x=pool5):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return run(x)

        compare(
            f"bfloat16 autocast fc6+fc7, batch {n}: cast per call vs cast once",
            lambda a=autocast: a(lambda x: fc7(torch.relu(fc6(x)))),
            lambda a=autocast: a(lambda x: linear_inference(torch.relu(linear_inference(x, fc6)), fc7)),
        )
    return rows


def featurizer_rates(images: int, dense_images: int, batch_size: int, say) -> dict:
    from skvgg import VGGFeaturizer

    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), max(images, dense_images))
        for precision in ("float32", "bfloat16"):
            for name, options, n in (
                ("single view", {}, images),
                ("dense scales (256, 384, 512) + flip", {"scales": (256, 384, 512), "flip": True}, dense_images),
            ):
                featurizer = VGGFeaturizer(
                    weights=None, random_state=0, device="cpu", precision=precision, batch_size=batch_size, **options
                ).fit()
                featurizer.transform(paths[:1])  # loads the network, creates oneDNN primitives
                start = time.perf_counter()
                featurizer.transform(paths[:n])
                label = f"{precision}, {name}"
                rates[label] = n / (time.perf_counter() - start)
                say(f"{label}: {rates[label]:.3f} img/s")
    return rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["layers", "featurizer"], help="one part only")
    parser.add_argument("--batch-size", type=int, default=32, help="the featurizer's default")
    parser.add_argument("--repeats", type=int, default=5, help="turns of the layer comparison (best of)")
    parser.add_argument("--images", type=int, default=16, help="images of the single-view featurizer runs")
    parser.add_argument("--dense-images", type=int, default=3, help="images of the dense featurizer runs")
    parser.add_argument("--save", action="store_true", help="write JSON and log under benchmarks/results/")
    args = parser.parse_args(argv)
    report = Report()
    flags, say = report.flags, report.say
    say(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    result = {"date": datetime.date.today().isoformat(), "cpu": flags, "torch": torch.__version__}
    if args.only in (None, "layers"):
        say("\nfc layers alone (VGG16 sizes, random weights)")
        result["layers"] = layer_rows(args.batch_size, args.repeats, say)
    if args.only in (None, "featurizer"):
        say("\nVGGFeaturizer end to end (VGG16 fc7, JPEG files)")
        result["featurizer_img_per_s"] = featurizer_rates(args.images, args.dense_images, args.batch_size, say)
    if args.save:
        report.save("fc_layers", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
