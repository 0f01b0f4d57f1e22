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

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

__all__ = ["rescale", "center_view", "dense_view", "crop_with_mirror"]


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
