"""Helpers shared by the examples; not part of skvgg.

The scripts in examples/ import this module as ``_common`` (each first puts its own folder on
``sys.path``). It holds only their boilerplate: the command-line options they all take, what
``--weights`` means, the settings of a stand-in run, and the stand-in banner. The skvgg code
(data, pipelines, featurizer, classifier, protocol) stays in each script.
"""

from __future__ import annotations

import argparse


def make_parser(doc):
    """An argument parser described by the first paragraph of the script's docstring ``doc``."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_options(parser):
    """--arch and --weights: which VGG, and where its weights come from."""
    parser.add_argument("--arch", default=None, help="network (vgg16, vgg19, ...); default vgg16, vgg11 for the stand-in")
    parser.add_argument(
        "--weights",
        default=None,
        help='"imagenet" (default with --root), a local .pth file, or "random"; the stand-in defaults to random',
    )


def add_device_options(parser, batch_size_help=None):
    """--device, then --batch-size (default 32; only if ``batch_size_help`` is given), then --num-workers."""
    parser.add_argument("--device", default="auto", help='"auto" (CUDA, else MPS, else CPU), "cpu", "cuda", ...')
    if batch_size_help is not None:
        parser.add_argument("--batch-size", type=int, default=32, help=batch_size_help)
    parser.add_argument("--num-workers", type=int, default=None, help="image decoding threads")


def resolve_weights(weights, standin):
    """--weights as VGGFeaturizer and VGGClassifier take it: None means random (seeded) weights."""
    if weights is None:
        return None if standin else "imagenet"
    return None if weights.lower() in ("random", "none") else weights


def resolve_model(args):
    """``(standin, weights, cheap, arch)`` from the options --root, --weights and --arch.

    ``standin``: no --root, so the script runs on generated data. ``cheap``: a stand-in run
    with random weights (no --weights), which uses the cheapest settings (VGG11, small views).
    """
    standin = args.root is None
    weights = resolve_weights(args.weights, standin)
    cheap = standin and args.weights is None  # random weights: use the cheapest settings
    arch = args.arch or ("vgg11" if cheap else "vgg16")
    return standin, weights, cheap, arch


def print_standin_banner(where, contents, network, weights, goal="for real results"):
    """The banner of a stand-in run: the generated data (``where``), what it holds, and the network.

    ``network`` follows "RANDOM weights " when the weights are random, e.g. ``"(vgg11) at 64 px"``.
    """
    print("=" * 88)
    print(f"STAND-IN RUN on {where}:")
    print(contents, end="")
    print(f", and RANDOM weights {network}." if weights is None else ".")
    print(f"The scores below only show that the code runs. Pass --root DIR (and --weights imagenet) {goal}.")
    print("=" * 88)


def print_standin_footer(standin, weights):
    """The closing reminder of a stand-in run with random weights."""
    if standin and weights is None:
        print("(stand-in data and random weights: these numbers say nothing about VGG features)")
