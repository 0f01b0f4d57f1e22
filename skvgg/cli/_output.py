"""The files the commands write (descriptors, transfer's scores, figures): checked first, written atomically."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._messages import CommandError

if TYPE_CHECKING:
    import numpy as np


#: ``-o -``: CSV on stdout, for a pipe.
STDOUT = "-"
FORMATS = (".csv", ".parquet", ".npz")


def to_stdout(args) -> bool:
    return args.output == STDOUT


def check_output_name(args, output: Path) -> None:
    """A file name ending in a known format, not a folder, or ``-`` for stdout (exit 2)."""
    if to_stdout(args):
        return
    suffix = output.suffix.lower()
    if suffix == ".npy":
        args.parser.error(
            f"-o {args.output}: a .npy file holds no image paths; write {output.with_suffix('.npz')} instead "
            "(numpy.load gives the arrays X, paths and feature_names), or .csv or .parquet"
        )
    if suffix not in FORMATS:
        args.parser.error(f"-o {args.output}: the output must end in .csv, .parquet or .npz, or be - (CSV to stdout)")
    if output.is_dir() and suffix != ".parquet":  # a .parquet directory is a dataset (parts)
        args.parser.error(f"-o {args.output} is a directory; expected a file name ending in .csv, .parquet or .npz")


def prepare_folder(args, output: Path) -> None:
    """Create the folder of ``output`` and check it is writable, before anything is described."""
    if to_stdout(args):
        return
    if output.suffix.lower() == ".parquet":
        _check_parquet_engine()
    _ensure_folder(output, f"-o {args.output}")


def _ensure_folder(output: Path, option: str) -> None:
    """Create the folder of ``output`` and check it can be written (exit 1), before any work; ``option`` names it."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create the folder of {option}: {error.strerror or error}") from None
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write into {output.parent} ({option}): permission denied")


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
        "pip install pyarrow (skvgg depends on it; reinstalling skvgg brings it), or write .csv or .npz"
    )


def write_descriptors(output: Path | None, paths: list[str], descriptors: np.ndarray, names) -> None:
    """Write the descriptors to ``output`` (None: CSV to stdout), one row per image with its path.

    A file is written to a hidden temporary file beside ``output``, then renamed into place
    (:func:`skvgg.dask._store.atomic_write`): the rename is atomic within a folder, so ``output``
    is either absent (or as it was) or complete, even when the run is interrupted or the
    disk fills up while writing. ``.npz`` holds ``X`` (float32), ``paths`` and
    ``feature_names`` (string arrays: ``numpy.load`` reads them without pickle).
    """
    import sys

    import numpy as np
    import pandas as pd

    from ..dask._store import atomic_write

    def table():
        frame = pd.DataFrame(descriptors, columns=list(names))
        frame.insert(0, "path", paths)
        return frame

    if output is None:
        table().to_csv(sys.stdout, index=False)
        sys.stdout.flush()  # a closed pipe (| head) raises here, inside main's handler
        return
    suffix = output.suffix.lower()

    def write(temporary):
        if suffix == ".npz":
            with open(temporary, "wb") as stream:  # a path would get ".npz" appended
                np.savez(stream, X=descriptors, paths=np.asarray(paths, dtype=str), feature_names=np.asarray(names, dtype=str))
        elif suffix == ".csv":
            table().to_csv(temporary, index=False)
        else:
            table().to_parquet(temporary, index=False)

    atomic_write(output, write)


# --- transfer's scores (-o RESULTS.json|csv) ------------------------------------------------------

RESULT_FORMATS = (".json", ".csv")


def check_results_option(args) -> Path | None:
    """``-o FILE``: .json or .csv (exit 2), in a folder that can be written (exit 1), before any work."""
    if args.output is None:
        return None
    output = Path(args.output).expanduser()
    if output.suffix.lower() not in RESULT_FORMATS:
        args.parser.error(f"-o {args.output}: the results file must end in .json or .csv")
    if output.is_dir():
        args.parser.error(f"-o {args.output} is a directory; expected a file name ending in .json or .csv")
    _ensure_folder(output, f"-o {args.output}")
    return output


def results_record(args, featurizer, results: dict) -> dict:
    """The run's settings and scores as plain JSON types (numbers in %, ``C`` of each split)."""
    from .._version import package_version

    paper = results["paper"]
    return {
        "dataset": args.dataset,
        "arch": list(args.arch),
        "weights": args.weights,
        "layer": "fc7",
        "scales": [int(q) for q in featurizer.scales],
        "scale_pooling": featurizer.scale_pooling,
        "flip": bool(featurizer.flip),
        "metric": results["metric"],
        "splits": [
            {"split": number, "score_percent": float(score), "C": float(C)}
            for number, (score, C) in enumerate(zip(results["scores"], results["Cs"]), start=1)
        ],
        "mean_percent": float(results["mean"]),
        "std_percent": float(results["std"]),
        "paper_percent": None
        if paper is None
        else {"mean": float(paper[0]), "std": None if paper[1] is None else float(paper[1])},
        "featurize_seconds": float(results["featurize_seconds"]),
        "skvgg_version": package_version(),
    }


def write_results(output: Path, record: dict) -> None:
    """JSON: the whole record; CSV: one row per split with the settings repeated (atomic, as every output)."""
    import json

    from ..dask._store import atomic_write

    if output.suffix.lower() == ".json":
        atomic_write(output, lambda temporary: Path(temporary).write_text(json.dumps(record, indent=2) + "\n"))
        return
    import pandas as pd

    settings = {
        "dataset": record["dataset"],
        "arch": "+".join(record["arch"]),
        "weights": record["weights"],
        "scales": ",".join(map(str, record["scales"])),
        "metric": record["metric"],
    }
    table = pd.DataFrame([{**settings, **split} for split in record["splits"]])
    atomic_write(output, lambda temporary: table.to_csv(temporary, index=False))


# --- figures (--plot FILE) ---------------------------------------------------------------------

FIGURE_FORMATS = (".png", ".pdf", ".svg")


def check_plot_option(args) -> Path | None:
    """``--plot FILE``: a known image format, a writable folder, and matplotlib installed, before any work."""
    if args.plot is None:
        return None
    output = Path(args.plot).expanduser()
    if output.suffix.lower() not in FIGURE_FORMATS:
        args.parser.error(f"--plot {args.plot}: the figure must end in {', '.join(FIGURE_FORMATS)}")
    if output.is_dir():
        args.parser.error(f"--plot {args.plot} is a directory; expected a file name ending in .png, .pdf or .svg")
    try:
        import matplotlib
    except ImportError:
        from ..plotting import MISSING_MATPLOTLIB

        raise CommandError(f"--plot {args.plot}: {MISSING_MATPLOTLIB}") from None
    matplotlib.use("Agg")  # files only: no window, no display needed
    _ensure_folder(output, f"--plot {args.plot}")
    return output


def write_figure(figure, output: Path) -> None:
    """Save a matplotlib figure to ``output`` atomically, in the format its suffix names, and close it."""
    import matplotlib.pyplot as plt

    from ..dask._store import atomic_write

    try:
        atomic_write(output, lambda temporary: figure.savefig(temporary, format=output.suffix[1:].lower(), dpi=120))
    finally:
        plt.close(figure)
