"""Why skvgg keeps its own region resampler: Pillow's ``resize(box=...)`` does not give the whole resize's pixels."""

import numpy as np
from PIL import Image

from skvgg._pipeline.resample import bilinear_region, vertical_first
from skvgg._pipeline.views import rescaled_size


def crop_cases():
    rng = np.random.default_rng(3)
    for width, height in [(257, 999), (300, 224), (224, 225)]:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        for shorter in (256, 384):
            out_w, out_h = rescaled_size(width, height, shorter)
            top, left = int(round((out_h - 224) / 2.0)), int(round((out_w - 224) / 2.0))
            whole = np.asarray(image.resize((out_w, out_h), Image.BILINEAR))[top : top + 224, left : left + 224]
            yield image, (out_w, out_h), top, left, whole


def test_pillow_box_resize_is_not_the_whole_resize_but_ours_is():
    """benchmarks/resample_region.py measures it on 400 crops (0.19-5.6 % of the values differ, by up to 2).

    If the Pillow part fails, Pillow's box resize became exact: replace ``bilinear_region`` by it.
    """
    differing = total = 0
    for image, size, top, left, whole in crop_cases():
        np.testing.assert_array_equal(bilinear_region(image, size, top, left, 224, 224), whole)
        sx, sy = image.width / size[0], image.height / size[1]
        box = (left * sx, top * sy, (left + 224) * sx, (top + 224) * sy)
        pillow = np.asarray(image.resize((224, 224), Image.BILINEAR, box=box, reducing_gap=None))
        difference = np.abs(pillow.astype(int) - whole)
        assert difference.max() <= 2  # close: never more than 2 levels on these crops
        differing += int((difference > 0).sum())
        total += difference.size
    assert differing > 0.001 * total, "Pillow's resize(box=...) now gives the whole resize's pixels"


def test_pass_order_follows_pillow():
    # Pillow 13: rows first when the height shrinks by more than twice as many pixels as the width.
    import PIL

    newer = int(PIL.__version__.split(".")[0]) >= 13
    assert vertical_first(257, 999, 256, 995) is newer
    assert vertical_first(999, 257, 995, 256) is False
    assert vertical_first(224, 225, 256, 257) is False  # both grow
