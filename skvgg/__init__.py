"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators."""

from .architectures import list_archs, resolve_arch
from .featurizer import ImageFailureWarning, VGGFeaturizer
from .images import ImageInputError
from .network import VGG
from .weights import Preprocessing, WeightsError, WeightsMismatchError, WeightsUnavailableError
from .zoo import build_vgg

__version__ = "0.1.0"

__all__ = [
    "VGG",
    "VGGFeaturizer",
    "ImageFailureWarning",
    "ImageInputError",
    "Preprocessing",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "build_vgg",
    "list_archs",
    "resolve_arch",
]
