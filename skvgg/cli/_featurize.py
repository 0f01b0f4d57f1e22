"""``skvgg featurize``: describe image files, folders or CSV listings and write the descriptors to a file."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from pathlib import Path

from ._messages import CommandError, _cli_words, _image_message, _one_line
from ._options import (
    _add_cluster_options,
    _add_max_pixels,
    _add_network_options,
    _check_network,
    _cluster,
    _layer_list,
    _network_params,
    _one_or_many,
    _scales,
    _uses_cluster,
    _validated,
)
from ._output import _check_output_name, _prepare_folder, _write

#: Said with every failure to read an image, as the way to describe the others regardless.
_ON_ERROR_NAN = "(--on-error nan describes the other images and leaves its row NaN)"


def add_parser(commands) -> None:
    featurize = commands.add_parser("featurize", help="describe images and write the descriptors to a file")
    featurize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories, or CSV files of paths")
    featurize.add_argument(
        "-o",
        "--output",
        required=True,
        help="OUT.parquet, OUT.csv or OUT.npy (written only when complete); OUT.parquet is a resumable dataset "
        "directory (one part per --partition-size images) with --workers/--scheduler or when it is a directory already",
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
    _add_cluster_options(featurize)
    featurize.set_defaults(func=run, parser=featurize)


def _expand_inputs(inputs: list[str], path_column: str | None) -> list[str]:
    """Image files, directories (walked for what Pillow identifies) and CSV files of paths, in order.

    The rules are :func:`skvgg.images.expand_inputs`'s; skipped files are named on stderr.
    """
    from ..images import expand_inputs

    try:
        return expand_inputs(inputs, path_column)
    except ValueError as error:
        raise CommandError(str(error)) from None


def _check_inputs_exist(paths: list[str]) -> None:
    """Fail before describing anything when a listed file cannot be opened (with --on-error raise)."""
    from ..images import path_problem

    for index, path in enumerate(paths):
        problem = path_problem(path)
        if problem is not None:
            raise CommandError(f"image {index + 1} of {len(paths)} ({path}): {problem} {_ON_ERROR_NAN}")


def _dataset(args, output: Path) -> bool:
    """Whether -o names a parquet dataset directory (parts) rather than one file."""
    return output.suffix.lower() == ".parquet" and (_uses_cluster(args) or output.is_dir())


def run(args) -> int:
    from ..featurizer import ImageFailureWarning, VGGFeaturizer
    from ..images import ImageInputError

    output = Path(args.output)
    _check_output_name(args, output)
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
    dataset = _dataset(args, output)
    _prepare_folder(args, output)
    paths = _expand_inputs(args.inputs, args.path_column)
    if args.on_error == "raise":
        _check_inputs_exist(paths)

    featurizer.fit()
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(_cluster(args)) if _uses_cluster(args) else None
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Reported below, one line, in command-line words.
                warnings.filterwarnings("ignore", category=ImageFailureWarning)
                if dataset:
                    return _run_dataset(featurizer, paths, output, client, args.partition_size)
                if client is not None:
                    from ..dask import distribute

                    stack.enter_context(distribute(client, partition_size=args.partition_size))
                descriptors = featurizer.transform(paths)
        except ImageInputError as error:
            raise CommandError(f"{_image_message(error, len(paths))} {_ON_ERROR_NAN}") from None
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


def _run_dataset(featurizer, paths, output: Path, client, partition_size: int) -> int:
    """Describe into the parquet dataset directory ``output``: only the parts it lacks."""
    from ..dask import featurize_to_parquet

    try:
        summary = featurize_to_parquet(featurizer, paths, output, partition_size=partition_size, client=client)
    except ValueError as error:
        if "parquet files skvgg did not write" in str(error):
            raise CommandError(str(error)) from None
        raise
    rate = summary["described"] / summary["seconds"] if summary["computed"] else 0.0
    print(
        f"{summary['rows']} images -> {output}/ ({summary['parts']} parts: {summary['computed']} described, "
        f"{summary['reused']} already complete; {featurizer.n_features_out_} features, {summary['seconds']:.1f} s"
        + (f", {rate:.1f} images/s" if summary["computed"] else "")
        + ")",
        file=sys.stderr,
    )
    return 0
