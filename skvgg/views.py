"""How a decoded RGB image becomes network input: the shared image pipeline.

Every estimator turns images into uint8 tensors ``(3, H, W)`` here, and only here;
normalisation happens later, on the compute device, batch by batch
(:meth:`skvgg.Preprocessing.normalize`), which keeps host-to-device copies 4x smaller.

Resizing and cropping call torchvision's own functional transforms on the PIL image, so
the single view is exactly torchvision's ``ImageClassification`` preset (shorter side to
256 with antialiased bilinear resampling, centre crop 224) and descriptors agree with
``weights.transforms()`` pipelines to the bit.

Memory: crops (the centre view, multi-crop, random training crops) never materialise
much more than themselves. When the whole rescaled image would be large (an extreme
aspect ratio: a 60000x1 px image at shorter side 256 is 15 million pixels wide), only
the crop is computed, from the source pixels it needs, with the same pixels as the
whole resize (:func:`skvgg._resample.bilinear_region`). A view that *is* the whole
rescaled image (dense evaluation) is refused with an :class:`~skvgg.images.ImageInputError`
when it has more pixels than the pixel budget (:func:`skvgg.images.current_max_pixels`).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from ._resample import bilinear_region
from .images import ImageInputError, current_max_pixels

__all__ = [
    "rescaled_size",
    "rescale",
    "rescaled_crop",
    "center_view",
    "dense_view",
    "crop_with_mirror",
    "grid_views",
    "random_view",
    "color_shift",
]

# Below this many pixels the whole rescaled image is computed by torchvision/Pillow and
# cropped, as before; above it only the crops are (16 MiB in Pillow's 4-byte RGB).
WHOLE_RESIZE_PIXELS = 4 * 2**20


def rescaled_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """``(width, height)`` after rescaling the shorter side to ``shorter_side``.

    torchvision's rule (``transforms.functional._compute_resized_output_size``): the
    longer side is ``int(shorter_side * long / short)``, truncated.
    """
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shorter_side * long / short)
    return (shorter_side, new_long) if width <= height else (new_long, shorter_side)


def rescale(image: Image.Image, shorter_side: int) -> torch.Tensor:
    """Isotropically rescale so the shorter side is ``shorter_side``; uint8 ``(3, H, W)``.

    This is the paper's rescaling to training scale S or test scale Q, and the first
    step of torchvision's single-view preset (with ``shorter_side=256``).

    Raises
    ------
    ImageInputError
        If the rescaled image would have more pixels than the pixel budget (its
        ``index`` is None: the caller knows which item this is).
    """
    width, height = rescaled_size(*image.size, shorter_side)
    budget = current_max_pixels()
    if budget is not None and width * height > budget:
        raise ImageInputError(
            f"rescaling this {image.width}x{image.height} image to shorter side {shorter_side} gives a "
            f"{width}x{height} view ({width * height / 1e6:.1f} Mpx), more than the pixel budget "
            f"max_pixels={budget}; views that are the whole rescaled image (dense evaluation) must fit it: "
            "use crops (the single centre view, multi-crop), which only compute themselves, or pass a larger max_pixels="
        )
    return _rescale(image, shorter_side)


def _rescale(image, shorter_side):
    # Unchecked: for crops of a rescaled image that is small (<= WHOLE_RESIZE_PIXELS).
    resized = TF.resize(image, shorter_side, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.pil_to_tensor(resized)


def rescaled_crop(image: Image.Image, shorter_side: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """``rescale(image, shorter_side)[:, top:top + height, left:left + width]``, pixel for pixel.

    The whole rescaled image is computed only when it is small
    (``WHOLE_RESIZE_PIXELS``); otherwise only the crop is.
    """
    size = rescaled_size(*image.size, shorter_side)
    if size[0] * size[1] <= WHOLE_RESIZE_PIXELS:
        return _rescale(image, shorter_side)[:, top : top + height, left : left + width]
    region = bilinear_region(image, size, top, left, height, width)
    if region.ndim == 2:  # one band ('L')
        region = region[:, :, np.newaxis]
    return torch.from_numpy(region).permute(2, 0, 1).contiguous()


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
    """The common single view: shorter side to ``resize``, centre crop ``crop``.

    Only the crop is computed when the rescaled image would be large; the pixels are
    the same (torchvision's ``Resize`` then ``CenterCrop``).
    """
    width, height = rescaled_size(*image.size, resize)
    if width * height <= WHOLE_RESIZE_PIXELS:
        return crop_with_mirror(_rescale(image, resize), crop, mirror)
    if crop > width or crop > height:  # padded, as torchvision pads: needs the whole image
        return crop_with_mirror(rescale(image, resize), crop, mirror)
    # torchvision's CenterCrop offsets (Python's round: half to even).
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    views = [rescaled_crop(image, resize, top, left, crop, crop)]
    if mirror:
        # The centre crop of the mirrored image is the mirrored crop at the mirrored offset.
        mirror_left = width - crop - left
        same = mirror_left == left
        views.append((views[0] if same else rescaled_crop(image, resize, top, mirror_left, crop, crop)).flip(-1))
    return views


def dense_view(image: Image.Image, scale: int, mirror: bool = False) -> list[torch.Tensor]:
    """The paper's dense-evaluation input at test scale Q: the whole rescaled image.

    Refused (:class:`~skvgg.images.ImageInputError`) when over the pixel budget.
    """
    full = rescale(image, scale)
    return [full, full.flip(-1)] if mirror else [full]


def grid_views(image: Image.Image, scale: int, crop: int = 224, grid: int = 5, mirror: bool = True) -> list[torch.Tensor]:
    """The paper's multi-crop evaluation at test scale Q: a ``grid`` x ``grid`` of crops.

    Crop offsets are spread evenly from one border to the other along each axis; with
    ``mirror`` each crop's mirror image follows it (5 x 5 x 2 = 50 views per scale).
    """
    width, height = rescaled_size(*image.size, scale)
    if min(height, width) < crop:
        raise ValueError(f"multi-crop needs images of at least {crop} px after rescaling; got {height}x{width}")
    tops = torch.linspace(0, height - crop, grid).round().int().tolist()
    lefts = torch.linspace(0, width - crop, grid).round().int().tolist()
    if width * height <= WHOLE_RESIZE_PIXELS:
        full = _rescale(image, scale)

        def cut(top, left):
            return full[:, top : top + crop, left : left + crop]

    else:

        def cut(top, left):
            return rescaled_crop(image, scale, top, left, crop, crop)

    views = []
    for top in tops:
        for left in lefts:
            view = cut(top, left)
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


def color_shift(view: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Add the PCA color offset ``eigvec @ (alpha * eigval)`` to every pixel (uint8 in, uint8 out)."""
    offset = (_PCA_EIGVEC @ (alpha * _PCA_EIGVAL)) * 255
    return (view.float() + offset.view(3, 1, 1)).round_().clamp_(0, 255).to(torch.uint8)


def random_view(
    image: Image.Image,
    rng: "np.random.Generator",
    scale=None,
    resize: int = 256,
    crop: int = 224,
    flip: bool = False,
    color_std: float = 0.0,
) -> torch.Tensor:
    """One training view, as the paper's augmentation (Sec. 3.1).

    ``scale`` None: the deterministic centre view (shorter side ``resize``, centre
    crop); an int S: rescale to S and take a random crop; a pair ``(Smin, Smax)``: scale
    jittering, S drawn uniformly per call. ``flip`` mirrors with probability 0.5;
    ``color_std`` > 0 adds AlexNet's PCA color shift with that standard deviation.
    """
    if scale is None:
        view = center_view(image, resize, crop, mirror=False)[0]
    else:
        size = int(scale) if isinstance(scale, int) else int(rng.integers(scale[0], scale[1] + 1))
        width, height = rescaled_size(*image.size, size)
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        view = rescaled_crop(image, size, top, left, crop, crop)
    if flip and rng.random() < 0.5:
        view = view.flip(-1)
    if color_std > 0:
        view = color_shift(view, torch.from_numpy(rng.normal(0.0, color_std, size=3)).float())
    return view.contiguous()
