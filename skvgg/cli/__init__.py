"""The ``skvgg`` command line: ``demo``, ``featurize``, ``transfer`` and ``archs``.

Exit status: 0 on success; 2 for bad arguments (checked before any image is described);
1 when data, images or weights cannot be used (the message says which and what to do);
130 when interrupted (Ctrl-C); 141 when the reader of the output went away (``| head``).
Output files appear only when complete; ``featurize -o -`` writes its CSV to stdout and
everything else (progress, messages) to stderr. Every ``--help`` ends with examples.
Warnings are one line each (``skvgg: warning:``); scikit-learn's warnings, usual on small data, are
counted and summarised once at the end.

One module per command (``_demo``, ``_featurize``, ``_transfer``, ``_archs``), each adding its
parser and running it; the options they share are in ``_options``, the words of messages
in ``_messages``, the output files in ``_output``. Nothing here imports torch, scikit-learn
or the estimators: the commands import them when they run, so ``skvgg --help`` and
``skvgg --version`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .._allocator import keep_freed_memory
from .._version import package_version
from ..exceptions import SkvggError
from . import _archs, _demo, _evaluate, _featurize, _transfer

# cli_words and network_params: importable from skvgg.cli, where they were before the split.
from ._messages import CommandError, cli_words, error_message, run_reporting_warnings  # noqa: F401
from ._options import network_params  # noqa: F401

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skvgg",
        description="VGG networks (Simonyan & Zisserman, ICLR 2015) as scikit-learn estimators.",
        epilog="Exit status: 0 success, 1 unusable data, images or weights, 2 bad arguments, 130 interrupted, "
        "141 output pipe closed (| head).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="keep the memory the process frees for reuse instead of handing it back to the OS "
        "(skvgg.keep_freed_memory; glibc only): VGG16 float32 went from 0.88x to 1.00x ONNX Runtime's images/s, "
        "but resident memory stays at its peak and grows with dense scales on images of many sizes "
        "(1.7x after 120 images)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (_demo, _featurize, _transfer, _evaluate, _archs):
        command.add_parser(commands)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring).

    ``--keep-freed-memory`` applies :func:`skvgg.keep_freed_memory` to this process first.
    """
    try:
        try:
            args = build_parser().parse_args(argv)
        finally:
            sys.stdout.flush()  # --help and --version meet a closed pipe here, not at interpreter exit
        if args.keep_freed_memory:
            keep_freed_memory()
        code = run_reporting_warnings(args)
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
    except (SkvggError, ValueError, OSError, TypeError, MemoryError) as error:
        # Data, images, weights and missing extras (CommandError is a SkvggError): the message names
        # the item and the remedy.
        print(f"skvgg: error: {error_message(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
