"""``skvgg archs``: the paper's six configurations and their batch-norm variants, as a table."""

from __future__ import annotations

from ._options import wrapped_text

EXAMPLES = """\
example:
  skvgg archs
      name, paper configuration, weight layers, parameters and ImageNet weights of each network;
      any name (or paper letter: A, A-LRN, B, C, D, E) is a valid --arch of the other commands
"""


def add_parser(commands) -> None:
    import argparse

    archs = commands.add_parser(
        "archs",
        help="list the six configurations of the paper and their batch-norm variants",
        description=wrapped_text("List the six configurations of the paper (Table 1) and their batch-norm variants."),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    archs.set_defaults(func=run, parser=archs)


def run(args) -> int:
    import torch

    from ..models.architectures import list_archs, resolve_arch
    from ..models.network import VGG

    print(f"{'name':<11} {'paper':<6} {'weight layers':>13} {'parameters':>12}  ImageNet weights")
    for name in list_archs():
        spec = resolve_arch(name)
        with torch.device("meta"):  # count without allocating 500 MB
            params = sum(p.numel() for p in VGG(spec).parameters())
        paper = spec.config + (" +BN" if spec.batch_norm else "")
        weights = spec.weights_enum_name or "none published"
        print(f"{name:<11} {paper:<6} {spec.weight_layers:>13} {params:>12,}  {weights}")
    return 0
