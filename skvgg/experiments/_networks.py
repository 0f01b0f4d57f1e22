"""The networks an experiment is given: how their parameters are validated and how the paper's tables name them.

Both harnesses (transfer, ``_transfer``; ImageNet, ``_imagenet_protocols``) take
``arch`` and ``weights`` as the estimators they build do, and look their results up in the
paper's tables by one network key (``"vgg16"``, ``"vgg16+vgg19"`` for the D & E fusion).
"""

from __future__ import annotations

from ..models.architectures import resolve_arch

__all__ = ["ESTIMATOR_PARAMETER", "network_key"]

#: The ``validate_params`` constraint of a parameter passed on to an estimator (``arch``,
#: ``weights``): the estimators built validate their own parameters when fitted, so nested
#: validation stays on and the experiment does not check them a second time.
ESTIMATOR_PARAMETER = "no_validation"


def network_key(arch) -> str:
    """The key of the paper's tables for ``arch``: canonical names joined by ``+`` (``"vgg16+vgg19"``)."""
    archs = [arch] if isinstance(arch, str) else list(arch)
    return "+".join(resolve_arch(a).name for a in archs)
