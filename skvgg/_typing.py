"""Type aliases used in the public API's annotations (read by type checkers and readers only).

Nothing here is checked at run time: the estimators check their parameters with
scikit-learn's ``_parameter_constraints`` and their images with ``check_images``. Only the
standard library is imported, so that importing skvgg's light modules stays light.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ImageCollection", "StrPath", "WeightsSpec"]

#: A file system path as ``open`` accepts it.
StrPath = str | os.PathLike[str]

#: The images of ``X``: a sequence of image files (paths), encoded bytes, binary file objects,
#: image dicts, PIL images or arrays; a 4-D array or tensor; a pandas or narwhals Series, or
#: one-column DataFrame, of paths or binary data (see :mod:`skvgg.images`).
#: One-shot iterators (generators, ``map``) are iterable too but refused at run time.
ImageCollection = Iterable[Any]

#: A ``weights=`` value: None (random), ``"imagenet"`` or a torchvision weights name, a
#: torchvision weights enum member, a checkpoint path or a ``state_dict`` mapping.
WeightsSpec = None | str | os.PathLike[str] | Mapping[str, Any] | enum.Enum
