"""skvgg: the very deep convolutional networks of Simonyan & Zisserman as scikit-learn estimators.

The top level holds the estimators, the networks, the errors and warnings, and the
cache controls. Datasets, metrics, splitters and the paper's experiments live in
their submodules, as in scikit-learn: :mod:`skvgg.datasets`, :mod:`skvgg.metrics`,
:mod:`skvgg.model_selection` and :mod:`skvgg.experiments`.
"""

import importlib
import importlib.abc
import importlib.util
import sys

# Each public name by the module that defines it, imported on first use (PEP 562): `import skvgg`
# costs nothing, so `skvgg --help` and `skvgg --version` answer without loading torch, torchvision
# and scikit-learn (seconds). `from skvgg import VGGClassifier` works as an ordinary import.
_EXPORTS = {
    # estimators
    "classifier": ("VGGClassifier",),
    "featurizer": ("VGGFeaturizer",),
    "imagenet": ("VGGImageNetClassifier",),
    # networks
    "models.architectures": ("list_archs", "resolve_arch"),
    "models.network": ("VGG",),
    "models.zoo": ("build_vgg",),
    "models.weights": ("Preprocessing",),
    # errors and warnings (their one home, skvgg.exceptions, holds the whole tree) and cache controls
    "exceptions": (
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
    ),
    "cache": ("clear_memory_cache",),
    "_pipeline.runtime": ("clear_network_cache",),
    "_allocator": ("keep_freed_memory",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)


# Modules that moved into sub-packages (skvgg.models, skvgg._pipeline, skvgg.dask), by their former
# names: `import skvgg.network` and `from skvgg.weights import ...` (as the docs of 0.1 wrote them),
# and estimators pickled before the move, import the module that now lives at the new path.
MOVED_MODULES = {
    "skvgg.architectures": "skvgg.models.architectures",
    "skvgg.network": "skvgg.models.network",
    "skvgg.weights": "skvgg.models.weights",
    "skvgg.zoo": "skvgg.models.zoo",
    "skvgg.quantize": "skvgg.models._quantize",
    "skvgg._preprocessing": "skvgg.models._preprocessing",
    "skvgg.plan": "skvgg._pipeline.plan",
    "skvgg.views": "skvgg._pipeline.views",
    "skvgg.pipeline": "skvgg._pipeline.batches",
    "skvgg._parallel": "skvgg._pipeline.parallel",
    "skvgg.cuda": "skvgg._pipeline.cuda",
    "skvgg.gpudecode": "skvgg._pipeline.gpudecode",
    "skvgg.runtime": "skvgg._pipeline.runtime",
    "skvgg._runner": "skvgg._pipeline.runner",
    "skvgg._resample": "skvgg._pipeline.resample",
    "skvgg._dask": "skvgg.dask._collections",
    "skvgg._store": "skvgg.dask._store",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a former module name as the module at its new path (one module object, not a copy)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module):
        pass  # executed under its new name already


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())  # before path finders, which would find nothing (or a stale copy)


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
