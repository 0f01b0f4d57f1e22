"""A crop of a bilinear resize: skvgg's exact region resampler against Pillow's ``resize(box=...)`` (issue 19).

    python benchmarks/resample_region.py

``skvgg._pipeline.resample.bilinear_region`` computes a crop of Pillow's whole bilinear resize
(torchvision's ``Resize``) without resizing the whole image, bit for bit equal to it. The
question: can Pillow's own ``Image.resize(size, box=...)`` replace it? Three ways of asking
Pillow for the same crop are compared with the crop of the whole resize, on scikit-learn's
two sample photos and random images of many sizes and aspect ratios, at shorter sides 256,
384, 512 (crop 224) and 40 (crop 32), four crops each (centre and three corners):

* ``pillow box``: one ``resize((w, h), BILINEAR, box=...)`` call on the whole image;
* ``pillow box, cropped source``: the same on the source pixels the crop needs (the box's
  coordinates, which Pillow holds as C floats, stay small);
* ``pillow box, two passes``: cropped source, one axis per call, in the order Pillow's whole
  resize takes (Pillow 13 resizes vertically first when the height shrinks by more than
  twice as many pixels as the width; one call decides from the box's size instead).

Each reports the crops with any difference, the fraction of differing values, the largest
difference (levels of 255) and the time. Results go to benchmarks/results/.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image
from sklearn.datasets import load_sample_images

from skvgg._pipeline.resample import bilinear_region, vertical_first
from skvgg._pipeline.views import rescaled_size

SETTINGS = [(256, 224), (384, 224), (512, 224), (40, 32)]


def images():
    rng = np.random.default_rng(11)
    for i, pixels in enumerate(load_sample_images().images):
        yield f"photo{i}", Image.fromarray(pixels)
    sizes = [(257, 999), (300, 224), (225, 10000), (999, 257), (224, 225), (1001, 1000), (640, 427), (17, 1300)]
    sizes += [(3000, 2000), (4000, 260), (6000, 40)]
    sizes += [tuple(int(v) for v in rng.integers(2, 900, 2)) for _ in range(12)]
    for w, h in sizes:
        yield f"{w}x{h}", Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def source_window(image, size, top, left, height, width):
    """Integer source box ``(x0, y0, x1, y1)`` holding every pixel the crop's filters reach."""
    (in_w, in_h), (out_w, out_h) = image.size, size
    sx, sy = in_w / out_w, in_h / out_h
    mx, my = math.ceil(max(sx, 1.0)) + 2, math.ceil(max(sy, 1.0)) + 2
    x0, x1 = left, left + width
    if out_w != in_w:
        x0, x1 = max(int(left * sx) - mx, 0), min(math.ceil((left + width) * sx) + mx, in_w)
    y0, y1 = top, top + height
    if out_h != in_h:
        y0, y1 = max(int(top * sy) - my, 0), min(math.ceil((top + height) * sy) + my, in_h)
    return x0, y0, x1, y1


def pillow_box(image, size, top, left, height, width):
    sx, sy = image.size[0] / size[0], image.size[1] / size[1]
    box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
    return np.asarray(image.resize((width, height), Image.BILINEAR, box=box, reducing_gap=None))


def pillow_box_cropped(image, size, top, left, height, width):
    sx, sy = image.size[0] / size[0], image.size[1] / size[1]
    x0, y0, x1, y1 = source_window(image, size, top, left, height, width)
    box = (left * sx - x0, top * sy - y0, (left + width) * sx - x0, (top + height) * sy - y0)
    return np.asarray(image.crop((x0, y0, x1, y1)).resize((width, height), Image.BILINEAR, box=box, reducing_gap=None))


def pillow_box_two_passes(image, size, top, left, height, width):
    (in_w, in_h), (out_w, out_h) = image.size, size
    sx, sy = in_w / out_w, in_h / out_h
    x0, y0, x1, y1 = source_window(image, size, top, left, height, width)
    part = image.crop((x0, y0, x1, y1))

    def horizontal(p):
        if out_w == in_w:
            return p
        return p.resize((width, p.height), Image.BILINEAR, box=(left * sx - x0, 0, (left + width) * sx - x0, p.height))

    def vertical(p):
        if out_h == in_h:
            return p
        return p.resize((p.width, height), Image.BILINEAR, box=(0, top * sy - y0, p.width, (top + height) * sy - y0))

    if vertical_first(in_w, in_h, out_w, out_h):
        return np.asarray(horizontal(vertical(part)))
    return np.asarray(vertical(horizontal(part)))


def main():
    log = io.StringIO()

    def say(text=""):
        print(text, flush=True)
        log.write(text + "\n")

    methods = {
        "skvgg bilinear_region (exact)": bilinear_region,
        "pillow box": pillow_box,
        "pillow box, cropped source": pillow_box_cropped,
        "pillow box, two passes": pillow_box_two_passes,
    }
    counts = ("crops", "crops_differing", "values", "values_differing", "max_difference")
    stats = {name: {**dict.fromkeys(counts, 0), "seconds": 0.0} for name in methods}
    whole_seconds = 0.0
    for _, image in images():
        for shorter, crop in SETTINGS:
            width, height = rescaled_size(*image.size, shorter)
            if crop > min(width, height):
                continue
            start = time.perf_counter()
            whole = np.asarray(image.resize((width, height), Image.BILINEAR)).astype(np.int16)
            whole_seconds += time.perf_counter() - start
            centre = (int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0)))
            for top, left in [centre, (0, 0), (height - crop, width - crop), (height - crop, 0)]:
                expected = whole[top : top + crop, left : left + crop]
                for name, method in methods.items():
                    start = time.perf_counter()
                    got = method(image, (width, height), top, left, crop, crop)
                    s = stats[name]
                    s["seconds"] += time.perf_counter() - start
                    difference = np.abs(got.astype(np.int16) - expected)
                    s["crops"] += 1
                    s["crops_differing"] += int(difference.any())
                    s["values"] += difference.size
                    s["values_differing"] += int((difference > 0).sum())
                    s["max_difference"] = max(s["max_difference"], int(difference.max()))
    stamp = datetime.date.today().isoformat()
    say(f"Pillow {PIL.__version__}, numpy {np.__version__}; {stats[next(iter(methods))]['crops']} crops")
    say(f"whole resizes (the reference, once per image and scale): {whole_seconds:.2f} s")
    say()
    say("| method | crops with a difference | values differing | max difference (levels) | seconds | x faster than exact |")
    say("|---|---|---|---|---|---|")
    exact = stats["skvgg bilinear_region (exact)"]["seconds"]
    for name, s in stats.items():
        share = 100 * s["values_differing"] / s["values"]
        say(
            f"| {name} | {s['crops_differing']} of {s['crops']} | {share:.4f} % | {s['max_difference']} | "
            f"{s['seconds']:.2f} | {exact / s['seconds']:.1f} |"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    base = out / f"resample_region-{stamp}"
    base.with_suffix(".json").write_text(json.dumps({"date": stamp, "pillow": PIL.__version__, "methods": stats}, indent=2))
    base.with_suffix(".log").write_text(log.getvalue())
    print(f"wrote {base}.json and .log")


if __name__ == "__main__":
    main()
