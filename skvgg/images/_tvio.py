"""torchvision's image decoders, called without their deprecation notice and without touching warning filters.

torchvision 0.29 marks ``torchvision.io``'s decoders deprecated in favour of TorchCodec;
skvgg uses two of them on purpose (libpng's exact 16-bit samples, nvJPEG on the GPU),
and the notice, raised on every call, tells skvgg's users about a choice that is not
theirs. ``warnings.catch_warnings()`` would silence it by changing the process-wide
filter list, which is not thread-safe (these functions run in decoding threads, where
another thread's warnings could be lost or a filter left behind). Instead, the operators
the Python functions wrap (``torch.ops.image``, registered when ``torchvision.io`` is
imported) are called directly, after the same argument handling; where a torchvision
release lacks them, the public function is called and its notice shown.
When torchvision removes the decoders, these two functions are the one place to change.
"""

from __future__ import annotations

import torch

__all__ = ["decode_jpegs", "decode_unchanged"]


def _image_op(name):
    """``torch.ops.image.<name>``, or None when this torchvision does not register it."""
    import torchvision.io  # noqa: F401 - registers torch.ops.image

    try:
        return getattr(torch.ops.image, name)
    except (AttributeError, RuntimeError):
        return None


def decode_unchanged(data: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` samples of an encoded image in its own dtype and channels (16-bit PNG: uint16)."""
    from torchvision.io import ImageReadMode, decode_image

    op = _image_op("decode_image")
    if op is None:
        return decode_image(data, mode=ImageReadMode.UNCHANGED)
    return op(data, ImageReadMode.UNCHANGED.value, False)


def decode_jpegs(data: list, device) -> list:
    """RGB ``(3, H, W)`` uint8 tensors on ``device`` of a batch of encoded JPEGs (nvJPEG on CUDA)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    if device.type == "cuda":
        op = _image_op("decode_jpegs_cuda")
        if op is not None:
            return op(data, ImageReadMode.RGB.value, device)
    else:
        op = _image_op("decode_jpeg")
        if op is not None:
            return [op(item, ImageReadMode.RGB.value, False) for item in data]
    return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
