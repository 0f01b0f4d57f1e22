"""Library errors and warnings in command-line words, and the one-line warning report.

``weights='x'`` becomes ``--weights x`` and ``X[2]`` becomes ``image 3``: the user of the
command line never wrote Python, so messages name the options and images they did write.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from pathlib import Path

from ..exceptions import CommandError

#: Python parameter -> the option that sets it, to phrase library messages in command-line terms.
_OPTIONS = {
    "arch": "--arch",
    "weights": "--weights",
    "layer": "--layer",
    "pooling": "--pooling",
    "scales": "--scales",
    "scale_pooling": "--scale-pooling",
    "batch_size": "--batch-size",
    "num_workers": "--decode-threads",
    "device": "--device",
    "precision": "--precision",
    "compile": "--compile",
    "decode": "--decode",
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


def cli_words(text: str) -> str:
    """A library message in command-line terms: ``weights='x'`` -> ``--weights x``, ``X[2]`` -> ``image 3``."""
    text = text.replace("download=True", "--download")
    text = _ASSIGNMENT.sub(lambda m: f"{_OPTIONS[m.group('name')]} {_option_value(m)}", text)
    text = _PARAMETER.sub(lambda m: f"{_OPTIONS.get(m.group('name'), m.group('name'))} must be", text)
    text = _IDENTIFIER.sub(lambda m: _OPTIONS[m.group("name")], text)
    return re.sub(r"\bX\[(\d+)\]", lambda m: f"image {int(m.group(1)) + 1}", text)


def one_line(text: str) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def image_message(error, n_images: int | None = None) -> str:
    """'image 3 of 12 (/data/x.jpg): reason' from an ImageInputError's attributes."""
    where = "an image" if error.index is None else f"image {error.index + 1}"
    if error.index is not None and n_images is not None:
        where += f" of {n_images}"
    if error.path is not None:
        where += f" ({error.path})"
    elif getattr(error, "description", None):
        where += f" ({error.description})"
    return f"{where}: {cli_words(error.reason)}"


def error_message(error: Exception) -> str:
    """The words of ``skvgg: error: ...`` for a failure of the data, images or weights."""
    # Imported on failure only: ``skvgg --version`` need not load the image decoders.
    from ..images import ImageInputError

    if isinstance(error, CommandError):
        return str(error)  # the command line's own words: a path holding 'batch_size' stays as it is
    if isinstance(error, ImageInputError):
        return image_message(error)
    return cli_words(str(error))


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
        text = one_line(cli_words(str(message)))
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


def run_reporting_warnings(args) -> int:
    """Run the chosen command with its warnings reported as ``_WarningReport`` does."""
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
