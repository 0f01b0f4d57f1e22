"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators."""

from .architectures import list_archs, resolve_arch
from .cache import CacheIntegrityWarning, CacheReadOnlyWarning, CacheWarning
from .classifier import VGGClassifier
from .datasets import (
    VOC_CLASSES,
    DatasetDownloadError,
    DatasetFormatError,
    DatasetNotFoundError,
    load_caltech101,
    load_caltech256,
    load_image_folder,
    load_voc,
    load_voc2007,
    load_voc2012,
)
from .featurizer import ImageFailureWarning, VGGFeaturizer
from .images import ImageInputError
from .metrics import (
    make_voc_map_scorer,
    mean_class_recall,
    mean_class_recall_scorer,
    voc07_map_scorer,
    voc12_map_scorer,
    voc_average_precision,
    voc_mean_average_precision,
)
from .model_selection import CALTECH101_PROTOCOL, CALTECH256_PROTOCOL, PerClassHoldOut, PerClassSplit, validation_split
from .network import VGG
from .weights import Preprocessing, WeightsCorruptedError, WeightsError, WeightsMismatchError, WeightsUnavailableError
from .zoo import build_vgg

__version__ = "0.1.0"

__all__ = [
    "CALTECH101_PROTOCOL",
    "CALTECH256_PROTOCOL",
    "VOC_CLASSES",
    "CacheIntegrityWarning",
    "CacheReadOnlyWarning",
    "CacheWarning",
    "DatasetDownloadError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "PerClassHoldOut",
    "PerClassSplit",
    "load_caltech101",
    "load_caltech256",
    "load_image_folder",
    "load_voc",
    "load_voc2007",
    "load_voc2012",
    "make_voc_map_scorer",
    "mean_class_recall",
    "mean_class_recall_scorer",
    "validation_split",
    "voc07_map_scorer",
    "voc12_map_scorer",
    "voc_average_precision",
    "voc_mean_average_precision",
    "VGG",
    "VGGClassifier",
    "VGGFeaturizer",
    "ImageFailureWarning",
    "ImageInputError",
    "Preprocessing",
    "WeightsCorruptedError",
    "WeightsError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "build_vgg",
    "list_archs",
    "resolve_arch",
]
