"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators.

The top level holds the estimators, the networks, the errors and warnings, and the
cache controls. Datasets, metrics, splitters and the paper's experiments live in
their submodules, as in scikit-learn: :mod:`skvgg.datasets`, :mod:`skvgg.metrics`,
:mod:`skvgg.model_selection` and :mod:`skvgg.experiments`.
"""

import importlib
import importlib.util

# Each public name by the module that defines it, imported on first use (PEP 562): `import skvgg`
# costs nothing, so `skvgg --help` and `skvgg --version` answer without loading torch, torchvision
# and scikit-learn (seconds). `from skvgg import VGGClassifier` works as an ordinary import.
_EXPORTS = {
    # estimators
    "classifier": ("TrainingInterrupted", "VGGClassifier"),
    "featurizer": ("VGGFeaturizer",),
    "imagenet": ("VGGImageNetClassifier",),
    # networks
    "architectures": ("list_archs", "resolve_arch"),
    "network": ("VGG",),
    "zoo": ("build_vgg",),
    "weights": ("Preprocessing", "WeightsCorruptedError", "WeightsError", "WeightsMismatchError", "WeightsUnavailableError"),
    # errors, warnings and cache controls
    "images": ("ImageFailureWarning", "ImageInputError"),
    "datasets._base": ("DatasetDownloadError", "DatasetFormatError", "DatasetNotFoundError"),
    "cache": ("CacheIntegrityWarning", "CacheReadOnlyWarning", "CacheWarning", "clear_memory_cache"),
    "runtime": ("clear_network_cache",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name == "__version__":
        # Read on first use, from the installed metadata (skvgg._version): one version source.
        from ._version import package_version

        value = package_version()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # A submodule (skvgg.datasets), reachable as an attribute as when the package imported it eagerly.
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"__version__"})
