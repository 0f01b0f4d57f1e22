"""What a fitted classifier evaluates at test time: its views and their averaged posteriors.

The paper's test-time modes (Sec. 3.2, Table 5): a single centre crop, dense evaluation at
the scales Q (with mirrors), the 5x5 multi-crop grid, or both combined ("combine"); each
is a :class:`~skvgg._pipeline.plan.ViewPlan` (:meth:`~skvgg._pipeline.plan.ViewPlan.test_time`).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ._pipeline.batches import describe, pixel_source
from ._pipeline.plan import ViewPlan
from ._pipeline.runner import NetworkRunner
from ._pipeline.runtime import resolve_precision
from .models.network import VGG, check_scales
from .models.weights import Preprocessing

__all__ = ["check_scale_jitter", "evaluation_plan", "class_posteriors"]


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


def evaluation_plan(pre: Preprocessing, scales, flip: bool, multi_crop, single_view: bool = False) -> ViewPlan:
    """The views whose posteriors are averaged per image (:meth:`skvgg._pipeline.plan.ViewPlan.test_time`)."""
    return ViewPlan.test_time(pre.resize_size, pre.crop_size, scales, flip, multi_crop, single_view)


def class_posteriors(
    network: VGG, items, indices, plan: ViewPlan, *, pre: Preprocessing, layers=("logits",), softmax=True,
    precision="auto", batch_size=32, num_workers=None, max_pixels=None, X=None,
) -> np.ndarray:  # fmt: skip
    """One row per index of ``indices`` (sorted): the mean over each image's views (``plan``) of the
    softmax (or of the raw ``layers`` output when ``softmax`` is False). ``X``: the input as given,
    so that a 4-D uint8 batch is cut in slices (:func:`skvgg._pipeline.batches.pixel_source`)."""
    network.eval()
    device = next(network.parameters()).device
    runner = NetworkRunner(
        network, pre, list(layers), pooling="avg", post=(lambda logits: torch.softmax(logits, dim=1)) if softmax else None,
        dtype=resolve_precision(precision, device), batch_size=batch_size,
    )  # fmt: skip
    source = pixel_source(items, indices, X, device=device, num_workers=num_workers, max_pixels=max_pixels)
    out = None
    for rows_of, rows in describe(plan, source, runner):
        if out is None:
            out = np.empty((len(indices), rows.shape[1]), dtype=np.float32)
        out[np.searchsorted(indices, rows_of)] = rows
    return out
