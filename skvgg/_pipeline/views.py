"""Cutting pixels into network views, as a plan's layouts say (:mod:`skvgg._pipeline.plan`).

Two executors of the same geometry:

* :func:`pil_views` cuts one decoded PIL image (the per-image CPU path). Resizing and
  cropping call torchvision's own functional transforms on the PIL image, so the single
  view is exactly torchvision's ``ImageClassification`` preset (shorter side to 256 with
  antialiased bilinear resampling, centre crop 224) and descriptors agree with
  ``weights.transforms()`` pipelines to the bit.
* :func:`tensor_views` cuts a uint8 batch ``(N, 3, H, W)`` of equal-sized images at once,
  with torch operations on the batch's device (4-D batches, JPEGs decoded on the GPU).
  Where no resampling is needed (the images already have the rescaled size) its views
  are the PIL path's, pixel for pixel. Where it resamples it uses :func:`resize_tensor`,
  which differs from PIL's fixed point in about 0.4% of the values, by at most 2 levels
  (measured in ``tests/test_gpu_path.py`` and ``tests/test_plan.py``).

Views are uint8 ``(3, h, w)``; normalisation happens later, on the compute device, batch
by batch (:meth:`skvgg.Preprocessing.normalize`), which keeps host-to-device copies 4x smaller.

Memory: crops (the centre view, multi-crop, random training crops) never materialise
much more than themselves on the PIL path. When the whole rescaled image would be large
(an extreme aspect ratio: a 60000x1 px image at shorter side 256 is 15 million pixels
wide), only the crop is computed, from the source pixels it needs, with the same pixels
as the whole resize (:func:`skvgg._pipeline.resample.bilinear_region`). A view that *is* the whole
rescaled image (dense evaluation) is refused with an :class:`~skvgg.images.ImageInputError`
when it has more pixels than the pixel budget (:func:`skvgg._pipeline.plan.check_view_pixels`).

The functions ``center_view``, ``dense_view``, ``grid_views``, ``random_view`` and
``rescale`` cut one protocol of one PIL image; they build the protocol's plan and call
:func:`pil_views`.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF
from torchvision.transforms.v2 import functional as F2

from .plan import CenterCrop, Crop, CropGrid, DenseScale, GroupLayout, RandomCrop, check_view_pixels, rescaled_shape
from .resample import bilinear_region

__all__ = [
    "pil_views",
    "tensor_views",
    "resize_tensor",
    "rescaled_size",
    "rescale",
    "rescaled_crop",
    "center_view",
    "dense_view",
    "grid_views",
    "random_view",
    "color_shift",
]

# Below this many pixels the whole rescaled image is computed by torchvision/Pillow and
# cropped, as before; above it only the crops are (16 MiB in Pillow's 4-byte RGB).
WHOLE_RESIZE_PIXELS = 4 * 2**20


# --- the PIL path ---------------------------------------------------------------------------


def _rescale(image: Image.Image, shorter_side: int) -> torch.Tensor:
    # Unchecked: callers check the pixel budget of whole views.
    resized = TF.resize(image, shorter_side, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.pil_to_tensor(resized)


def _cut(full: torch.Tensor, crop: Crop) -> torch.Tensor:
    """The window of a rescaled image (``(..., 3, H, W)``); zeros outside it, as torchvision pads."""
    if crop.inside and crop.top + crop.height <= full.shape[-2] and crop.left + crop.width <= full.shape[-1]:
        view = full[..., crop.top : crop.top + crop.height, crop.left : crop.left + crop.width]
    else:
        view = TF.crop(full, crop.top, crop.left, crop.height, crop.width)
    return view.flip(-1) if crop.flip else view


def rescaled_crop(image: Image.Image, shorter_side: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """``rescale(image, shorter_side)[:, top:top + height, left:left + width]``, pixel for pixel.

    The whole rescaled image is computed only when it is small
    (``WHOLE_RESIZE_PIXELS``); otherwise only the crop is.
    """
    rows, cols = rescaled_shape(image.height, image.width, shorter_side)
    if rows * cols <= WHOLE_RESIZE_PIXELS:
        return _rescale(image, shorter_side)[:, top : top + height, left : left + width]
    region = bilinear_region(image, (cols, rows), top, left, height, width)
    if region.ndim == 2:  # one band ('L')
        region = region[:, :, np.newaxis]
    return torch.from_numpy(region).permute(2, 0, 1).contiguous()


def pil_views(image: Image.Image, layout: GroupLayout) -> list[torch.Tensor]:
    """The views of one group of a decoded PIL image, uint8 ``(3, h, w)`` each, in the layout's order.

    Raises
    ------
    ImageInputError
        (without ``index``) for a whole-image view over the pixel budget.
    """
    side, (rows, cols) = layout.shorter_side, layout.size
    if layout.crops is None:
        check_view_pixels(image.height, image.width, layout.size, side)
        full = _rescale(image, side)
        views = [full, full.flip(-1)] if layout.mirror else [full]
    elif rows * cols <= WHOLE_RESIZE_PIXELS:
        full = _rescale(image, side)
        views = [_cut(full, crop) for crop in layout.crops]
    elif not all(crop.inside for crop in layout.crops):
        # Padded (a crop larger than the rescaled image): needs the whole image.
        check_view_pixels(image.height, image.width, layout.size, side)
        full = _rescale(image, side)
        views = [_cut(full, crop) for crop in layout.crops]
    else:
        computed: dict = {}  # a mirror, or a window shared by two crops, is computed once
        views = []
        for crop in layout.crops:
            window = (crop.top, crop.left, crop.height, crop.width)
            if window not in computed:
                computed[window] = rescaled_crop(image, side, *window)
            views.append(computed[window].flip(-1) if crop.flip else computed[window])
    if layout.color is not None:
        alpha = torch.tensor(layout.color, dtype=torch.float32)
        views = [color_shift(view, alpha) for view in views]
    return views


# --- the tensor path ------------------------------------------------------------------------


def resize_tensor(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Uint8 ``(..., 3, H, W)`` resized to ``size = (h, w)``, antialiased bilinear, on their device.

    An axis whose size does not change is not resampled (no resize at all: the input is
    returned). As PIL does, the width is resampled first and rounded to integers, then the
    height: with the float arithmetic of torchvision's tensor resize in each pass this
    differs from PIL's fixed point in 0.4% of the values (by at most 2 levels), against
    ~12% for one unrounded 2-D pass. On a CPU tensor the same arithmetic runs, so the
    agreement with PIL is measured without a GPU.
    """
    height, width = images.shape[-2:]
    if (height, width) == tuple(size):
        return images
    x = images.float()
    for step in ([height, size[1]], [size[0], size[1]]):
        if list(x.shape[-2:]) != step:
            x = F2.resize(x, step, interpolation=InterpolationMode.BILINEAR, antialias=True).round_().clamp_(0, 255)
    return x.to(torch.uint8)


