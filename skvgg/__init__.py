"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators.

The top level holds the estimators, the networks, the errors and warnings, and the
cache controls. Datasets, metrics, splitters and the paper's experiments live in
their submodules, as in scikit-learn: :mod:`skvgg.datasets`, :mod:`skvgg.metrics`,
:mod:`skvgg.model_selection` and :mod:`skvgg.experiments`.
"""

from .architectures import list_archs, resolve_arch
from .cache import CacheIntegrityWarning, CacheReadOnlyWarning, CacheWarning, clear_memory_cache
from .classifier import TrainingInterrupted, VGGClassifier
from .datasets._base import DatasetDownloadError, DatasetFormatError, DatasetNotFoundError
from .featurizer import ImageFailureWarning, VGGFeaturizer
from .images import ImageInputError
from .network import VGG
from .runtime import clear_network_cache
from .weights import Preprocessing, WeightsCorruptedError, WeightsError, WeightsMismatchError, WeightsUnavailableError
from .zoo import build_vgg

__version__ = "0.1.0"

__all__ = [
    # estimators
    "VGGClassifier",
    "VGGFeaturizer",
    # networks
    "VGG",
    "Preprocessing",
    "build_vgg",
    "list_archs",
    "resolve_arch",
    # errors and warnings
    "CacheIntegrityWarning",
    "CacheReadOnlyWarning",
    "CacheWarning",
    "DatasetDownloadError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageFailureWarning",
    "ImageInputError",
    "TrainingInterrupted",
    "WeightsCorruptedError",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    # cache controls
    "clear_memory_cache",
    "clear_network_cache",
]
