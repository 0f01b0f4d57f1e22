"""The networks: the paper's configurations (:mod:`skvgg.models.architectures`), the VGG module
(:mod:`skvgg.models.network`), its weights (:mod:`skvgg.models.weights`) and the builder
(:mod:`skvgg.models.zoo`). Their public names are also skvgg's top-level names."""

import importlib

_SUBMODULES = ("architectures", "network", "weights", "zoo")


def __getattr__(name):
    # skvgg.models.network as an attribute, imported on first use (importing the package loads no torch).
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