def tensor_views(images: torch.Tensor, layout: GroupLayout) -> torch.Tensor:
    """The views of one group of each image of a uint8 batch ``(N, 3, H, W)``, image after image.

    Returns ``(N * layout.n_views, 3, h, w)``: image 0's views in the layout's order, then
    image 1's... All on the batch's device; one resize for the whole batch.

    Raises
    ------
    ImageInputError
        (without ``index``) for a whole-image view over the pixel budget.
    """
    height, width = images.shape[-2:]
    if layout.crops is None:
        check_view_pixels(height, width, layout.size, layout.shorter_side)
    full = resize_tensor(images, layout.size)
    if layout.crops is None:
        views = [full, full.flip(-1)] if layout.mirror else [full]
    else:
        views = [_cut(full, crop) for crop in layout.crops]
    if layout.color is not None:
        alpha = torch.tensor(layout.color, dtype=torch.float32)
        views = [color_shift(view, alpha) for view in views]
    if len(views) == 1:
        return views[0]
    return torch.stack(views, dim=1).flatten(0, 1)


# --- one protocol of one PIL image ----------------------------------------------------------


def rescaled_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """``(width, height)`` after rescaling the shorter side to ``shorter_side`` (PIL's order of
    :func:`skvgg._pipeline.plan.rescaled_shape`, torchvision's rule)."""
    rows, cols = rescaled_shape(height, width, shorter_side)
    return cols, rows


def rescale(image: Image.Image, shorter_side: int) -> torch.Tensor:
    """Isotropically rescale so the shorter side is ``shorter_side``; uint8 ``(3, H, W)``.

    The paper's rescaling to training scale S or test scale Q, and the first step of
    torchvision's single-view preset (with ``shorter_side=256``). Refused over the pixel
    budget (:func:`skvgg._pipeline.plan.check_view_pixels`).
    """
    return dense_view(image, shorter_side)[0]


def center_view(image: Image.Image, resize: int, crop: int, mirror: bool = False) -> list[torch.Tensor]:
    """The common single view: shorter side to ``resize``, centre crop ``crop`` (and its mirror)."""
    return pil_views(image, CenterCrop(resize, crop, mirror).layout(image.height, image.width))


def dense_view(image: Image.Image, scale: int, mirror: bool = False) -> list[torch.Tensor]:
    """The paper's dense-evaluation input at test scale Q: the whole rescaled image (and its mirror)."""
    return pil_views(image, DenseScale(scale, mirror).layout(image.height, image.width))


def grid_views(image: Image.Image, scale: int, crop: int = 224, grid: int = 5, mirror: bool = True) -> list[torch.Tensor]:
    """The paper's multi-crop evaluation at test scale Q: a ``grid`` x ``grid`` of crops (and mirrors)."""
    return pil_views(image, CropGrid(scale, crop, grid, mirror).layout(image.height, image.width))


def random_view(
    image: Image.Image,
    rng: np.random.Generator,
    scale=None,
    resize: int = 256,
    crop: int = 224,
    flip: bool = False,
    color_std: float = 0.0,
) -> torch.Tensor:
    """One training view, as the paper's augmentation (Sec. 3.1): see :class:`skvgg._pipeline.plan.RandomCrop`."""
    layout = RandomCrop(scale, resize, crop, flip, color_std).layout(image.height, image.width, rng)
    return pil_views(image, layout)[0].contiguous()


# AlexNet's "fancy PCA" lighting noise (Krizhevsky et al. 2012, Sec. 4.1), as the paper's
# "random RGB colour shift": eigenvalues and eigenvectors of the RGB covariance of ImageNet
# pixels in [0, 1], the values fb.resnet.torch and timm use.
_PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
_PCA_EIGVEC = torch.tensor(
    [
        [-0.5675, 0.7192, 0.4009],
        [-0.5808, -0.0045, -0.8140],
        [-0.5836, -0.6948, 0.4203],
    ]
)


def color_shift(view: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Add the PCA color offset ``eigvec @ (alpha * eigval)`` to every pixel (uint8 in, uint8 out; ``(..., 3, H, W)``)."""
    offset = (_PCA_EIGVEC @ (alpha * _PCA_EIGVAL)) * 255
    return (view.float() + offset.to(view.device).view(3, 1, 1)).round_().clamp_(0, 255).to(torch.uint8)
