"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators."""

import importlib
import importlib.util

# Each public name by the module that defines it, imported on first use (PEP 562): `import skvgg`
# costs nothing, so `skvgg --help` and `skvgg --version` answer without loading torch, torchvision
# and scikit-learn (seconds). `from skvgg import VGGClassifier` works as an ordinary import.
_EXPORTS = {
    "architectures": ("list_archs", "resolve_arch"),
    "cache": ("CacheIntegrityWarning", "CacheReadOnlyWarning", "CacheWarning"),
    "classifier": ("VGGClassifier",),
    "datasets": (
        "VOC_CLASSES",
        "DatasetDownloadError",
        "DatasetFormatError",
        "DatasetNotFoundError",
        "load_caltech101",
        "load_caltech256",
        "load_image_folder",
        "load_voc",
        "load_voc2007",
        "load_voc2012",
    ),
    "featurizer": ("ImageFailureWarning", "VGGFeaturizer"),
    "images": ("ImageInputError",),
    "metrics": (
        "make_voc_map_scorer",
        "mean_class_recall",
        "mean_class_recall_scorer",
        "voc07_map_scorer",
        "voc12_map_scorer",
        "voc_average_precision",
        "voc_mean_average_precision",
    ),
    "model_selection": ("CALTECH101_PROTOCOL", "CALTECH256_PROTOCOL", "PerClassHoldOut", "PerClassSplit", "validation_split"),
    "network": ("VGG",),
    "weights": ("Preprocessing", "WeightsCorruptedError", "WeightsError", "WeightsMismatchError", "WeightsUnavailableError"),
    "zoo": ("build_vgg",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__version__ = "0.1.0"

__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # A submodule (skvgg.datasets), reachable as an attribute as when the package imported it eagerly.
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
