"""How RGB pixels become a network's input: normalisation and the single view's sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Preprocessing"]


@dataclass(frozen=True)
class Preprocessing:
    """How RGB pixels become the network's input tensor.

    Pixels in ``[0, 255]`` are scaled to ``[0, value_range]``, reordered to
    ``channel_order``, then normalised as ``(x - mean) / std`` per channel (``mean``
    and ``std`` are given in ``channel_order`` and in units of ``value_range``).

    Attributes
    ----------
    mean, std : tuple of 3 floats
    channel_order : {"RGB", "BGR"}
    value_range : float
        1.0 for torchvision's ``[0, 1]`` convention, 255.0 for Caffe's.
    resize_size : int
        Shorter side before the centre crop of the single-view transform.
    crop_size : int
        Side of the centre crop (the network's native 224).
    """

    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    channel_order: str = "RGB"
    value_range: float = 1.0
    resize_size: int = 256
    crop_size: int = 224

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ValueError(f"mean and std need 3 values each, std positive; got mean={self.mean}, std={self.std}")

    @classmethod
    def torchvision(cls) -> Preprocessing:
        """torchvision's ImageNet normalisation (RGB in [0, 1], ImageNet mean and std)."""
        return cls()

    @classmethod
    def caffe(cls) -> Preprocessing:
        """The original Caffe release: BGR in [0, 255] minus the mean pixel, no std."""
        return cls(mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), channel_order="BGR", value_range=255.0)

    @classmethod
    def from_transforms(cls, transforms: Any) -> Preprocessing:
        """Read the values from a torchvision ``ImageClassification`` preset."""
        return cls(
            mean=tuple(float(v) for v in transforms.mean),
            std=tuple(float(v) for v in transforms.std),
            resize_size=int(transforms.resize_size[0]),
            crop_size=int(transforms.crop_size[0]),
        )

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 RGB batch ``(N, 3, H, W)`` -> float32 network input, on the batch's device.

        Same operations, in the same order, as torchvision's ``ImageClassification``
        (``convert_image_dtype`` then ``normalize``), so results match it bit for bit.
        """
        x = batch.to(torch.float32) / 255
        if self.value_range != 1.0:
            x = x * self.value_range
        if self.channel_order == "BGR":
            x = x.flip(1)
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x.sub_(mean).div_(std)
