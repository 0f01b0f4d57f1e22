"""``skvgg featurize``: describe image files, folders or CSV listings and write the descriptors to a file."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from pathlib import Path

from ._messages import CommandError, cli_words, image_message, one_line
from ._options import (
    add_cluster_options,
    add_decode_option,
    add_max_pixels,
    add_network_options,
    add_view_size_options,
    at_least,
    check_network,
    cluster_client,
    layer_list,
    network_params,
    one_or_many,
    parse_scales,
    preprocessing_param,
    uses_cluster,
    validated_estimator,
    wrapped_text,
)
from ._output import check_output_name, prepare_folder, to_stdout, write_descriptors

#: Said with every failure to read an image, as the way to describe the others regardless.
_ON_ERROR_NAN = "(--on-error nan describes the other images and leaves its row NaN)"


EXAMPLES = """\
examples:
  skvgg featurize photos/ -o features.csv
      fc7 descriptors (4096 columns) of every image under photos/, one row per image with its path
  skvgg featurize photos/ -o - --quiet | head -n 3
      the same CSV on stdout (progress and messages go to stderr)
  skvgg featurize list.csv --path-column file -o features.npz --layer pool5 --scales 256,384 --flip
      the paper's dense, flip-averaged pool5 descriptors; load with numpy.load: X, paths, feature_names
  skvgg featurize photos/ -o features.parquet --precision int8 --compile true
      int8 on a CPU (pip install "skvgg[int8]")
"""


def add_parser(commands) -> None:
    import argparse

    featurize = commands.add_parser(
        "featurize",
        help="describe images and write the descriptors to a file",
        description=wrapped_text(
            "Describe image files, folders (searched recursively) or CSV listings with a VGG network and "
            "write one row per image, in input order, to a file or to stdout."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    featurize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, directories, or CSV files of paths")
    featurize.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="OUT.csv, OUT.parquet (a path column, then one column per feature), OUT.npz (arrays X, paths, "
        "feature_names) or - (CSV to stdout); files are written only when complete. OUT.parquet is a resumable "
        "dataset directory (one part per --partition-size images) with --workers/--scheduler or when it is a "
        "directory already",
    )
    featurize.add_argument(
        "--path-column", metavar="NAME", help="the CSV column holding paths (default: 'path' or the only column)"
    )
    add_network_options(featurize)
    featurize.add_argument(
        "--seed",
        type=at_least(0),
        default=None,
        metavar="N",
        help="seed of the random weights of --weights none (default: unseeded, different on every run)",
    )
    add_max_pixels(featurize)
    add_decode_option(featurize)
    featurize.add_argument(
        "--layer", type=layer_list, default=["fc7"], metavar="LAYERS", help="layer(s), comma-separated (default: fc7)"
    )
    featurize.add_argument(
        "--pooling",
        default="avg",
        choices=["avg", "max"],
        help="how a spatial map (conv and pool layers, fc layers with --scales) becomes a vector (default: avg)",
    )
    add_view_size_options(featurize)
    featurize.add_argument(
        "--scales",
        type=parse_scales,
        default=None,
        metavar="Q[,Q...]",
        help="the paper's dense evaluation: the whole image rescaled to smaller side Q, e.g. 256,384,512 "
        "(default: the single centre view)",
    )
    featurize.add_argument("--flip", action="store_true", help="average with the mirror image")
    featurize.add_argument(
        "--scale-pooling",
        default="mean",
        choices=["mean", "stack"],
        help="across several --scales: average the descriptors or concatenate them (default: mean)",
    )
    featurize.add_argument("--cache", default=None, metavar="DIR", help="directory of a descriptor cache shared by runs")
    featurize.add_argument(
        "--on-error",
        default="raise",
        choices=["raise", "nan"],
        help="an unreadable image: stop with an error naming it (raise), or describe the others and leave its "
        "row NaN (nan) (default: raise)",
    )
    add_cluster_options(featurize)
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
    return output.suffix.lower() == ".parquet" and (uses_cluster(args) or output.is_dir())


def run(args) -> int:
    from ..featurizer import ImageFailureWarning, VGGFeaturizer
    from ..images import ImageInputError

    output = Path(args.output)
    check_output_name(args, output)
    check_network(args, args.layer)
    featurizer = validated_estimator(
        args,
        VGGFeaturizer(
            **network_params(args),
            cache=args.cache,
            layer=one_or_many(args.layer),
            pooling=args.pooling,
            scales=args.scales,
            flip=args.flip,
            scale_pooling=args.scale_pooling,
            on_error=args.on_error,
            decode=args.decode,
            random_state=args.seed,
            preprocessing=preprocessing_param(args),
        ),
    )
    dataset = _dataset(args, output)
    prepare_folder(args, output)
    paths = _expand_inputs(args.inputs, args.path_column)
    if args.on_error == "raise":
        _check_inputs_exist(paths)

    featurizer.fit()
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(cluster_client(args)) if uses_cluster(args) else None
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
            raise CommandError(f"{image_message(error, len(paths))} {_ON_ERROR_NAN}") from None
    seconds = time.perf_counter() - started
    failures = featurizer.failures_
    if failures:
        listing = "; ".join(
            f"image {f['index'] + 1} of {len(paths)} ({f['path']}): {one_line(cli_words(f['reason']))}" for f in failures
        )
        print(
            f"skvgg: warning: {len(failures)} of {len(paths)} images could not be read, their rows are NaN: {listing}",
            file=sys.stderr,
        )
    write_descriptors(None if to_stdout(args) else output, paths, descriptors, featurizer.get_feature_names_out())
    print(
        f"{len(paths)} images -> {'stdout' if to_stdout(args) else output} ({descriptors.shape[1]} features, {seconds:.1f} s"
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
