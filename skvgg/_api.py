"""The one list of skvgg's public modules.

Their ``__all__`` is skvgg's public API: every name gets a page in the API reference
(``docs/check_build.py``), full type hints (``tests/test_packaging.py``) and one home
(``tests/test_public_api.py``). Other modules' ``__all__`` list names for the package's
own use (the view pipeline, runtime, GPU decoding). A submodule may re-export a
top-level name (``skvgg.models.zoo.build_vgg`` is ``skvgg.build_vgg``): it is one object.
"""

from __future__ import annotations

__all__ = ["PUBLIC_MODULES"]

PUBLIC_MODULES = (
    "skvgg",
    "skvgg.exceptions",
    "skvgg.models.architectures",
    "skvgg.models.network",
    "skvgg.models.weights",
    "skvgg.cache",
    "skvgg.models.zoo",
    "skvgg.images",
    "skvgg.datasets",
    "skvgg.model_selection",
    "skvgg.metrics",
    "skvgg.experiments",
    "skvgg.dask",
    "skvgg.plotting",
    "skvgg.testing",
)
