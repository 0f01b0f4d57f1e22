"""The six network configurations of the VGG paper's Table 1, and their names.

Each configuration is a list of layer tokens, in the style of torchvision's
``cfgs``: an int ``c`` is a 3x3 convolution with ``c`` output channels, ``"1x1:c"``
is the 1x1 convolution of configuration C, ``"M"`` is a 2x2 max-pool and ``"LRN"``
is the local response normalisation of configuration A-LRN.

Names accepted everywhere an ``arch`` is expected:

========== ============== ============ ==================================
paper      skvgg name     batch norm   torchvision builder
========== ============== ============ ==================================
A          ``vgg11``      ``vgg11_bn`` ``torchvision.models.vgg11``
A-LRN      ``vgg11_lrn``  --           --
B          ``vgg13``      ``vgg13_bn`` ``torchvision.models.vgg13``
C          ``vgg16_1x1``  --           --
D          ``vgg16``      ``vgg16_bn`` ``torchvision.models.vgg16``
E          ``vgg19``      ``vgg19_bn`` ``torchvision.models.vgg19``
========== ============== ============ ==================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArchSpec", "list_archs", "resolve_arch", "CONFIGS"]

CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [
        64, 64, "M", 128, 128, "M",
        256, 256, "1x1:256", "M", 512, 512, "1x1:512", "M", 512, 512, "1x1:512", "M",
    ],
    "D": [
        64, 64, "M", 128, 128, "M",
        256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
    ],
    "E": [
        64, 64, "M", 128, 128, "M",
        256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}  # fmt: skip


@dataclass(frozen=True)
class ArchSpec:
    """One buildable network: a configuration of Table 1, with or without batch norm.

    Attributes
    ----------
    name : str
        Canonical skvgg name (``"vgg16"``, ``"vgg16_bn"``, ``"vgg11_lrn"``...).
    config : str
        Paper letter: ``"A"``, ``"A-LRN"``, ``"B"``, ``"C"``, ``"D"`` or ``"E"``.
    batch_norm : bool
        Whether a BatchNorm2d follows every convolution (torchvision's ``_bn`` models).
    weight_layers : int
        Number of weight layers (convolutions plus the three fully-connected layers).
    torchvision_name : str or None
        Name of the torchvision builder with the same ``state_dict`` layout, or None
        where torchvision has no such network (A-LRN and C).
    """

    name: str
    config: str
    batch_norm: bool
    weight_layers: int
    torchvision_name: str | None

    @property
    def layers(self) -> list:
        return CONFIGS[self.config]

    @property
    def weights_enum_name(self) -> str | None:
        """Name of torchvision's weights enum (``"VGG16_BN_Weights"``), if any."""
        if self.torchvision_name is None:
            return None
        return self.torchvision_name.upper() + "_Weights"


def _count_weight_layers(config: str) -> int:
    return sum(1 for t in CONFIGS[config] if t not in ("M", "LRN")) + 3


def _build_specs() -> dict[str, ArchSpec]:
    plain = {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_1x1", "D": "vgg16", "E": "vgg19"}
    in_torchvision = {"A", "B", "D", "E"}
    specs = {}
    for config, name in plain.items():
        tv = name if config in in_torchvision else None
        specs[name] = ArchSpec(name, config, False, _count_weight_layers(config), tv)
        if config in in_torchvision:
            # torchvision offers a batch-norm twin exactly for these four.
            specs[name + "_bn"] = ArchSpec(name + "_bn", config, True, _count_weight_layers(config), name + "_bn")
    return specs


_SPECS = _build_specs()
# Paper letters name the plain (no batch norm) networks.
_ALIASES = {spec.config: spec.name for spec in _SPECS.values() if not spec.batch_norm}


def list_archs() -> list[str]:
    """Names of every architecture :func:`skvgg.build_vgg` can build.

    Returns
    -------
    names : list of str
        Canonical names, in the order of the paper's Table 1 (each plain network
        followed by its batch-norm twin, where one exists).

    Examples
    --------
    >>> from skvgg import list_archs
    >>> list_archs()[:3]
    ['vgg11', 'vgg11_bn', 'vgg11_lrn']
    """
    return list(_SPECS)


def resolve_arch(arch: str | ArchSpec) -> ArchSpec:
    """Return the :class:`ArchSpec` for a name or paper letter.

    Parameters
    ----------
    arch : str or ArchSpec
        A name from :func:`list_archs` (case-insensitive) or a paper letter
        (``"A"``, ``"A-LRN"``, ``"B"``, ``"C"``, ``"D"``, ``"E"``; ``"A_LRN"`` also works).

    Raises
    ------
    ValueError
        For an unknown name, listing the accepted ones.
    """
    if isinstance(arch, ArchSpec):
        return arch
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a string such as 'vgg16' or 'D', got {type(arch).__name__}")
    key = arch.strip()
    letter = key.upper().replace("_", "-")
    if letter in _ALIASES:
        return _SPECS[_ALIASES[letter]]
    name = key.lower().replace("-", "_")
    if name in _SPECS:
        return _SPECS[name]
    raise ValueError(
        f"Unknown VGG architecture {arch!r}. Expected one of {list_archs()} or a paper configuration letter {list(_ALIASES)}."
    )
