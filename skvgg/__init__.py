"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators."""

from .architectures import list_archs, resolve_arch
from .network import VGG
from .weights import Preprocessing, WeightsError, WeightsMismatchError, WeightsUnavailableError
from .zoo import build_vgg

__version__ = "0.1.0"

__all__ = [
    "VGG",
    "Preprocessing",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "build_vgg",
    "list_archs",
    "resolve_arch",
]
