"""How a decoded RGB image becomes network input: the shared image pipeline.

Every estimator turns images into uint8 tensors ``(3, H, W)`` here, and only here;
normalisation happens later, on the compute device, batch by batch
(:meth:`skvgg.Preprocessing.normalize`), which keeps host-to-device copies 4x smaller.

Resizing and cropping call torchvision's own functional transforms on the PIL image, so
the single view is exactly torchvision's ``ImageClassification`` preset (shorter side to
256 with antialiased bilinear resampling, centre crop 224) and descriptors agree with
``weights.transforms()`` pipelines to the bit.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

__all__ = ["rescale", "center_view", "dense_view", "crop_with_mirror", "grid_views", "random_view", "colour_shift"]


def rescale(image: Image.Image, shorter_side: int) -> torch.Tensor:
    """Isotropically rescale so the shorter side is ``shorter_side``; uint8 ``(3, H, W)``.

    This is the paper's rescaling to training scale S or test scale Q, and the first
    step of torchvision's single-view preset (with ``shorter_side=256``).
    """
    resized = TF.resize(image, shorter_side, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.pil_to_tensor(resized)


def crop_with_mirror(image: torch.Tensor, crop: int, mirror: bool) -> list[torch.Tensor]:
    """Centre crop(s) of a rescaled image: the crop, and also that of its mirror image.

    The mirror is flipped *before* cropping, so it is exactly the centre crop of the
    mirrored photo even when the margin is odd (torchvision rounds the crop offset).
    """
    views = [TF.center_crop(image, [crop, crop])]
    if mirror:
        views.append(TF.center_crop(image.flip(-1), [crop, crop]))
    return views


def center_view(image: Image.Image, resize: int, crop: int, mirror: bool = False) -> list[torch.Tensor]:
    """The common single view: shorter side to ``resize``, centre crop ``crop``."""
    return crop_with_mirror(rescale(image, resize), crop, mirror)


def dense_view(image: Image.Image, scale: int, mirror: bool = False) -> list[torch.Tensor]:
    """The paper's dense-evaluation input at test scale Q: the whole rescaled image."""
    full = rescale(image, scale)
    return [full, full.flip(-1)] if mirror else [full]


def grid_views(image: Image.Image, scale: int, crop: int = 224, grid: int = 5, mirror: bool = True) -> list[torch.Tensor]:
    """The paper's multi-crop evaluation at test scale Q: a ``grid`` x ``grid`` of crops.

    Crop offsets are spread evenly from one border to the other along each axis; with
    ``mirror`` each crop's mirror image follows it (5 x 5 x 2 = 50 views per scale).
    """
    full = rescale(image, scale)
    height, width = full.shape[-2:]
    if min(height, width) < crop:
        raise ValueError(f"multi-crop needs images of at least {crop} px after rescaling; got {height}x{width}")
    tops = torch.linspace(0, height - crop, grid).round().int().tolist()
    lefts = torch.linspace(0, width - crop, grid).round().int().tolist()
    views = []
    for top in tops:
        for left in lefts:
            view = full[:, top : top + crop, left : left + crop]
            views.append(view)
            if mirror:
                views.append(view.flip(-1))
    return views


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


def colour_shift(view: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Add the PCA colour offset ``eigvec @ (alpha * eigval)`` to every pixel (uint8 in, uint8 out)."""
    offset = (_PCA_EIGVEC @ (alpha * _PCA_EIGVAL)) * 255
    return (view.float() + offset.view(3, 1, 1)).round_().clamp_(0, 255).to(torch.uint8)


def random_view(
    image: Image.Image,
    rng: "np.random.Generator",
    scale=None,
    resize: int = 256,
    crop: int = 224,
    flip: bool = False,
    colour_std: float = 0.0,
) -> torch.Tensor:
    """One training view, as the paper's augmentation (Sec. 3.1).

    ``scale`` None: the deterministic centre view (shorter side ``resize``, centre
    crop); an int S: rescale to S and take a random crop; a pair ``(Smin, Smax)``: scale
    jittering, S drawn uniformly per call. ``flip`` mirrors with probability 0.5;
    ``colour_std`` > 0 adds AlexNet's PCA colour shift with that standard deviation.
    """
    if scale is None:
        view = crop_with_mirror(rescale(image, resize), crop, mirror=False)[0]
    else:
        size = int(scale) if isinstance(scale, int) else int(rng.integers(scale[0], scale[1] + 1))
        full = rescale(image, size)
        height, width = full.shape[-2:]
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        view = full[:, top : top + crop, left : left + crop]
    if flip and rng.random() < 0.5:
        view = view.flip(-1)
    if colour_std > 0:
        view = colour_shift(view, torch.from_numpy(rng.normal(0.0, colour_std, size=3)).float())
    return view.contiguous()
