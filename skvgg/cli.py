"""The ``skvgg`` command line: ``demo``, ``featurize``, ``transfer`` and ``archs``.

Exit status: 0 on success; 2 for bad arguments (checked before any image is described);
1 when data, images or weights cannot be used (the message says which and what to do);
130 when interrupted (Ctrl-C); 141 when the reader of the output went away (``| head``).
Output files appear only when complete. Warnings are one line each (``skvgg: warning:``);
scikit-learn's warnings, usual on small data, are counted and summarised once at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A failure to report as ``skvgg: error: ...`` with exit status 1."""


# --- command-line words ---------------------------------------------------------------------

#: Python parameter -> the option that sets it, to phrase library messages in command-line terms.
_OPTIONS = {
    "arch": "--arch",
    "weights": "--weights",
    "layer": "--layer",
    "pooling": "--pooling",
    "scales": "--scales",
    "scale_pooling": "--scale-pooling",
    "batch_size": "--batch-size",
    "num_workers": "--workers",
    "device": "--device",
    "precision": "--precision",
    "max_pixels": "--max-pixels",
    "cache": "--cache",
    "on_error": "--on-error",
    "n_train": "--train",
    "n_test": "--test",
    "n_splits": "--splits",
    "random_state": "--seed",
}
_VALUE = r"""'(?P<q1>[^']*)'|"(?P<q2>[^"]*)"|\((?P<tuple>[^()]*)\)|\[(?P<list>[^\[\]]*)\]|(?P<bare>[\w./~:+-]+)"""
_ASSIGNMENT = re.compile(r"(?<![\w.])(?P<name>" + "|".join(_OPTIONS) + r")=(?:" + _VALUE + ")")
_PARAMETER = re.compile(r"The '(?P<name>\w+)' parameter of \w+ must be")
# Bare parameter names that cannot be ordinary words (they hold an underscore): 'max_pixels' -> '--max-pixels'.
_IDENTIFIER = re.compile(r"(?<![\w.'\"])(?P<name>" + "|".join(n for n in _OPTIONS if "_" in n) + r")(?![\w=])")


def _option_value(match) -> str:
    for group in ("q1", "q2", "bare"):
        if match.group(group) is not None:
            value = match.group(group)
            return "none" if value == "None" else value
    items = match.group("tuple") if match.group("tuple") is not None else match.group("list")
    return ",".join(item.strip().strip("'\"") for item in items.split(",") if item.strip())


def _cli_words(text: str) -> str:
    """A library message in command-line terms: ``weights='x'`` -> ``--weights x``, ``X[2]`` -> ``image 3``."""
    text = text.replace("download=True", "--download")
    text = _ASSIGNMENT.sub(lambda m: f"{_OPTIONS[m.group('name')]} {_option_value(m)}", text)
    text = _PARAMETER.sub(lambda m: f"{_OPTIONS.get(m.group('name'), m.group('name'))} must be", text)
    text = _IDENTIFIER.sub(lambda m: _OPTIONS[m.group("name")], text)
    return re.sub(r"\bX\[(\d+)\]", lambda m: f"image {int(m.group(1)) + 1}", text)


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _image_message(error, n_images: int | None = None) -> str:
    """'image 3 of 12 (/data/x.jpg): reason' from an ImageInputError's attributes."""
    where = "an image" if error.index is None else f"image {error.index + 1}"
    if error.index is not None and n_images is not None:
        where += f" of {n_images}"
    if error.path is not None:
        where += f" ({error.path})"
    elif getattr(error, "description", None):
        where += f" ({error.description})"
    return f"{where}: {_cli_words(error.reason)}"


# --- argument types: checked by argparse, so a bad value exits with status 2 at once ---------


