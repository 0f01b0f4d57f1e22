"""Command-line options: argument types checked by argparse, and the network options every command shares.

A bad value fails while the arguments are parsed (exit status 2), before any image is
described; the types import the library only when they are given a value to check, so
``skvgg --help`` loads no network code.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ._messages import cli_words, one_line

# --- argument types: checked by argparse, so a bad value exits with status 2 at once ---------


def _integer(text: str, minimum: int, meaning: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{meaning}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{meaning}, got {text!r}")
    return value


def at_least(minimum: int, meaning: str = ""):
    def parse(text: str) -> int:
        return _integer(text, minimum, meaning)

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in some messages
    return parse


def int_list(text: str, minimum: int = 1, meaning: str = "") -> list[int]:
    parts = [v for v in text.replace(" ", "").split(",") if v]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {minimum}{meaning}, got {text!r}")
    try:
        return [_integer(v, minimum) for v in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {minimum}{meaning}, got {text!r}") from None


def parse_scales(text: str) -> list[int]:
    from ..models.network import DENSE_MIN_SIZE

    meaning = (
        " (the smaller image side in pixels; dense evaluation needs fc6's 7x7 window, "
        f"so at least {DENSE_MIN_SIZE}), e.g. 256,384,512"
    )
    values = int_list(text, DENSE_MIN_SIZE, meaning)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct scales, got {text!r}")
    return values


def str_list(text: str) -> list[str]:
    values = [v for v in text.replace(" ", "").split(",") if v]
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one name, got {text!r}")
    return values


def _arch_list(text: str) -> list[str]:
    from ..models.architectures import list_archs, resolve_arch

    names = str_list(text)
    canonical = []
    for name in names:
        try:
            canonical.append(resolve_arch(name).name)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"unknown architecture {name!r}; expected one of {', '.join(list_archs())} "
                "or a paper configuration letter A, A-LRN, B, C, D, E (see skvgg archs)"
            ) from None
    repeated = sorted({n for n in canonical if canonical.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(repeated)} twice")
    return names


def _layer_names(spec) -> tuple[str, ...]:
    import torch

    from ..models.network import VGG

    with torch.device("meta"):  # names only: nothing allocated
        return VGG(spec).layer_names


def layer_list(text: str) -> list[str]:
    from ..models.architectures import list_archs, resolve_arch

    names = str_list(text)
    known = set()
    for arch in list_archs():
        known.update(_layer_names(resolve_arch(arch)))
    bad = [name for name in names if name not in known]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown layer {', '.join(map(repr, bad))}; VGG layers are named conv1_1 ... conv5_4, pool1 ... pool5, "
            "fc6, fc7 and logits (which convN_M exist depends on --arch)"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names a layer twice")
    return names


def weights_choice(text: str) -> str:
    """'imagenet', 'none', a torchvision weights name, or an existing file (names are checked per --arch later)."""
    from ..models.weights import WEIGHTS_ENUM_NAME

    if text.lower() in ("imagenet", "none") or (WEIGHTS_ENUM_NAME.match(text) and not os.path.exists(text)):
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; expected a checkpoint file (.pth)")
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither imagenet, none (random weights), a torchvision weights name such as "
            "VGG16_Weights.IMAGENET1K_V1, nor an existing checkpoint file"
        )
    return text


def one_or_many(values: list[str]):
    return values[0] if len(values) == 1 else values


def wrapped_text(text: str) -> str:
    """A command's description, wrapped as argparse wraps help (the raw formatter keeps the epilog's layout)."""
    import textwrap

    return textwrap.fill(text, width=100)


# --- the network options every command shares ---------------------------------------------


def _compile_choice(text: str):
    """``--compile``: auto, true or false (the featurizer's ``compile="auto"``, True, False)."""
    word = text.strip().lower()
    if word == "auto":
        return "auto"
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected auto, true or false, got {text!r}")


_compile_choice.__name__ = "auto, true or false"


def add_network_options(parser, arch_help="network(s); comma-separated names stack several (vgg16,vgg19)"):
    parser.add_argument("--arch", type=_arch_list, default=["vgg16"], metavar="NAMES", help=arch_help + " (default: vgg16)")
    parser.add_argument(
        "--weights",
        type=weights_choice,
        default="imagenet",
        metavar="WEIGHTS",
        help="'imagenet', a torchvision weights name (VGG16_Weights.IMAGENET1K_V1), a checkpoint path, "
        "or 'none' for random weights (default: imagenet)",
    )
    parser.add_argument("--batch-size", type=at_least(1), default=32, metavar="N", help="images per forward pass (default: 32)")
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1 (default: auto)"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16", "int8"],
        help="arithmetic of the network: auto is bfloat16 on GPUs and CPUs that compute it natively, float16 on "
        "older GPUs, float32 elsewhere; int8 (CPU only, needs skvgg[int8]) is quantized and compiled; "
        "the output is float32 in every case (default: auto)",
    )
    parser.add_argument(
        "--compile",
        type=_compile_choice,
        default="auto",
        metavar="{auto,true,false}",
        help="run a torch.compile graph instead of the eager network: auto when a run has at least 1000 images "
        "(compiling costs 10-30 s on a CPU), true always, false never; int8 is always compiled (default: auto)",
    )
    parser.add_argument(
        "--decode-threads",
        dest="num_workers",
        type=at_least(0),
        default=None,
        metavar="N",
        help="image decoding threads (per dask worker with --workers), 0 for none (default: min(8, CPUs))",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_decode_option(parser):
    """--decode: where JPEG files are decoded (the featurizer's ``decode``)."""
    parser.add_argument(
        "--decode",
        default="cpu",
        choices=["cpu", "gpu"],
        help="where JPEG files are decoded and resized: cpu (Pillow, the reference) or gpu (nvJPEG, CUDA devices "
        "only; descriptors differ slightly) (default: cpu)",
    )


def add_view_size_options(parser):
    """--resize / --crop: the single view's sizes (the featurizer's ``preprocessing``), normalisation kept."""
    parser.add_argument(
        "--resize",
        type=at_least(32),
        default=None,
        metavar="PIXELS",
        help="single view: the shorter side is resized to PIXELS before the centre crop (default: the weights', 256)",
    )
    parser.add_argument(
        "--crop",
        type=at_least(32),
        default=None,
        metavar="PIXELS",
        help="single view: side of the centre crop, at most --resize (default: the weights', 224)",
    )


def preprocessing_param(args):
    """``--resize``/``--crop`` as a Preprocessing: the first network's normalisation with the sizes given; None if neither."""
    resize, crop = getattr(args, "resize", None), getattr(args, "crop", None)
    if resize is None and crop is None:
        return None
    from dataclasses import replace

    from ..models.architectures import resolve_arch
    from ..models.weights import resolve_weights

    base = resolve_weights(resolve_arch(args.arch[0]), weights_param(args)).preprocessing
    resize = base.resize_size if resize is None else resize
    crop = min(base.crop_size, resize) if crop is None else crop
    if crop > resize:
        args.parser.error(f"--crop {crop} exceeds --resize {resize}: the centre crop is taken from the resized image")
    if getattr(args, "scales", None):
        args.parser.error("--resize and --crop set the single view; with --scales the whole image is rescaled instead")
    return replace(base, resize_size=resize, crop_size=crop)


def add_cluster_options(parser):
    """--workers / --scheduler: describe on a dask cluster (the skvgg[dask] extra)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers",
        type=at_least(0),
        default=None,
        metavar="N",
        help="describe on a new local dask cluster of N worker processes, one network each (0: in this process; "
        "needs skvgg[dask])",
    )
    group.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="join a running dask cluster (tcp://host:8786 or a scheduler file)"
    )
    parser.add_argument(
        "--threads-per-worker", type=at_least(1), default=1, metavar="N", help="tasks at once per --workers process (default: 1)"
    )
    parser.add_argument(
        "--partition-size", type=at_least(1), default=64, metavar="N", help="images per dask task and parquet part (default: 64)"
    )


def uses_cluster(args) -> bool:
    return bool(getattr(args, "workers", None)) or getattr(args, "scheduler", None) is not None


def cluster_client(args):
    """The dask client the cluster options ask for (a context manager), after printing where its dashboard is."""
    import sys

    from ..exceptions import MissingExtraError
    from ._messages import CommandError

    try:
        from ..dask import start_client

        client = start_client(args.workers, args.scheduler, threads_per_worker=args.threads_per_worker)
    except MissingExtraError as error:
        raise CommandError(str(error)) from None
    import importlib.util

    where = f"joined {args.scheduler}" if args.scheduler else "started a local cluster"
    # distributed serves its dashboard only with bokeh installed.
    dashboard = f"dashboard {client.dashboard_link}" if importlib.util.find_spec("bokeh") else "no dashboard (pip install bokeh)"
    print(f"skvgg: dask: {where} of {len(client.nthreads())} worker(s), {dashboard}", file=sys.stderr)
    return client


#: ``--max-pixels none``: no pixel budget (the estimators' ``max_pixels=None``).
NO_LIMIT = "none"


def _max_pixels(text: str):
    if text.strip().lower() == NO_LIMIT:
        return NO_LIMIT
    try:
        return _integer(text, 1)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}; or none for no limit") from None


_max_pixels.__name__ = "integer >= 1 or none"


def add_max_pixels(parser):
    parser.add_argument(
        "--max-pixels",
        type=_max_pixels,
        default=None,
        metavar="N",
        help="refuse images of more than N pixels, read from the file's header before decoding; none: no limit "
        "(default: the featurizer's, about 89 million as Pillow's warning threshold)",
    )


def add_plot_option(parser, what):
    parser.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help=f'also write a figure: {what}; .png, .pdf or .svg (needs matplotlib: pip install "skvgg[plot]")',
    )


def weights_param(args):
    """``--weights`` as the estimators take it: ``none`` is random initialisation (None)."""
    return None if args.weights.lower() == "none" else args.weights


def network_params(args) -> dict:
    """The featurizer parameters that every command takes from the shared network options."""
    params = dict(
        arch=one_or_many(args.arch),
        weights=weights_param(args),
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        num_workers=args.num_workers,
        verbose=not args.quiet,
    )
    if getattr(args, "max_pixels", None) is not None:
        # Passed only when given: the estimators' own default applies otherwise.
        params["max_pixels"] = None if args.max_pixels == NO_LIMIT else args.max_pixels
    return params


def check_network(args, layers: list[str]) -> None:
    """Check the network options against each other before anything is loaded (exit 2)."""
    from .._pipeline.runtime import resolve_device
    from ..featurizer import VGGFeaturizer
    from ..models.architectures import resolve_arch
    from ..models.network import FC_LAYERS
    from ..models.weights import WeightsError, resolve_weights

    parser = args.parser
    specs = [resolve_arch(name) for name in args.arch]
    weights = weights_param(args)
    if len(specs) > 1 and weights is not None and weights.lower() != "imagenet":
        parser.error(
            f"--weights {args.weights} fits one network; with several --arch names ({','.join(args.arch)}) "
            "use --weights imagenet or --weights none"
        )
    for spec in specs:
        try:
            resolved = resolve_weights(spec, weights)
        except WeightsError as error:
            parser.error(f"--weights {args.weights}: {one_line(cli_words(str(error)))}")
        valid = _layer_names(spec)
        bad = [name for name in layers if name not in valid]
        if bad:
            parser.error(f"--layer {','.join(bad)}: {spec.name} has no such layer; it offers {', '.join(valid)}")
        if not resolved.has_classifier and any(name in FC_LAYERS for name in layers):
            parser.error(
                f"--weights {args.weights} has no trained fc layers, so --layer {','.join(layers)} cannot be "
                "computed; choose a convolutional layer such as conv5_3 or pool5"
            )
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(cli_words(str(error)))
    if args.precision == "int8":
        _check_int8(args, device)
    if getattr(args, "decode", "cpu") == "gpu" and device.type != "cuda":
        parser.error(f"--decode gpu decodes JPEG files with nvJPEG on a CUDA device; --device {args.device} is {device}")
    if getattr(args, "max_pixels", None) is not None and "max_pixels" not in VGGFeaturizer().get_params():
        parser.error("--max-pixels: this version of skvgg's VGGFeaturizer has no max_pixels parameter")


def _check_int8(args, device) -> None:
    """--precision int8: a CPU device (exit 2) and the int8 extra installed (exit 1), before anything is loaded."""
    from ..exceptions import MissingExtraError
    from ..models._quantize import check_int8_available
    from ._messages import CommandError

    try:
        check_int8_available(device)
    except ValueError as error:
        args.parser.error(f"--precision int8: {one_line(cli_words(str(error)))}")
    except MissingExtraError as error:
        raise CommandError(f"--precision int8: {one_line(cli_words(str(error)))}") from None


def validated_estimator(args, estimator):
    """``estimator`` with its parameters checked as scikit-learn checks them in fit (exit 2 if bad)."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        args.parser.error(cli_words(str(error)))
    return estimator
