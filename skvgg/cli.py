"""The ``skvgg`` command line: ``demo``, ``featurize``, ``transfer`` and ``archs``.

Exit status: 0 on success, 2 for bad arguments, 1 when data, images or weights cannot
be used (the message says which and what to do).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A failure to report as ``skvgg: error: ...`` with exit status 1."""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _str_list(text: str) -> list[str]:
    return [v for v in text.replace(" ", "").split(",") if v]


def _one_or_many(values: list[str]):
    return values[0] if len(values) == 1 else values


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


def _write(output: Path, paths: list[str], descriptors: np.ndarray, names) -> None:
    import pandas as pd

    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(output, descriptors)
        return
    table = pd.DataFrame(descriptors, columns=list(names))
    table.insert(0, "path", paths)
    if suffix == ".csv":
        table.to_csv(output, index=False)
    else:
        try:
            table.to_parquet(output, index=False)
        except ImportError as error:
            raise CommandError(f"writing {output} needs a parquet engine: pip install pyarrow ({error})") from None


def _network_params(args) -> dict:
    """The featurizer parameters that every command takes from the shared network options."""
    return dict(
        arch=_one_or_many(args.arch),
        weights=None if args.weights.lower() == "none" else args.weights,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        num_workers=args.workers,
        verbose=not args.quiet,
    )


def _cmd_featurize(args) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in (".npy", ".csv", ".parquet"):
        raise CommandError(f"-o {args.output}: the output must end in .parquet, .csv or .npy")
    paths = _expand_inputs(args.inputs, args.path_column)
    from .featurizer import VGGFeaturizer

    featurizer = VGGFeaturizer(
        **_network_params(args),
        cache=args.cache,
        layer=_one_or_many(args.layer),
        pooling=args.pooling,
        scales=args.scales,
        flip=args.flip,
        scale_pooling=args.scale_pooling,
        on_error=args.on_error,
    )
    started = time.perf_counter()
    descriptors = featurizer.fit().transform(paths)
    seconds = time.perf_counter() - started
    _write(output, paths, descriptors, featurizer.get_feature_names_out())
    failed = len(featurizer.failures_)
    print(
        f"{len(paths)} images -> {output} ({descriptors.shape[1]} features, {seconds:.1f} s"
        + (f", {failed} unreadable rows left NaN" if failed else "")
        + ")",
        file=sys.stderr,
    )
    return 0


# --- transfer -------------------------------------------------------------------------------


def _cmd_transfer(args) -> int:
    from .experiments import run_transfer

    run_transfer(
        args.dataset,
        args.root,
        **_network_params(args),
        cache=args.cache,
        n_splits=args.splits,
        n_train=args.train,
        n_test=args.test,
        scales=args.scales,
        random_state=args.seed,
        download=args.download,
    )
    return 0


# --- demo -----------------------------------------------------------------------------------


def _cmd_demo(args) -> int:
    from sklearn.datasets import load_digits
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer
    from sklearn.svm import LinearSVC

    from .featurizer import VGGFeaturizer
    from .weights import Preprocessing

    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target  # 8x8 grayscale, values 0..16
    n_classes = len(np.unique(labels))
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
    featurizer = VGGFeaturizer(
        **params,
        layer=args.layer,
        # Digits are 8x8: the network sees them upscaled to size x size, whole (no crop).
        preprocessing=Preprocessing(resize_size=args.size, crop_size=args.size),
    )
    print(
        f"skvgg demo: scikit-learn's handwritten digits (load_digits: 8x8 grayscale, {n_classes} classes), "
        f"upscaled to {args.size}x{args.size}\n"
        f"  features: {arch} {args.layer} ({weights}); classifier: L2 normalisation + LinearSVC, "
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
    print(f"  {'train/class':>11}   {'raw pixels':>15}   {f'{arch} {args.layer}':>15}")
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
    parser.add_argument("--arch", type=_str_list, default=["vgg16"], help=arch_help + " (default: vgg16)")
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet', a torchvision weights name (VGG16_Weights.IMAGENET1K_V1), a checkpoint path, "
        "or 'none' for random weights (default: imagenet)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1 ...")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: min(8, CPUs))")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skvgg",
        description="VGG networks (Simonyan & Zisserman, ICLR 2015) as scikit-learn estimators.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="transfer learning on scikit-learn's digits vs raw pixels (minutes on a CPU)")
    _add_network_options(demo, arch_help="network(s); comma-separated names stack several")
    demo.add_argument("--layer", default="fc7", help="descriptor layer (default: fc7)")
    demo.add_argument("--size", type=int, default=112, help="side the 8x8 digits are upscaled to (default: 112)")
    demo.add_argument("--per-class", type=_int_list, default=[1, 3, 10, 30], help="training sizes (default: 1,3,10,30)")
    demo.add_argument("--test-per-class", type=int, default=30)
    demo.add_argument("--repeats", type=int, default=5)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    featurize = sub.add_parser("featurize", help="describe images and write the descriptors to a file")
    featurize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories, or CSV files of paths")
    featurize.add_argument("-o", "--output", required=True, help="OUT.parquet, OUT.csv or OUT.npy")
    featurize.add_argument("--path-column", help="the CSV column holding paths (default: 'path' or the only column)")
    _add_network_options(featurize)
    featurize.add_argument("--layer", type=_str_list, default=["fc7"], help="layer(s), comma-separated (default: fc7)")
    featurize.add_argument("--pooling", default="avg", choices=["avg", "max"])
    featurize.add_argument("--scales", type=_int_list, default=None, help="dense evaluation scales Q, e.g. 256,384,512")
    featurize.add_argument("--flip", action="store_true", help="average with the mirror image")
    featurize.add_argument("--scale-pooling", default="mean", choices=["mean", "stack"])
    featurize.add_argument("--cache", default=None, help="directory of a descriptor cache shared by runs")
    featurize.add_argument("--on-error", default="raise", choices=["raise", "nan"])
    featurize.set_defaults(func=_cmd_featurize)

    transfer = sub.add_parser("transfer", help="run the paper's transfer protocol (Table 11) on a dataset")
    transfer.add_argument("dataset", choices=["caltech101", "caltech256", "voc2007", "voc2012"])
    transfer.add_argument("--root", required=True, help="where the dataset is extracted")
    _add_network_options(transfer, arch_help="network(s); vgg16,vgg19 is the paper's Net-D & Net-E fusion")
    transfer.add_argument("--splits", type=int, default=None, help="random splits (Caltech; default 3)")
    transfer.add_argument("--train", type=int, default=None, help="training images per class (Caltech)")
    transfer.add_argument("--test", type=int, default=None, help="test images per class (Caltech)")
    transfer.add_argument("--scales", type=_int_list, default=None, help="override the paper's scales Q")
    transfer.add_argument("--cache", default=None, help="directory of a descriptor cache (resumable runs)")
    transfer.add_argument("--download", action="store_true", help="download the dataset with torchvision")
    transfer.add_argument("--seed", type=int, default=0)
    transfer.set_defaults(func=_cmd_transfer)

    archs = sub.add_parser("archs", help="list the six configurations of the paper and their batch-norm variants")
    archs.set_defaults(func=_cmd_archs)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("skvgg: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError, TypeError) as error:
        # Data, images and weights problems: the message names the item and the remedy.
        print(f"skvgg: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