def _integer(text: str, minimum: int, meaning: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{meaning}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{meaning}, got {text!r}")
    return value


def _at_least(minimum: int, meaning: str = ""):
    def parse(text: str) -> int:
        return _integer(text, minimum, meaning)

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in some messages
    return parse


def _int_list(text: str, minimum: int = 1, meaning: str = "") -> list[int]:
    parts = [v for v in text.replace(" ", "").split(",") if v]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {minimum}{meaning}, got {text!r}")
    try:
        return [_integer(v, minimum) for v in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers >= {minimum}{meaning}, got {text!r}"
        ) from None


def _scales(text: str) -> list[int]:
    from .network import DENSE_MIN_SIZE

    meaning = (
        " (the smaller image side in pixels; dense evaluation needs fc6's 7x7 window, "
        f"so at least {DENSE_MIN_SIZE}), e.g. 256,384,512"
    )
    values = _int_list(text, DENSE_MIN_SIZE, meaning)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct scales, got {text!r}")
    return values


def _str_list(text: str) -> list[str]:
    values = [v for v in text.replace(" ", "").split(",") if v]
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one name, got {text!r}")
    return values


def _arch_list(text: str) -> list[str]:
    from .architectures import list_archs, resolve_arch

    names = _str_list(text)
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

    from .network import VGG

    with torch.device("meta"):  # names only: nothing allocated
        return VGG(spec).layer_names


def _layer_list(text: str) -> list[str]:
    from .architectures import list_archs, resolve_arch

    names = _str_list(text)
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


def _weights_choice(text: str) -> str:
    """'imagenet', 'none', a torchvision weights name, or an existing file (names are checked per --arch later)."""
    from .weights import _ENUM_NAME

    if text.lower() in ("imagenet", "none") or (_ENUM_NAME.match(text) and not os.path.exists(text)):
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


def _one_or_many(values: list[str]):
    return values[0] if len(values) == 1 else values


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("skvgg")
    except (ImportError, PackageNotFoundError):
        from . import __version__

        return __version__


# --- archs ----------------------------------------------------------------------------------


def _cmd_archs(args) -> int:
    import torch

    from .architectures import list_archs, resolve_arch
    from .network import VGG

    print(f"{'name':<11} {'paper':<6} {'weight layers':>13} {'parameters':>12}  ImageNet weights")
    for name in list_archs():
        spec = resolve_arch(name)
        with torch.device("meta"):  # count without allocating 500 MB
            params = sum(p.numel() for p in VGG(spec).parameters())
        paper = spec.config + (" +BN" if spec.batch_norm else "")
        weights = spec.weights_enum_name or "none published"
        print(f"{name:<11} {paper:<6} {spec.weight_layers:>13} {params:>12,}  {weights}")
    return 0


# --- featurize ------------------------------------------------------------------------------


def _expand_inputs(inputs: list[str], path_column: str | None) -> list[str]:
    """Image files, directories (searched recursively) and CSV files of paths, in order."""
    import pandas as pd

    from .datasets import IMG_EXTENSIONS

    paths: list[str] = []
    for text in inputs:
        entry = Path(text)
        if entry.is_dir():
            found = sorted(str(p) for p in entry.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
            if not found:
                raise CommandError(f"directory {text} holds no image files ({', '.join(IMG_EXTENSIONS)})")
            paths.extend(found)
        elif entry.suffix.lower() == ".csv":
            if not entry.is_file():
                raise CommandError(f"CSV file {text} not found")
            table = pd.read_csv(entry)
            column = path_column or ("path" if "path" in table.columns else None)
            if column is None and table.shape[1] == 1:
                column = table.columns[0]
            if column not in table.columns:
                raise CommandError(
                    f"{text} has columns {list(table.columns)}; name the one holding image paths with --path-column"
                )
            for value in table[column]:
                if not isinstance(value, str) or not value:
                    raise CommandError(f"{text}: column {column!r} holds {value!r}, expected image paths")
                candidate = Path(value)
                # Relative paths in a CSV are relative to the CSV file, as users write them.
                if not candidate.is_absolute() and not candidate.exists():
                    candidate = entry.parent / candidate
                paths.append(str(candidate))
        else:
            paths.append(text)
    if not paths:
        raise CommandError("no input images")
    return paths


def _check_parquet_engine() -> None:
    """Before describing anything: pandas writes parquet through pyarrow or fastparquet."""
    for engine in ("pyarrow", "fastparquet"):
        try:
            importlib.import_module(engine)
            return
        except ImportError:
            continue
    raise CommandError(
        "writing .parquet needs a parquet engine and neither pyarrow nor fastparquet is installed: "
        "pip install pyarrow (skvgg depends on it; reinstalling skvgg brings it), or write .csv or .npy"
    )


def _write(output: Path, paths: list[str], descriptors: np.ndarray, names) -> None:
    """Write to a temporary file beside ``output``, then rename it into place.

    The rename is atomic within a folder: ``output`` is either absent (or as it was) or
    complete, even when the run is interrupted or the disk fills up while writing.
    """
    import pandas as pd

    suffix = output.suffix.lower()
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    os.close(handle)
    try:
        if suffix == ".npy":
            with open(temporary, "wb") as stream:  # a path would get ".npy" appended
                np.save(stream, descriptors)
        else:
            table = pd.DataFrame(descriptors, columns=list(names))
            table.insert(0, "path", paths)
            if suffix == ".csv":
                table.to_csv(temporary, index=False)
            else:
                table.to_parquet(temporary, index=False)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # the data on disk before the name points at it
        finally:
            os.close(descriptor)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; give it a new file's mode
        os.replace(temporary, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _network_params(args) -> dict:
    """The featurizer parameters that every command takes from the shared network options."""
    params = dict(
        arch=_one_or_many(args.arch),
        weights=None if args.weights.lower() == "none" else args.weights,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        num_workers=args.workers,
        verbose=not args.quiet,
    )
    if getattr(args, "max_pixels", None) is not None:
        # Passed only when given: the estimators' own default applies otherwise.
        params["max_pixels"] = args.max_pixels
    return params


def _check_network(args, layers: list[str]) -> None:
    """Check the network options against each other before anything is loaded (exit 2)."""
    from .architectures import resolve_arch
    from .featurizer import VGGFeaturizer
    from .network import FC_LAYERS
    from .runtime import resolve_device
    from .weights import WeightsError, resolve_weights

    parser = args.parser
    specs = [resolve_arch(name) for name in args.arch]
    weights = None if args.weights.lower() == "none" else args.weights
    if len(specs) > 1 and weights is not None and weights.lower() != "imagenet":
        parser.error(
            f"--weights {args.weights} fits one network; with several --arch names ({','.join(args.arch)}) "
            "use --weights imagenet or --weights none"
        )
    for spec in specs:
        try:
            resolved = resolve_weights(spec, weights)
        except WeightsError as error:
            parser.error(f"--weights {args.weights}: {_one_line(_cli_words(str(error)))}")
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
        resolve_device(args.device)
    except ValueError as error:
        parser.error(_cli_words(str(error)))
    if getattr(args, "max_pixels", None) is not None and "max_pixels" not in VGGFeaturizer().get_params():
        parser.error("--max-pixels: this version of skvgg's VGGFeaturizer has no max_pixels parameter")


def _validated(args, estimator):
    """``estimator`` with its parameters checked as scikit-learn checks them in fit (exit 2 if bad)."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        estimator._validate_params()
    except InvalidParameterError as error:
        args.parser.error(_cli_words(str(error)))
    return estimator


def _check_inputs_exist(paths: list[str]) -> None:
    """Fail before describing anything when a listed file is missing (with --on-error raise)."""
    for index, path in enumerate(paths):
        if not os.path.exists(path):
            problem = "file not found"
        elif not os.path.isfile(path):
            problem = "not a regular file"
        else:
            continue
        raise CommandError(
            f"image {index + 1} of {len(paths)} ({path}): {problem} "
            "(--on-error nan describes the other images and leaves its row NaN)"
        )


def _cmd_featurize(args) -> int:
    from .featurizer import ImageFailureWarning, VGGFeaturizer
    from .images import ImageInputError

    output = Path(args.output)
    if output.suffix.lower() not in (".npy", ".csv", ".parquet"):
        args.parser.error(f"-o {args.output}: the output must end in .parquet, .csv or .npy")
    if output.is_dir():
        args.parser.error(f"-o {args.output} is a directory; expected a file name ending in .parquet, .csv or .npy")
    _check_network(args, args.layer)
    featurizer = _validated(
        args,
        VGGFeaturizer(
            **_network_params(args),
            cache=args.cache,
            layer=_one_or_many(args.layer),
            pooling=args.pooling,
            scales=args.scales,
            flip=args.flip,
            scale_pooling=args.scale_pooling,
            on_error=args.on_error,
        ),
    )
    if output.suffix.lower() == ".parquet":
        _check_parquet_engine()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create the folder of -o {args.output}: {error.strerror or error}") from None
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write into {output.parent} (-o {args.output}): permission denied")
    paths = _expand_inputs(args.inputs, args.path_column)
    if args.on_error == "raise":
        _check_inputs_exist(paths)

    featurizer.fit()
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Reported below, one line, in command-line words.
            warnings.filterwarnings("ignore", category=ImageFailureWarning)
            descriptors = featurizer.transform(paths)
    except ImageInputError as error:
        raise CommandError(
            _image_message(error, len(paths)) + " (--on-error nan describes the other images and leaves its row NaN)"
        ) from None
    seconds = time.perf_counter() - started
    failures = featurizer.failures_
    if failures:
        listing = "; ".join(
            f"image {f['index'] + 1} of {len(paths)} ({f['path']}): {_one_line(_cli_words(f['reason']))}" for f in failures
        )
        print(
            f"skvgg: warning: {len(failures)} of {len(paths)} images could not be read, their rows are NaN: {listing}",
            file=sys.stderr,
        )
    _write(output, paths, descriptors, featurizer.get_feature_names_out())
    print(
        f"{len(paths)} images -> {output} ({descriptors.shape[1]} features, {seconds:.1f} s"
        + (f", {len(failures)} unreadable rows left NaN" if failures else "")
        + ")",
        file=sys.stderr,
    )
    return 0


# --- transfer -------------------------------------------------------------------------------


def _cmd_transfer(args) -> int:
    from .experiments import paper_featurizer, run_transfer
    from .images import ImageInputError

    _check_network(args, ["fc7"])
    params = dict(_network_params(args), cache=args.cache)
    settings = {} if args.scales is None else {"scales": tuple(args.scales)}
    _validated(args, paper_featurizer(args.dataset, **params, **settings))
    try:
        run_transfer(
            args.dataset,
            args.root,
            **params,
            n_splits=args.splits,
            n_train=args.train,
            n_test=args.test,
            scales=args.scales,
            random_state=args.seed,
            download=args.download,
            report=lambda line: print(line, flush=True),
        )
    except ImageInputError as error:
        raise CommandError(_image_message(error)) from None
    return 0


# --- demo -----------------------------------------------------------------------------------


def _cmd_demo(args) -> int:
    from sklearn.datasets import load_digits
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer
    from sklearn.svm import LinearSVC

    from .featurizer import VGGFeaturizer
    from .weights import Preprocessing

    _check_network(args, args.layer)
    layer = ",".join(args.layer)
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target  # 8x8 grayscale, values 0..16
    n_classes = len(np.unique(labels))
    smallest = int(np.bincount(labels).min())
    if args.test_per_class + max(args.per_class) > smallest:
        args.parser.error(
            f"--test-per-class {args.test_per_class} plus --per-class {max(args.per_class)} exceeds the {smallest} "
            "images of the smallest digit class"
        )
    rng = np.random.default_rng(args.seed)
    # A fixed test set, and a pool from which each repeat draws its training images.
    test_idx, pool_idx = [], []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_idx.extend(members[: args.test_per_class])
        pool_idx.extend(members[args.test_per_class : args.test_per_class + max(args.per_class) * 2])
    test_idx, pool_idx = np.array(test_idx), np.array(pool_idx)
    used = np.concatenate([test_idx, pool_idx])

    params = _network_params(args)
    arch, weights = "+".join(args.arch), params["weights"]
    featurizer = _validated(
        args,
        VGGFeaturizer(
            **params,
            layer=_one_or_many(args.layer),
            # Digits are 8x8: the network sees them upscaled to size x size, whole (no crop).
            preprocessing=Preprocessing(resize_size=args.size, crop_size=args.size),
        ),
    )
    print(
        f"skvgg demo: scikit-learn's handwritten digits (load_digits: 8x8 grayscale, {n_classes} classes), "
        f"upscaled to {args.size}x{args.size}\n"
        f"  features: {arch} {layer} ({weights}); classifier: L2 normalisation + LinearSVC, "
        f"the same on raw pixels\n"
        f"  test set: {len(test_idx)} images ({args.test_per_class} per class); "
        f"describing {len(used)} images (a subset, so the demo takes minutes on a CPU) ...",
        flush=True,
    )
    started = time.perf_counter()
    described = featurizer.fit().transform([images[i] for i in used])
    seconds = time.perf_counter() - started
    row = {index: position for position, index in enumerate(used)}
    vgg = lambda idx: described[[row[i] for i in idx]]  # noqa: E731
    raw = lambda idx: images[idx].reshape(len(idx), -1)  # noqa: E731
    print(f"  described in {seconds:.0f} s on {featurizer.device_}\n")
    print(f"  accuracy on the test set, mean +- std over {args.repeats} seeded draws of the training images")
    print(f"  {'train/class':>11}   {'raw pixels':>15}   {f'{arch} {layer}':>15}")
    for per_class in args.per_class:
        results = {"raw": [], "vgg": []}
        for repeat in range(args.repeats):
            draw = np.random.default_rng([args.seed, per_class, repeat])
            train_idx = np.concatenate(
                [draw.choice(pool_idx[labels[pool_idx] == c], per_class, replace=False) for c in range(n_classes)]
            )
            for name, features in (("raw", raw), ("vgg", vgg)):
                model = make_pipeline(Normalizer(), LinearSVC(C=1.0))
                model.fit(features(train_idx), labels[train_idx])
                results[name].append(100 * model.score(features(test_idx), labels[test_idx]))
        cells = [f"{np.mean(results[k]):6.1f} +- {np.std(results[k]):4.1f} %" for k in ("raw", "vgg")]
        print(f"  {per_class:>11}   {cells[0]:>15}   {cells[1]:>15}")
    if weights is None:
        print("\n  (random weights: the VGG column shows no transfer learning; use --weights imagenet)")
    return 0


# --- parser ---------------------------------------------------------------------------------


def _add_network_options(parser, arch_help="network(s); comma-separated names stack several (vgg16,vgg19)"):
    parser.add_argument("--arch", type=_arch_list, default=["vgg16"], help=arch_help + " (default: vgg16)")
    parser.add_argument(
        "--weights",
        type=_weights_choice,
        default="imagenet",
        help="'imagenet', a torchvision weights name (VGG16_Weights.IMAGENET1K_V1), a checkpoint path, "
        "or 'none' for random weights (default: imagenet)",
    )
    parser.add_argument("--batch-size", type=_at_least(1), default=32, help="images per forward pass (default: 32)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1 ...")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument(
        "--workers", type=_at_least(0), default=None, help="decoding threads, 0 for none (default: min(8, CPUs))"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_max_pixels(parser):
    parser.add_argument(
        "--max-pixels",
        type=_at_least(1),
        default=None,
        metavar="N",
        help="refuse images of more than N pixels, read from the file's header before decoding "
        "(default: the featurizer's, about 89 million as Pillow's warning threshold)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skvgg",
        description="VGG networks (Simonyan & Zisserman, ICLR 2015) as scikit-learn estimators.",
        epilog="Exit status: 0 success, 1 unusable data, images or weights, 2 bad arguments, 130 interrupted, "
        "141 output pipe closed (| head).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="transfer learning on scikit-learn's digits vs raw pixels (minutes on a CPU)")
    _add_network_options(demo, arch_help="network(s); comma-separated names stack several")
    demo.add_argument("--layer", type=_layer_list, default=["fc7"], help="descriptor layer (default: fc7)")
    demo.add_argument(
        "--size", type=_at_least(32), default=112, help="side the 8x8 digits are upscaled to, >= 32 (default: 112)"
    )
    demo.add_argument(
        "--per-class", type=_int_list, default=[1, 3, 10, 30], help="training sizes (default: 1,3,10,30)"
    )
    demo.add_argument("--test-per-class", type=_at_least(1), default=30)
    demo.add_argument("--repeats", type=_at_least(1), default=5)
    demo.add_argument("--seed", type=_at_least(0), default=0)
    demo.set_defaults(func=_cmd_demo, parser=demo)

    featurize = sub.add_parser("featurize", help="describe images and write the descriptors to a file")
    featurize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories, or CSV files of paths")
    featurize.add_argument(
        "-o", "--output", required=True, help="OUT.parquet, OUT.csv or OUT.npy (written only when complete)"
    )
    featurize.add_argument("--path-column", help="the CSV column holding paths (default: 'path' or the only column)")
    _add_network_options(featurize)
    _add_max_pixels(featurize)
    featurize.add_argument("--layer", type=_layer_list, default=["fc7"], help="layer(s), comma-separated (default: fc7)")
    featurize.add_argument("--pooling", default="avg", choices=["avg", "max"])
    featurize.add_argument("--scales", type=_scales, default=None, help="dense evaluation scales Q, e.g. 256,384,512")
    featurize.add_argument("--flip", action="store_true", help="average with the mirror image")
    featurize.add_argument("--scale-pooling", default="mean", choices=["mean", "stack"])
    featurize.add_argument("--cache", default=None, help="directory of a descriptor cache shared by runs")
    featurize.add_argument("--on-error", default="raise", choices=["raise", "nan"])
    featurize.set_defaults(func=_cmd_featurize, parser=featurize)

    transfer = sub.add_parser("transfer", help="run the paper's transfer protocol (Table 11) on a dataset")
    transfer.add_argument("dataset", choices=["caltech101", "caltech256", "voc2007", "voc2012"])
    transfer.add_argument("--root", required=True, help="where the dataset is extracted")
    _add_network_options(transfer, arch_help="network(s); vgg16,vgg19 is the paper's Net-D & Net-E fusion")
    _add_max_pixels(transfer)
    transfer.add_argument("--splits", type=_at_least(1), default=None, help="random splits (Caltech; default 3)")
    transfer.add_argument(
        "--train",
        type=_at_least(2, " (20% of each class's training images are held out to choose the SVM's C)"),
        default=None,
        help="training images per class (Caltech; default 30 or 60)",
    )
    transfer.add_argument("--test", type=_at_least(1), default=None, help="test images per class (Caltech-101; default 50)")
    transfer.add_argument("--scales", type=_scales, default=None, help="override the paper's scales Q")
    transfer.add_argument("--cache", default=None, help="directory of a descriptor cache (resumable runs)")
    transfer.add_argument("--download", action="store_true", help="download the dataset with torchvision")
    transfer.add_argument("--seed", type=_at_least(0), default=0)
    transfer.set_defaults(func=_cmd_transfer, parser=transfer)

    archs = sub.add_parser("archs", help="list the six configurations of the paper and their batch-norm variants")
    archs.set_defaults(func=_cmd_archs, parser=archs)
    return parser


def _from_sklearn(category, filename: str) -> bool:
    return category.__module__.split(".")[0] == "sklearn" or "sklearn" in Path(filename).parts


class _WarningReport:
    """``warnings.showwarning`` for a terminal: one line per distinct warning, scikit-learn's counted.

    scikit-learn warns about convergence, undefined metrics and small classes many times
    on small data (hundreds of lines for one ``transfer voc2007``); they are counted and
    summarised once, at the end.
    """

    def __init__(self):
        self.sklearn = Counter()
        self.shown = set()

    def show(self, message, category, filename, lineno, file=None, line=None):
        if _from_sklearn(category, filename):
            self.sklearn[category.__name__] += 1
            return
        text = _one_line(_cli_words(str(message)))
        if (category, text) not in self.shown:
            self.shown.add((category, text))
            print(f"skvgg: warning: {text}", file=sys.stderr)

    def summary(self):
        total = sum(self.sklearn.values())
        if total:
            kinds = ", ".join(f"{name} x {count}" for name, count in self.sklearn.most_common())
            print(
                f"skvgg: warning: {total} scikit-learn warning{'s' * (total > 1)} ({kinds}), "
                "usual when classes have few images (PYTHONWARNINGS=default shows them)",
                file=sys.stderr,
            )


def _run(args) -> int:
    if sys.warnoptions:  # the user asked for warnings their own way (-W, PYTHONWARNINGS): Python's format
        return args.func(args)
    report = _WarningReport()
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # every occurrence reaches the report, which deduplicates
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.showwarning = report.show
        try:
            return args.func(args)
        finally:
            report.summary()


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    from .images import ImageInputError

    try:
        try:
            args = build_parser().parse_args(argv)
        finally:
            sys.stdout.flush()  # --help and --version meet a closed pipe here, not at interpreter exit
        code = _run(args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("skvgg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (| head) has gone: stop quietly, as other command-line tools do.
        # Point stdout at devnull so the interpreter's final flush cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ImageInputError as error:
        print(f"skvgg: error: {_image_message(error)}", file=sys.stderr)
        return 1
    except (CommandError, ValueError, OSError, TypeError, MemoryError) as error:
        # Data, images and weights problems: the message names the item and the remedy.
        print(f"skvgg: error: {_cli_words(str(error))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
