"""``skvgg evaluate imagenet ROOT``: the paper's ImageNet test protocols (Tables 3-5), as a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._messages import CommandError, cli_words, one_line
from ._options import add_max_pixels, add_plot_option, at_least, str_list, weights_choice, weights_param, wrapped_text

TABLE_FORMATS = (".csv", ".json")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

EXAMPLES = """\
examples:
  skvgg evaluate imagenet /data/imagenet-val -o vgg16.csv
      every protocol of Tables 3-5 for VGG16 with torchvision's weights, the table also written to vgg16.csv
  skvgg evaluate imagenet /data/imagenet-val --arch vgg16,vgg19,vgg16+vgg19 --protocols multi-scale
      Table 6's fusion of Net-D and Net-E beside each network alone, dense multi-scale evaluation
  skvgg evaluate imagenet /data/imagenet-val --per-class 5 --precision float32,bfloat16 --plot errors.png
      a quick run on 5,000 images in two precisions, with the figure of error against images/s
"""


def _networks(text: str) -> list[str]:
    """Comma-separated networks; ``a+b`` fuses two (checked at once: exit 2 for an unknown name)."""
    from ..models.architectures import list_archs, resolve_arch

    entries = str_list(text)
    for entry in entries:
        members = [m for m in entry.split("+") if m]
        if not members:
            raise argparse.ArgumentTypeError(f"empty network in {text!r}")
        for member in members:
            try:
                resolve_arch(member)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"unknown architecture {member!r}; expected one of {', '.join(list_archs())} or a paper "
                    "configuration letter A, A-LRN, B, C, D, E; join names with + to fuse networks (vgg16+vgg19)"
                ) from None
    return entries


def _protocols(text: str) -> list[str]:
    from ..experiments import IMAGENET_PROTOCOLS

    names = str_list(text)
    unknown = [name for name in names if name not in IMAGENET_PROTOCOLS]
    if unknown:
        expected = ", ".join(IMAGENET_PROTOCOLS)
        raise argparse.ArgumentTypeError(f"unknown protocol {', '.join(unknown)}; expected some of {expected}")
    return names


def _precisions(text: str) -> list[str]:
    names = str_list(text)
    unknown = [name for name in names if name not in PRECISIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown precision {', '.join(unknown)}; expected some of {', '.join(PRECISIONS)}")
    return names


def add_parser(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate the weights' own classifier under the paper's test protocols",
        description=wrapped_text(
            "Evaluate each network's own 1000-way classifier (no training) under the paper's test protocols, "
            "on a dataset named after the command (today: imagenet, the ILSVRC-2012 validation set)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    datasets = evaluate.add_subparsers(
        dest="dataset", required=True, metavar="DATASET", help="the dataset to evaluate on: imagenet"
    )
    imagenet = datasets.add_parser(
        "imagenet",
        help="top-1/top-5 error on the ILSVRC-2012 validation set (Tables 3-5)",
        description=wrapped_text(
            "Run the paper's ImageNet test protocols (Tables 3-5) with each network's own 1000-way head and "
            "print the errors beside the paper's and torchvision's published ones."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imagenet.add_argument(
        "root", metavar="ROOT", help="the validation set: devkit layout, torchvision's val/ layout, or a path,label CSV"
    )
    imagenet.add_argument(
        "--arch",
        type=_networks,
        default=["vgg16"],
        metavar="NAMES",
        help="network(s), comma-separated; a+b fuses (vgg16,vgg19,vgg16+vgg19)",
    )
    imagenet.add_argument(
        "--weights",
        type=weights_choice,
        default="imagenet",
        metavar="WEIGHTS",
        help="'imagenet', a torchvision weights name, a checkpoint path, or 'none' for random weights (default: imagenet)",
    )
    imagenet.add_argument(
        "--protocols",
        type=_protocols,
        default=None,
        metavar="NAMES",
        help="comma-separated: center-crop, dense-256, dense-384, multi-scale-256, multi-scale-384, multi-scale, "
        "multi-crop, multi-crop+dense (default: all)",
    )
    imagenet.add_argument(
        "--precision",
        type=_precisions,
        default=["auto"],
        metavar="NAMES",
        help="comma-separated, each a row: auto, float32, bfloat16, float16",
    )
    imagenet.add_argument("--per-class", type=at_least(1), default=None, metavar="K", help="first K images of each class")
    imagenet.add_argument(
        "--layout",
        default="auto",
        choices=["auto", "devkit", "torchvision", "csv"],
        help="how ROOT is laid out (default: auto, recognised from its files)",
    )
    imagenet.add_argument("--cache", default=None, metavar="DIR", help="cache of posteriors (resumable, reusable runs)")
    imagenet.add_argument("-o", "--output", default=None, metavar="FILE", help="write the table to FILE (.csv or .json)")
    add_plot_option(imagenet, "error against images/s per protocol")
    imagenet.add_argument("--batch-size", type=at_least(1), default=32, metavar="N", help="views per forward pass (default: 32)")
    imagenet.add_argument("--device", default="auto", metavar="DEVICE", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1 ...")
    imagenet.add_argument(
        "--decode-threads",
        dest="num_workers",
        type=at_least(0),
        default=None,
        metavar="N",
        help="image decoding threads (default: min(8, CPUs))",
    )
    add_max_pixels(imagenet)
    imagenet.add_argument("--seed", type=at_least(0), default=0, metavar="N", help="seeds random weights (--weights none)")
    imagenet.set_defaults(func=run, parser=imagenet)


def _check(args) -> Path | None:
    """Weights against each network, the device and the output name (exit 2), before any image is read."""
    from .._pipeline.runtime import resolve_device
    from ..models.architectures import resolve_arch
    from ..models.weights import WeightsError, resolve_weights

    weights = weights_param(args)
    for entry in args.arch:
        for member in entry.split("+"):
            spec = resolve_arch(member)
            try:
                resolved = resolve_weights(spec, weights)
            except WeightsError as error:
                args.parser.error(f"--weights {args.weights} for {spec.name}: {one_line(cli_words(str(error)))}")
            if not resolved.has_classifier:
                args.parser.error(f"--weights {args.weights} has no trained 1000-way classifier to evaluate")
    try:
        resolve_device(args.device)
    except ValueError as error:
        args.parser.error(cli_words(str(error)))
    if args.output is None:
        return None
    output = Path(args.output).expanduser()
    if output.suffix.lower() not in TABLE_FORMATS or output.is_dir():
        args.parser.error(f"-o {args.output}: expected a file name ending in .csv or .json")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create the folder of -o {args.output}: {error.strerror or error}") from None
    return output


def _write_table(table, output: Path) -> None:
    from ..dask._store import atomic_write

    if output.suffix.lower() == ".csv":
        atomic_write(output, lambda temporary: table.to_csv(temporary, index=False))
    else:
        atomic_write(output, lambda temporary: table.to_json(temporary, orient="records", indent=2))


SHOWN = [
    "network", "precision", "protocol", "table", "images", "top1_error", "top5_error", "paper_top1_error",
    "paper_top5_error", "torchvision_top1_error", "torchvision_top5_error", "images_per_second",
]  # fmt: skip


def run(args) -> int:
    from ..experiments import run_imagenet
    from ._output import check_plot_option, write_figure

    output = _check(args)
    plot_file = check_plot_option(args)
    params = dict(batch_size=args.batch_size, device=args.device, num_workers=args.num_workers)
    if args.max_pixels is not None:
        params["max_pixels"] = args.max_pixels
    table = run_imagenet(
        args.root, arch=args.arch, weights=weights_param(args), protocols=args.protocols, precision=args.precision,
        per_class=args.per_class, layout=args.layout, cache=args.cache, random_state=args.seed,
        report=lambda line: print(line, flush=True), **params,
    )  # fmt: skip
    print(table[SHOWN].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if output is not None:
        _write_table(table, output)
        print(f"  table written to {output}")
    if plot_file is not None:
        from ..plotting import plot_imagenet_protocols

        ax = plot_imagenet_protocols(table, title=f"ImageNet val: {', '.join(args.arch)} ({args.weights})")
        write_figure(ax.figure, plot_file)
        print(f"  figure written to {plot_file}")
    return 0
