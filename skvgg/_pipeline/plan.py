"""What the network sees of an image: every view protocol as one immutable plan.

A *plan* is a value, built once by an estimator from its parameters, that says how an
image of any size becomes network views:

* :class:`CenterCrop`: the common single view (shorter side to ``resize``, centre crop
  ``crop``: torchvision's ``ImageClassification`` preset), optionally with its mirror;
* :class:`DenseScale`: the paper's dense evaluation at test scale Q: the whole image
  rescaled to smaller side Q (the network then runs fully convolutionally), optionally
  with its mirror;
* :class:`CropGrid`: the paper's multi-crop evaluation: a ``grid`` x ``grid`` of crops at
  test scale Q, each followed by its mirror (5 x 5 x 2 = 50 views per scale);
* :class:`RandomCrop`: training's augmentation (Sec. 3.1): a random crop at a scale S
  drawn from a range (scale jittering), a random mirror and AlexNet's colour shift.

A :class:`ViewPlan` is a tuple of such groups (each group's views are averaged, the
groups averaged or stacked: ``combine``); a :class:`TrainingPlan` is one random crop per
image. ``plan.layouts(height, width)`` computes the geometry, a tuple of
:class:`GroupLayout` (the rescaled size, the crops, the mirrors), from an image's size
alone. Everything that cuts pixels reads those layouts: the PIL path
(:func:`skvgg._pipeline.views.pil_views`), the tensor path for 4-D batches and GPU-decoded JPEGs
(:func:`skvgg._pipeline.views.tensor_views`), training and the classifier's test-time modes.
Nothing else decides view geometry.

The rescale rule (:func:`rescaled_shape`, torchvision's) and the pixel budget of views
(:func:`check_view_pixels`) live here, once.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ..images import ImageInputError, current_max_pixels

__all__ = [
    "rescaled_shape",
    "center_offset",
    "check_view_pixels",
    "Crop",
    "GroupLayout",
    "CenterCrop",
    "DenseScale",
    "CropGrid",
    "RandomCrop",
    "ViewPlan",
    "TrainingPlan",
]


def rescaled_shape(height: int, width: int, shorter_side: int) -> tuple[int, int]:
    """``(height, width)`` after rescaling the shorter side to ``shorter_side``.

    torchvision's rule (``transforms.functional._compute_resized_output_size``): the
    longer side is ``int(shorter_side * long / short)``, truncated.
    """
    if width <= height:
        return int(shorter_side * height / width), shorter_side
    return shorter_side, int(shorter_side * width / height)


def center_offset(size: int, crop: int) -> int:
    """Offset of a centred ``crop`` along an axis of ``size`` pixels, as torchvision's ``CenterCrop``.

    Python's round (half to even) when the crop fits; when it does not, torchvision pads
    the image (the smaller half before) and the offset is negative: the view's pixels
    outside the image are zeros.
    """
    if crop <= size:
        return int(round((size - crop) / 2.0))
    return -((crop - size) // 2)


def check_view_pixels(height: int, width: int, scaled: tuple[int, int], shorter_side: int) -> None:
    """Refuse a view that is a whole rescaled image of more pixels than the pixel budget.

    ``(height, width)`` is the image's size, ``scaled`` the rescaled ``(height, width)``.
    The budget is :func:`skvgg.images.current_max_pixels` (the caller's decoding scope).

    Raises
    ------
    ImageInputError
        Without an ``index``: the caller knows which item this is.
    """
    budget = current_max_pixels()
    pixels = scaled[0] * scaled[1]
    if budget is not None and pixels > budget:
        raise ImageInputError(
            f"rescaling this {width}x{height} image to shorter side {shorter_side} gives a "
            f"{scaled[1]}x{scaled[0]} view ({pixels / 1e6:.1f} Mpx), more than the pixel budget "
            f"max_pixels={budget}; views that are the whole rescaled image (dense evaluation) must fit it: "
            "use crops (the single centre view, multi-crop), which only compute themselves, or pass a larger max_pixels="
        )


@dataclass(frozen=True)
class Crop:
    """One view: a window of the rescaled image, mirrored after cutting when ``flip``.

    Offsets may be negative, or the window reach past the image, when a centre crop is
    larger than the rescaled image: those pixels are zeros (torchvision's padding).
    """

    top: int
    left: int
    height: int
    width: int
    flip: bool = False

    @property
    def inside(self) -> bool:
        return self.top >= 0 and self.left >= 0


@dataclass(frozen=True)
class GroupLayout:
    """The geometry of one view group of one image.

    Attributes
    ----------
    shorter_side : int
        The scale the image is rescaled to.
    size : (int, int)
        The rescaled image's ``(height, width)``.
    crops : tuple of Crop, or None
        The views, in order; None: the view is the whole rescaled image (dense).
    mirror : bool
        For a whole-image view: it is followed by its mirror image.
    color : tuple of 3 floats, or None
        Training's colour shift (the PCA coefficients ``alpha``), applied to every view.
    """

    shorter_side: int
    size: tuple[int, int]
    crops: tuple | None
    mirror: bool = False
    color: tuple | None = None

    @property
    def dense(self) -> bool:
        """Whether the network runs fully convolutionally on these views (whole images)."""
        return self.crops is None

    @property
    def n_views(self) -> int:
        return (2 if self.mirror else 1) if self.crops is None else len(self.crops)

    @property
    def view_shape(self) -> tuple[int, int]:
        """``(height, width)`` of every view of the group."""
        if self.crops is None:
            return self.size
        return self.crops[0].height, self.crops[0].width

    def resamples(self, height: int, width: int) -> bool:
        """Whether an image of ``height`` x ``width`` pixels is resampled (False: it has the rescaled size)."""
        return self.size != (height, width)


def _check_side(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class CenterCrop:
    """Shorter side to ``resize``, centre crop ``crop`` x ``crop``; with ``mirror``, also the
    centre crop of the mirrored image (flipped before cropping, so it is exact when the
    margin is odd)."""

    resize: int
    crop: int
    mirror: bool = False

    def __post_init__(self):
        _check_side(self.resize, "resize")
        _check_side(self.crop, "crop")

    def layout(self, height: int, width: int) -> GroupLayout:
        size = rescaled_shape(height, width, self.resize)
        top, left = center_offset(size[0], self.crop), center_offset(size[1], self.crop)
        crops = [Crop(top, left, self.crop, self.crop)]
        if self.mirror:
            # The centre crop of the mirrored image is the mirrored crop at the mirrored offset.
            crops.append(Crop(top, size[1] - self.crop - left, self.crop, self.crop, flip=True))
        return GroupLayout(self.resize, size, tuple(crops))


@dataclass(frozen=True)
class DenseScale:
    """The whole image rescaled to smaller side ``scale`` (and, with ``mirror``, its mirror)."""

    scale: int
    mirror: bool = False

    def __post_init__(self):
        _check_side(self.scale, "scale")

    def layout(self, height: int, width: int) -> GroupLayout:
        return GroupLayout(self.scale, rescaled_shape(height, width, self.scale), None, mirror=self.mirror)


@dataclass(frozen=True)
class CropGrid:
    """A ``grid`` x ``grid`` of ``crop`` x ``crop`` views at scale ``scale``, each followed by its
    mirror when ``mirror``; offsets spread evenly from one border to the other."""

    scale: int
    crop: int = 224
    grid: int = 5
    mirror: bool = True

    def __post_init__(self):
        _check_side(self.scale, "scale")
        _check_side(self.crop, "crop")
        _check_side(self.grid, "grid")

    def layout(self, height: int, width: int) -> GroupLayout:
        size = rescaled_shape(height, width, self.scale)
        if min(size) < self.crop:
            raise ValueError(f"multi-crop needs images of at least {self.crop} px after rescaling; got {size[0]}x{size[1]}")
        # torch's float32 linspace and round, as before: offsets must not move by a pixel.
        tops = torch.linspace(0, size[0] - self.crop, self.grid).round().int().tolist()
        lefts = torch.linspace(0, size[1] - self.crop, self.grid).round().int().tolist()
        crops = []
        for top in tops:
            for left in lefts:
                crops.append(Crop(top, left, self.crop, self.crop))
                if self.mirror:
                    crops.append(Crop(top, left, self.crop, self.crop, flip=True))
        return GroupLayout(self.scale, size, tuple(crops))


@dataclass(frozen=True)
class RandomCrop:
    """One training view (the paper's augmentation, Sec. 3.1), drawn per image.

    ``scale`` None: the deterministic centre view (shorter side ``resize``, centre
    crop); an int S: rescale to S and take a random crop; a pair ``(Smin, Smax)``: scale
    jittering, S drawn uniformly. ``flip`` mirrors with probability 0.5; ``color_std``
    > 0 adds AlexNet's PCA colour shift with that standard deviation.
    """

    scale: int | tuple | None = None
    resize: int = 256
    crop: int = 224
    flip: bool = False
    color_std: float = 0.0

    def layout(self, height: int, width: int, rng: np.random.Generator) -> GroupLayout:
        """The view of an image of this size; draws from ``rng`` in a fixed order (S, top, left, flip, colour)."""
        if self.scale is None:
            layout = CenterCrop(self.resize, self.crop).layout(height, width)
            shorter, size, crop = layout.shorter_side, layout.size, layout.crops[0]
        else:
            if isinstance(self.scale, numbers.Integral):
                shorter = int(self.scale)
            else:
                shorter = int(rng.integers(self.scale[0], self.scale[1] + 1))
            size = rescaled_shape(height, width, shorter)
            top = int(rng.integers(0, size[0] - self.crop + 1))
            left = int(rng.integers(0, size[1] - self.crop + 1))
            crop = Crop(top, left, self.crop, self.crop)
        if self.flip and rng.random() < 0.5:
            crop = Crop(crop.top, crop.left, crop.height, crop.width, flip=True)
        color = None
        if self.color_std > 0:
            color = tuple(float(a) for a in np.float32(rng.normal(0.0, self.color_std, size=3)))
        return GroupLayout(shorter, size, (crop,), color=color)


@dataclass(frozen=True)
class ViewPlan:
    """The test-time views of every image: ``groups`` (each one's views averaged), then the
    groups averaged (``combine="mean"``) or concatenated in order (``"stack"``).

    Build one with :meth:`single`, :meth:`featurizer` or :meth:`test_time`.
    """

    groups: tuple
    combine: str = "mean"

    def __post_init__(self):
        if not self.groups:
            raise ValueError("a view plan needs at least one group")
        if self.combine not in ("mean", "stack"):
            raise ValueError(f"combine must be 'mean' or 'stack', got {self.combine!r}")

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def layouts(self, height: int, width: int, rng=None) -> tuple:
        """The :class:`GroupLayout` of each group for an image of ``height`` x ``width`` pixels."""
        return tuple(group.layout(height, width) for group in self.groups)

    @property
    def random(self) -> bool:
        return False

    @classmethod
    def single(cls, resize: int, crop: int, mirror: bool = False) -> ViewPlan:
        """The single centre view (and its mirror)."""
        return cls((CenterCrop(resize, crop, mirror),))

    @classmethod
    def featurizer(cls, resize: int, crop: int, scales, flip: bool, combine: str = "mean") -> ViewPlan:
        """``VGGFeaturizer``'s views: the single centre view (``scales`` None) or one dense group per scale."""
        if scales is None:
            return cls.single(resize, crop, flip)
        return cls(tuple(DenseScale(q, flip) for q in scales), combine)

    @classmethod
    def test_time(cls, resize: int, crop: int, scales, flip: bool, multi_crop, single_view: bool = False) -> ViewPlan:
        """``VGGClassifier``'s test-time modes (paper, Sec. 3.2 and Table 5).

        ``single_view`` or no ``scales``: the centre view (mirrored too with ``flip``,
        unless ``single_view``); otherwise dense evaluation at each scale
        (``multi_crop=False``), the 5x5 grid at each (True), or both ("combine"): one
        group per scale and method, so that both methods weigh equally.
        """
        if single_view or scales is None:
            return cls.single(resize, crop, flip and not single_view)
        groups: list = []
        if multi_crop in (False, "combine"):
            groups += [DenseScale(q, flip) for q in scales]
        if multi_crop in (True, "combine"):
            groups += [CropGrid(q, crop, 5, flip) for q in scales]
        return cls(tuple(groups))


@dataclass(frozen=True)
class TrainingPlan:
    """Training's views: one :class:`RandomCrop` per image, drawn from a per-image generator."""

    view: RandomCrop
    combine: str = "mean"

    @property
    def n_groups(self) -> int:
        return 1

    @property
    def groups(self) -> tuple:
        return (self.view,)

    @property
    def random(self) -> bool:
        return True

    def layouts(self, height: int, width: int, rng=None) -> tuple:
        if rng is None:
            raise ValueError("training views are random: pass the image's generator (rng=)")
        return (self.view.layout(height, width, rng),)
