"""The shared image pipeline: sources of pixels cut batches of views as a plan says; :func:`describe` runs them.

Three layers, used by every estimator:

* a **plan** (:mod:`skvgg._pipeline.plan`) says which views each image gives;
* a **source of pixels** yields :class:`Batch` objects of equal-sized uint8 views for a
  plan (and ``(index, exception)`` for images that failed):

  - :class:`ImageSource`: the per-image CPU path. Images are decoded in worker threads
    (overlapping the network), cut with PIL (:func:`skvgg._pipeline.views.pil_views`, bit-identical
    to torchvision's preset) and their view groups gathered into batches;
  - :class:`TensorBatchSource`: a 4-D uint8 batch (torch or numpy, NCHW or NHWC). Its
    images share one size, so the plan's geometry is computed once and the views of
    many images are cut at once with torch operations (:func:`skvgg._pipeline.views.tensor_views`):
    no per-image Python, no PIL; resizing, when the plan needs it, runs on the batch
    (on the device when there is one). Views that need no resampling are the per-image
    path's, pixel for pixel;
  - :class:`skvgg._pipeline.gpudecode.JpegSource`: JPEG files decoded on the GPU in batches.

* a **network runner** (:class:`skvgg._pipeline.runner.NetworkRunner`) turns batches into pooled
  vectors; :func:`describe` averages each image's views within a group and combines the
  groups as the plan says.

The route of ``VGGFeaturizer.transform(X)``: :func:`skvgg.images.check_images` -> a plan
(``VGGFeaturizer._plan``) and a source (``VGGFeaturizer._source``) -> :func:`describe`
(source batches -> :class:`~skvgg._pipeline.runner.NetworkRunner` -> :class:`~skvgg._pipeline.cuda.DeviceRunner`)
-> rows. Training (``VGGClassifier.fit``) takes batches from the same sources with a
:class:`~skvgg._pipeline.plan.TrainingPlan` (:func:`skvgg._training.training_batches`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..images import DEFAULT_MAX_PIXELS, ImageInputError, decoding, describe_item, load_rgb
from .parallel import parallel_map
from .plan import ViewPlan, check_view_pixels
from .views import WHOLE_RESIZE_PIXELS, pil_views, tensor_views

__all__ = [
    "ViewGroup",
    "Batch",
    "plan_groups",
    "batched_groups",
    "gather_batches",
    "ImageSource",
    "TensorBatchSource",
    "as_uint8_batch",
    "describe",
    "default_num_workers",
]


def default_num_workers() -> int:
    # PIL releases the GIL while decoding and resizing, so threads overlap the network.
    return min(8, os.cpu_count() or 1)


@dataclass
class ViewGroup:
    """Views of one image whose per-view outputs are averaged (e.g. an image and its mirror).

    ``views`` are uint8 ``(3, H, W)`` tensors of one shape (a list, or one tensor
    ``(n, 3, H, W)``); ``dense`` says whether the network runs in its fully-convolutional
    form on them.
    """

    views: list | torch.Tensor
    dense: bool = False


@dataclass
class Batch:
    """Equal-sized views of several images, ready for one forward pass.

    ``units`` is an int array ``(n, 3)``: per image of the batch, in pixel order, its
    index, the group number and the number of its views (consecutive in ``pixels``).
    """

    pixels: torch.Tensor  # uint8 (N, 3, H, W)
    units: np.ndarray
    dense: bool

    @property
    def indices(self) -> np.ndarray:
        return self.units[:, 0]


def plan_groups(plan, image, rng=None) -> list[ViewGroup]:
    """The view groups of a decoded PIL image under ``plan`` (``rng``: a training plan's generator)."""
    return [ViewGroup(pil_views(image, layout), layout.dense) for layout in plan.layouts(image.height, image.width, rng)]


# --- gathering view groups into batches -------------------------------------------------------


def gather_batches(groups_stream: Iterable, batch_size: int, pixels_out: Callable | None = None) -> Iterator:
    """Batches of equal-sized views from a stream of ``(index, list of ViewGroup or exception)``.

    Exceptions are passed on as ``(index, exception)``. Groups are never split across
    batches (a group larger than ``batch_size`` forms a batch on its own); views of one
    shape and form wait in a bucket until ``batch_size`` are there, and part-filled
    buckets are flushed when more than ``4 * batch_size`` views wait (images of many
    sizes). ``pixels_out(shape)`` returns the host tensor a batch of CPU views is written
    into (a reused pinned buffer, :meth:`skvgg._pipeline.runner.NetworkRunner.input_buffer`).
    """
    buckets: dict[tuple, list] = {}  # (shape, dense) -> [(index, group number, stacked views)]
    filled: dict[tuple, int] = {}  # (shape, dense) -> views in that bucket
    waiting = 0

    def flush(key):
        nonlocal waiting
        units = buckets.pop(key)
        waiting -= filled.pop(key)
        stacks = [views for _, _, views in units]
        out = None
        if pixels_out is not None and stacks[0].device.type == "cpu":
            out = pixels_out((sum(len(views) for views in stacks), *stacks[0].shape[1:]))
        return Batch(
            pixels=torch.cat(stacks, out=out),
            units=np.array([(index, number, len(views)) for index, number, views in units], dtype=np.int64).reshape(-1, 3),
            dense=key[1],
        )

    for index, groups in groups_stream:
        if isinstance(groups, BaseException):
            yield index, groups
            continue
        for number, group in enumerate(groups):
            stacked = group.views if isinstance(group.views, torch.Tensor) else torch.stack(group.views)
            key = (tuple(stacked.shape[1:]), group.dense)
            if filled.get(key, 0) and filled[key] + len(stacked) > batch_size:
                yield flush(key)
            buckets.setdefault(key, []).append((index, number, stacked))
            filled[key] = filled.get(key, 0) + len(stacked)
            waiting += len(stacked)
            if filled[key] >= batch_size:
                yield flush(key)
        # Images of many different sizes (dense evaluation of photos) would otherwise
        # leave many part-filled buckets holding views: bound what is kept.
        if waiting > 4 * batch_size:
            for key in list(buckets):
                yield flush(key)
    for key in list(buckets):
        yield flush(key)


def batched_groups(
    items, indices, make_groups: Callable, batch_size: int, num_workers: int | None = None, on_error: str = "raise",
    max_pixels: int | None = DEFAULT_MAX_PIXELS, pixels_out: Callable | None = None,
) -> Iterator:  # fmt: skip
    """Decode ``items[indices]`` in threads, cut each with ``make_groups(image, index)`` and gather batches.

    The per-image engine of :class:`ImageSource` (which cuts as a plan says); yields
    :class:`Batch` objects, and ``(index, exception)`` for images that failed when
    ``on_error`` is not "raise".

    Each worker holds an image only while cutting its views: the decoded image is
    dropped, and its reservation of decoded memory given back
    (:func:`skvgg.images.decoding`), before the views are queued. What waits in the
    lookahead (``2 * batch_size`` images) is views, not decoded images.
    """
    workers = default_num_workers() if num_workers is None else num_workers
    indices = list(indices)

    def decode(position, index):
        return cut_item(items[index], index, make_groups, on_error, max_pixels)

    decoded = parallel_map(decode, indices, workers, 2 * batch_size)
    return gather_batches(zip(indices, decoded), batch_size, pixels_out)


def cut_item(item, index: int, make_groups: Callable, on_error: str, max_pixels) -> list | BaseException:
    """Decode one item and cut its view groups; a failure is raised (``on_error="raise"``) or returned, named after the item."""
    try:
        with decoding(max_pixels):
            image = load_rgb(item, index)
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
    except Exception as error:
        if on_error == "raise":
            raise
        return error


# --- sources of pixels ------------------------------------------------------------------------


class ImageSource:
    """Per-image pixels: any items (paths, PIL images, arrays of any size), decoded and cut with PIL in threads.

    Parameters
    ----------
    items : list
        Checked input items (:func:`skvgg.images.check_images`).
    indices : sequence of int
        Which items to process, in this order.
    num_workers : int, optional
        Decoding threads; 0 decodes in the calling thread. Default:
        :func:`default_num_workers`.
    on_error : {"raise", "nan"}
        "raise" re-raises the first failure (an :class:`~skvgg.images.ImageInputError`
        naming the item); otherwise failures are yielded as ``(index, exception)``.
    max_pixels : int or None
        Pixel budget of each image and of each whole-image view; None: no limit.
    seeds : mapping of int to int, optional
        Per index, the seed of the generator a random (training) plan draws from.
    """

    def __init__(self, items, indices, *, num_workers=None, on_error="raise", max_pixels=DEFAULT_MAX_PIXELS, seeds=None):
        self.items = items
        self.indices = list(indices)
        self.num_workers = num_workers
        self.on_error = on_error
        self.max_pixels = max_pixels
        self.seeds = seeds

    def _cutter(self, plan) -> Callable:
        if not plan.random:
            return lambda image, index: plan_groups(plan, image)
        if self.seeds is None:
            raise ValueError("a random (training) plan needs per-image seeds: ImageSource(..., seeds=)")
        return lambda image, index: plan_groups(plan, image, np.random.default_rng(self.seeds[index]))

    def groups(self, plan, index: int) -> list | BaseException:
        """One item's view groups on the CPU path (or its failure, raised or returned as ``on_error`` says)."""
        return cut_item(self.items[index], index, self._cutter(plan), self.on_error, self.max_pixels)

    def batches(self, plan, batch_size: int, pixels_out: Callable | None = None) -> Iterator:
        """:class:`Batch` objects of the plan's views, and ``(index, exception)`` for failed images."""
        return batched_groups(
            self.items, self.indices, self._cutter(plan), batch_size, self.num_workers, self.on_error, self.max_pixels,
            pixels_out,
        )  # fmt: skip


def as_uint8_batch(X) -> torch.Tensor | ReadOnlyBatch | None:
    """``X`` as a uint8 ``(N, 3, H, W)`` torch tensor (a view, no copy) when it is a 4-D uint8 batch of RGB images; else None.

    The layout rule is :func:`skvgg.images.check_images`'s: a numpy array is channels-last
    when its last dimension is 1, 3 or 4, a tensor channels-first when its dimension 1 is
    1 or 3. Only 3-channel uint8 batches qualify; others (grayscale, RGBA, 16-bit, float)
    take the per-image path, which converts them.
    """
    if isinstance(X, np.ndarray):
        if X.ndim != 4 or X.dtype != np.uint8 or X.shape[0] == 0:
            return None
        channels_last = X.shape[3] in (1, 3, 4)
        if (X.shape[3] if channels_last else X.shape[1]) != 3:
            return None
        if not X.flags.writeable:  # e.g. np.load(mmap_mode="r"): read slice by slice (torch warns on read-only memory)
            return ReadOnlyBatch(X, channels_last)
        batch = torch.from_numpy(X)
        return batch.permute(0, 3, 1, 2) if channels_last else batch
    if isinstance(X, torch.Tensor):
        if X.ndim != 4 or X.dtype != torch.uint8 or X.shape[0] == 0 or X.is_complex():
            return None
        if X.shape[1] in (1, 3):
            return X if X.shape[1] == 3 else None
        return X.permute(0, 3, 1, 2) if X.shape[3] == 3 else None
    return None


def pixel_source(items, indices, X=None, *, device=None, num_workers=None, on_error="raise", max_pixels=DEFAULT_MAX_PIXELS):
    """Where the pixels of ``items`` come from: ``X`` cut in slices when it is a 4-D uint8 batch of
    those items (:class:`TensorBatchSource`), image by image otherwise (:class:`ImageSource`).

    ``X`` is the estimator's input as the user gave it (``items`` is what
    :func:`skvgg.images.check_images` made of it); ``device`` is where batches that need
    resizing are resized.
    """
    per_image = ImageSource(items, indices, num_workers=num_workers, on_error=on_error, max_pixels=max_pixels)
    batch = as_uint8_batch(X) if X is not None else None
    if batch is not None and len(batch) == len(items):
        return TensorBatchSource(batch, indices, fallback=per_image, device=device)
    return per_image


class ReadOnlyBatch:
    """A read-only numpy batch (a memory map opened ``"r"``, a frozen array) seen as uint8 ``(N, 3, H, W)``.

    torch cannot wrap read-only memory without a warning (writes through the tensor would be
    undefined), and copying the whole batch would read a memory map into RAM: each slice is
    copied when it is taken, as the pipeline takes them.
    """

    def __init__(self, array: np.ndarray, channels_last: bool):
        self.array = array
        self.channels_last = channels_last
        n, *rest = array.shape
        self.shape = torch.Size([n, *(rest[2:] + rest[:2] if channels_last else rest)])
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.numpy()
        batch = torch.from_numpy(np.array(self.array[key]))  # a writable copy of the slice
        return batch.permute(0, 3, 1, 2) if self.channels_last else batch


class TensorBatchSource:
    """Pixels of a 4-D uint8 batch ``(N, 3, H, W)`` (see :func:`as_uint8_batch`), cut in slices of many images.

    The plan's geometry is computed once for the batch's image size; each slice of
    images becomes the views of one group with a few torch operations (no per-image
    Python): slicing and flipping when the images already have the rescaled size
    (then identical to the per-image path), one batched antialiased resize otherwise
    (then within 2 levels of PIL, :func:`skvgg._pipeline.views.resize_tensor`), run on ``device``
    when it is a GPU. Whatever this cannot do as the per-image path would (a random
    training plan, images or dense views over the pixel budget, whole rescaled images
    larger than :data:`skvgg._pipeline.views.WHOLE_RESIZE_PIXELS` for crops) goes to ``fallback``,
    the per-image path, which cuts them or refuses them naming each image.
    """

    def __init__(self, images: torch.Tensor, indices, *, fallback: ImageSource, device=None):
        self.images = images
        self.indices = np.asarray(list(indices), dtype=np.int64)
        self.fallback = fallback
        self.device = torch.device(device) if device is not None else images.device

    def layouts(self, plan) -> tuple | None:
        """The plan's layouts for this batch's image size, or None when the per-image path must cut it."""
        if plan.random:
            return None
        height, width = self.images.shape[-2:]
        budget = self.fallback.max_pixels
        if budget is not None and height * width > budget:
            return None
        try:
            with decoding(budget):
                layouts = plan.layouts(height, width)
                for layout in layouts:
                    if layout.dense:
                        check_view_pixels(height, width, layout.size, layout.shorter_side)
        except (ImageInputError, ValueError):
            return None
        if any(not layout.dense and layout.size[0] * layout.size[1] > WHOLE_RESIZE_PIXELS for layout in layouts):
            return None
        return layouts

    def batches(self, plan, batch_size: int, pixels_out: Callable | None = None) -> Iterator:
        layouts = self.layouts(plan)
        if layouts is None:
            yield from self.fallback.batches(plan, batch_size, pixels_out)
            return
        height, width = self.images.shape[-2:]
        # Resizing runs where the network does; slices and flips need no device work.
        resample_on_device = self.device.type != "cpu" and any(layout.resamples(height, width) for layout in layouts)
        per_image = max(layout.n_views for layout in layouts)
        step = max(1, batch_size // per_image)
        for start in range(0, len(self.indices), step):
            chosen = self.indices[start : start + step]
            first, last = int(chosen[0]), int(chosen[-1])
            if last - first + 1 == len(chosen) and (np.diff(chosen) == 1).all():
                images = self.images[first : last + 1]  # a view
            else:
                images = self.images[torch.from_numpy(chosen)]
            if resample_on_device:
                images = images.to(self.device, non_blocking=True)  # once, for every group
            for number, layout in enumerate(layouts):
                views = tensor_views(images, layout)
                if views.device.type == "cpu" and pixels_out is not None:
                    out = pixels_out(tuple(views.shape))
                    out.copy_(views)
                    views = out
                units = np.empty((len(chosen), 3), dtype=np.int64)
                units[:, 0], units[:, 1], units[:, 2] = chosen, number, layout.n_views
                yield Batch(views, units, layout.dense)


# --- describing -------------------------------------------------------------------------------


def describe(plan: ViewPlan, source, runner) -> Iterator:
    """Descriptors of the source's images: yields ``(indices, rows)`` blocks and ``(index, exception)`` failures.

    ``rows`` is a float32 array with one row per index of the int array ``indices``.
    Each view's pooled vector (``runner``) is averaged within its group, and the groups
    are averaged (``plan.combine="mean"``) or concatenated in group order (``"stack"``).
    Images complete in batch order, not input order; callers place rows by index.

    Parameters
    ----------
    plan : ViewPlan
        Which views each image gives.
    source : ImageSource, TensorBatchSource or skvgg._pipeline.gpudecode.JpegSource
        Where the pixels come from: ``source.batches(plan, batch_size, pixels_out)``.
    runner : skvgg._pipeline.runner.NetworkRunner
        The network(s), their layers, pooling and device.
    """
    pending: dict[int, dict] = {}
    n_groups = plan.n_groups

    def finish(batch: Batch, outputs: np.ndarray):
        counts = batch.units[:, 2]
        if (counts == counts[0]).all():
            means = outputs.reshape(len(counts), int(counts[0]), -1).mean(1)
        else:
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            means = np.add.reduceat(outputs, starts, axis=0) / counts[:, None].astype(np.float32)
        if n_groups == 1:
            yield batch.indices.copy(), np.array(means, dtype=np.float32, copy=True)
            return
        for (index, number, _), mean in zip(batch.units.tolist(), means):
            groups = pending.setdefault(index, {})
            groups[number] = mean.copy()
            if len(groups) == n_groups:
                del pending[index]
                ordered = [groups[k] for k in range(n_groups)]
                row = np.concatenate(ordered) if plan.combine == "stack" else np.mean(ordered, axis=0)
                yield np.array([index]), row[np.newaxis]

    for event in source.batches(plan, runner.batch_size, runner.input_buffer):
        if not isinstance(event, Batch):
            yield event
            continue
        # ``outputs`` are views of reused host buffers, valid until the next submit:
        # ``finish`` keeps only the means and concatenations it computes from them.
        for done, outputs in runner.submit(event):
            yield from finish(done, outputs)
    for done, outputs in runner.flush():
        yield from finish(done, outputs)
