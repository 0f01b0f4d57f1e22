"""torchvision's image decoders, called without their deprecation notice.

torchvision 0.29 marks ``torchvision.io``'s decoders deprecated in favour of TorchCodec;
skvgg uses two of them on purpose (libpng's exact 16-bit samples, nvJPEG on the GPU),
and the notice, raised on every call, tells skvgg's users about a choice that is not
theirs. When torchvision removes them, these two functions are the one place to change.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["decode_unchanged", "decode_jpegs"]


def decode_unchanged(data: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` samples of an encoded image in its own dtype and channels (16-bit PNG: uint16)."""
    from torchvision.io import ImageReadMode, decode_image

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io")
        return decode_image(data, mode=ImageReadMode.UNCHANGED)


def decode_jpegs(data: list, device) -> list:
    """RGB ``(3, H, W)`` uint8 tensors on ``device`` of a batch of encoded JPEGs (nvJPEG on CUDA)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io")
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
