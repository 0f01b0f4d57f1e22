"""The shared image pipeline: decode ahead in threads, batch equal-sized views, run the network.

Two layers, used by every estimator:

* :func:`batched_groups` decodes images in worker threads (overlapping the network),
  cuts each into *view groups* (e.g. one group per test scale, holding the image and its
  mirror) and yields batches of up to ``batch_size`` equal-sized uint8 views.
* :func:`describe` consumes those batches with a network and yields, per image, one
  descriptor: each view's activations pooled to a vector (and optionally transformed,
  e.g. soft-max), averaged within a group, then averaged or concatenated across groups.

Training with augmentation uses :func:`batched_groups` directly (fresh random views each
epoch); feature extraction and prediction use :func:`describe`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ._parallel import parallel_map
from .cuda import DeviceRunner
from .images import DEFAULT_MAX_PIXELS, ImageInputError, decoding, describe_item, load_rgb
from .runtime import autocast, run_with_backoff
from .views import center_view, dense_view

__all__ = ["ViewGroup", "Batch", "evaluation_groups", "batched_groups", "describe", "default_num_workers"]


def default_num_workers() -> int:
    # PIL releases the GIL while decoding and resizing, so threads overlap the network.
    return min(8, os.cpu_count() or 1)


@dataclass
class ViewGroup:
    """Views of one image whose per-view outputs are averaged (e.g. an image and its mirror).

    ``views`` are uint8 ``(3, H, W)`` tensors of one shape; ``dense`` says whether the
    network runs in its fully-convolutional form on them.
    """

    views: list
    dense: bool = False


@dataclass
class Batch:
    """Equal-sized views of several images, ready for one forward pass."""

    pixels: torch.Tensor  # uint8 (N, 3, H, W)
    units: list  # (image index, group number, number of views), in pixel order
    dense: bool


def evaluation_groups(image, preprocessing, scales, mirror: bool) -> list[ViewGroup]:
    """The test-time views of an image, one group per scale.

    ``scales=None``: the single centre view (shorter side ``preprocessing.resize_size``,
    centre crop ``crop_size``); otherwise the paper's dense inputs, the whole image
    rescaled to each smaller side Q. ``mirror`` adds the mirror image to each group.
    """
    if scales is None:
        return [ViewGroup(center_view(image, preprocessing.resize_size, preprocessing.crop_size, mirror=mirror))]
    return [ViewGroup(dense_view(image, q, mirror=mirror), dense=True) for q in scales]


def batched_groups(
    items,
    indices,
    make_groups: Callable,
    batch_size: int,
    num_workers: int | None = None,
    on_error: str = "raise",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    decoder: Callable | None = None,
    pixels_out: Callable | None = None,
) -> Iterator:
    """Yield :class:`Batch` objects, and ``(index, exception)`` for images that failed.

    Parameters
    ----------
    items : list
        Checked input items (:func:`skvgg.images.check_images`).
    indices : sequence of int
        Which items to process, in this order.
    make_groups : callable ``(image, index) -> list of ViewGroup``
        Cuts the decoded RGB PIL image into view groups. Called in worker threads.
    batch_size : int
        Most views in one batch (groups are never split across batches, so a group
        larger than ``batch_size`` forms a batch on its own).
    num_workers : int, optional
        Decoding threads; 0 decodes in the calling thread.
    on_error : {"raise", "nan"}
        "raise" re-raises the first failure (an :class:`~skvgg.images.ImageInputError`
        naming the item); otherwise failures are yielded as ``(index, exception)``.
    max_pixels : int or None
        Pixel budget of each image and of each whole-image view (see
        :func:`skvgg.images.load_rgb`); None: no limit.
    decoder : callable, optional
        Replaces decoding in worker threads (e.g. :func:`skvgg.gpudecode.gpu_decoder`,
        whose views are already on the GPU): called as ``decoder(items, indices,
        on_cpu=..., make_groups=..., num_workers=..., lookahead=..., on_error=...,
        max_pixels=...)``, it yields each index's groups (or exception) in order;
        ``on_cpu(position, index)`` is the CPU path below, for what it leaves to PIL.
    pixels_out : callable, optional
        ``pixels_out(shape)`` returns the host tensor a batch of CPU views is written
        into (a reused pinned buffer, :meth:`skvgg.cuda.DeviceRunner.input_buffer`).

    Notes
    -----
    Each worker holds an image only while cutting its views: the decoded image is
    dropped, and its reservation of decoded memory given back
    (:func:`skvgg.images.decoding`), before the views are queued. What waits in the
    lookahead (``2 * batch_size`` images) is views, not decoded images.
    """
    workers = default_num_workers() if num_workers is None else num_workers

    def decode(position, index):
        try:
            with decoding(max_pixels):
                return _cut(make_groups, load_rgb(items[index], index), index, items[index])
        except Exception as error:
            if on_error == "raise":
                raise
            return error

    buckets: dict[tuple, list] = {}  # (shape, dense) -> [(index, group number, stacked views)]

    def flush(key):
        units = buckets.pop(key)
        stacks = [views for _, _, views in units]
        out = None
        if pixels_out is not None and stacks[0].device.type == "cpu":
            out = pixels_out((sum(len(views) for views in stacks), *stacks[0].shape[1:]))
        return Batch(
            pixels=torch.cat(stacks, out=out),
            units=[(index, number, len(views)) for index, number, views in units],
            dense=key[1],
        )

    indices = list(indices)
    if decoder is None:
        decoded = parallel_map(decode, indices, workers, 2 * batch_size)
    else:
        decoded = decoder(
            items, indices, on_cpu=decode, make_groups=make_groups, num_workers=workers, lookahead=2 * batch_size,
            on_error=on_error, max_pixels=max_pixels,
        )  # fmt: skip
    for index, groups in zip(indices, decoded):
        if isinstance(groups, BaseException):
            yield index, groups
            continue
        for number, group in enumerate(groups):
            stacked = torch.stack(group.views)
            key = (tuple(stacked.shape[1:]), group.dense)
            bucket = buckets.setdefault(key, [])
            if bucket and sum(len(unit[2]) for unit in bucket) + len(stacked) > batch_size:
                yield flush(key)
                bucket = buckets.setdefault(key, [])
            bucket.append((index, number, stacked))
            if sum(len(unit[2]) for unit in bucket) >= batch_size:
                yield flush(key)
        # Images of many different sizes (dense evaluation of photos) would otherwise
        # leave many part-filled buckets holding views: bound what is kept.
        if sum(len(unit[2]) for bucket in buckets.values() for unit in bucket) > 4 * batch_size:
            for key in list(buckets):
                yield flush(key)
    for key in list(buckets):
        yield flush(key)


def _cut(make_groups: Callable, image, index: int, item) -> list[ViewGroup]:
    """``make_groups(image, index)``, its failures named after the item."""
    try:
        return make_groups(image, index)
    except ImageInputError as error:
        if error.index is not None:
            raise
        description, path = describe_item(item)
        raise ImageInputError(error.reason, index=index, path=path, description=description) from error
    except MemoryError as error:
        description, path = describe_item(item)
        raise ImageInputError(
            f"ran out of memory cutting the views of this {image.width}x{image.height} image; "
            "lower max_pixels to refuse such images, or use fewer decoding threads (num_workers)",
            index=index,
            path=path,
            description=description,
        ) from error


def _pool(activation: torch.Tensor, pooling: str) -> torch.Tensor:
    activation = activation.float()
    if activation.ndim == 2:
        return activation
    if pooling == "avg":
        return activation.mean(dim=(2, 3))
    if pooling == "max":
        return activation.amax(dim=(2, 3))
    return activation.flatten(1)  # "flatten": the map itself (views of one size only)


def describe(
    network,
    items,
    indices,
    make_groups: Callable,
    *,
    layers,
    preprocessing,
    pooling: str = "avg",
    post: Callable | None = None,
    combine: str = "mean",
    batch_size: int = 32,
    num_workers: int | None = None,
    on_error: str = "raise",
    dtype: torch.dtype = torch.float32,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    decoder: Callable | None = None,
    extractors: list | None = None,
) -> Iterator:
    """Yield ``(index, float32 descriptor)`` per image, or ``(index, exception)`` on failure.

    ``network`` may be a list of networks (with ``preprocessing`` a list alike): each
    batch is decoded once and described by every network, concatenated in order.

    Each view's ``layers`` activations are pooled (``"avg"``, ``"max"`` or
    ``"flatten"``), concatenated, passed through ``post`` (e.g. a soft-max), averaged
    within their group, and the groups are averaged (``combine="mean"``) or
    concatenated in group order (``"stack"``). Images complete in batch order, not
    input order; callers place descriptors by index. ``max_pixels`` is the pixel budget
    and ``decoder`` an alternative decoder (:func:`batched_groups`). ``extractors``, one
    per network, replace ``net.extract``: ``extractor(x, dense)`` returns the same
    activations from a faster graph (:mod:`skvgg.quantize`).

    Batches go through a :class:`~skvgg.cuda.DeviceRunner`: on CUDA the next batch is
    uploaded while the current one computes, and results are read back a few batches
    later; elsewhere the same bookkeeping runs synchronously.
    """
    # Several networks (the paper's Net-D & Net-E fusion) share each decoded batch; their
    # descriptors are concatenated in order.
    networks = list(network) if isinstance(network, list | tuple) else [network]
    preprocessings = list(preprocessing) if isinstance(preprocessing, list | tuple) else [preprocessing] * len(networks)
    device = next(networks[0].parameters()).device
    batch_state = {"batch_size": batch_size}  # lowered for later batches after an out-of-memory
    pending: dict[int, dict] = {}
    n_groups: dict[int, int] = {}

    def counting_groups(image, index):
        groups = make_groups(image, index)
        n_groups[index] = len(groups)
        return groups

    runner = DeviceRunner(device)

    def run(chunks, dense):
        def forward(chunk):
            parts = []
            for k, (net, pre) in enumerate(zip(networks, preprocessings)):
                x = pre.normalize(chunk).contiguous(memory_format=torch.channels_last)
                if extractors is not None:
                    with torch.inference_mode():
                        activations = extractors[k](x, dense)
                    parts.extend(_pool(activations[name], pooling) for name in layers)
                    continue
                with torch.inference_mode(), autocast(device, dtype):
                    activations = net.extract(x, layers, dense=dense)
                parts.extend(_pool(activations[name], pooling) for name in layers)
            out = torch.cat(parts, dim=1)
            return post(out) if post is not None else out

        return torch.cat(run_with_backoff(forward, chunks, batch_state, what="batch"))

    def finish(event, outputs):
        start = 0
        for index, number, count in event.units:
            pending.setdefault(index, {})[number] = outputs[start : start + count].mean(0)
            start += count
        for index in dict.fromkeys(unit[0] for unit in event.units):
            groups = pending[index]
            if len(groups) == n_groups[index]:
                del pending[index]
                ordered = [groups[number] for number in range(len(groups))]
                if len(ordered) == 1:
                    yield index, ordered[0]
                elif combine == "stack":
                    yield index, np.concatenate(ordered)
                else:
                    yield index, np.mean(ordered, axis=0)

    batches = batched_groups(
        items,
        indices,
        counting_groups,
        batch_size,
        num_workers,
        on_error,
        max_pixels,
        decoder=decoder,
        pixels_out=runner.input_buffer,
    )
    for event in batches:
        if not isinstance(event, Batch):
            yield event
            continue
        # ``outputs`` are views of reused host buffers, valid until the next submit:
        # ``finish`` keeps only the means and concatenations it computes from them.
        for done, outputs in runner.submit(event.pixels, lambda x, dense=event.dense: run(x, dense), event):
            yield from finish(done, outputs)
    for done, outputs in runner.flush():
        yield from finish(done, outputs)
