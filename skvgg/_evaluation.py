"""What a fitted classifier evaluates at test time: its views and their averaged posteriors.

The paper's test-time modes (Sec. 3.2, Table 5): a single centre crop, dense evaluation at
the scales Q (with mirrors), the 5x5 multi-crop grid, or both combined ("combine").
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .network import VGG, check_scales
from .pipeline import ViewGroup, describe, evaluation_groups
from .runtime import resolve_precision
from .views import grid_views
from .weights import Preprocessing

__all__ = ["check_scale_jitter", "test_time_groups", "class_posteriors"]


def check_scale_jitter(scale_jitter, crop: int):
    """``scale_jitter`` checked against the training crop: None, S, or a range ``(Smin, Smax)``."""
    if scale_jitter is None:
        return None
    if isinstance(scale_jitter, numbers.Integral):
        if scale_jitter < crop:
            raise ValueError(f"scale_jitter={scale_jitter} is smaller than the {crop} px training crop")
        return scale_jitter
    jitter = check_scales(scale_jitter, "scale_jitter", crop)
    if len(jitter) != 2 or jitter[0] > jitter[1]:
        raise ValueError(f"scale_jitter={scale_jitter!r}: expected S or a range (Smin, Smax) with Smin <= Smax")
    return jitter


def test_time_groups(pre: Preprocessing, scales, flip: bool, multi_crop, single_view: bool = False):
    """``make_groups(image, index)`` for the pipeline: the views whose posteriors are averaged per image."""

    def make_groups(image, index):
        if single_view or scales is None:
            return evaluation_groups(image, pre, None, flip and not single_view)
        # One group per scale and method: with "combine", dense and multi-crop have
        # as many groups each, so their posteriors weigh equally (paper, Table 5).
        groups = []
        if multi_crop in (False, "combine"):
            groups += evaluation_groups(image, pre, scales, flip)
        if multi_crop in (True, "combine"):
            groups += [ViewGroup(grid_views(image, q, pre.crop_size, mirror=flip)) for q in scales]
        return groups

    return make_groups


def class_posteriors(
    network: VGG, items, indices, make_groups, *, pre: Preprocessing, layers=("logits",), softmax=True, precision="auto",
    batch_size=32, num_workers=None, max_pixels=None,
) -> np.ndarray:  # fmt: skip
    """One row per index of ``indices`` (sorted): the mean over each image's views of the
    softmax (or of the raw ``layers`` output when ``softmax`` is False)."""
    network.eval()
    device = next(network.parameters()).device
    out = None
    for index, value in describe(
        network, items, indices, make_groups, layers=list(layers), preprocessing=pre, pooling="avg",
        post=(lambda logits: torch.softmax(logits, dim=1)) if softmax else None, batch_size=batch_size,
        num_workers=num_workers, dtype=resolve_precision(precision, device), max_pixels=max_pixels,
    ):  # fmt: skip
        if out is None:
            out = np.empty((len(indices), len(value)), dtype=np.float32)
        out[np.searchsorted(indices, index)] = value
    return out
