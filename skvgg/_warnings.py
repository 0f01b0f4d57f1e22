"""Warnings that point at the user's line, and the ``skvgg`` logger that ``verbose`` feeds.

A warning raised deep inside skvgg reached through a scikit-learn ``Pipeline``, a
``_fit_context`` wrapper or a grid search would, with a fixed ``stacklevel``, name a line
of skvgg or scikit-learn: Python's filters (``-W``, ``warnings.simplefilter``) match it
there and the user cannot tell which of their calls warned. :func:`warn` walks out of
the frames of the packages in :data:`LIBRARY_PREFIXES` instead (Python >= 3.12 does it
itself with ``skip_file_prefixes``).

``verbose`` levels (both estimators): 0 / False silent; 1 / True progress bars (tqdm, on
stderr); 2 and more, progress bars and one log line per step on the ``skvgg`` logger at
INFO (network loaded, device and precision chosen, epoch summaries). Below 2 the same
lines go to the logger at DEBUG, so ``logging`` configuration alone can show them.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from .exceptions import SkvggWarning

__all__ = ["LIBRARY_PREFIXES", "logger", "log", "user_stacklevel", "warn"]

#: The ``skvgg`` logger; the library adds no handler (the application configures logging).
logger = logging.getLogger("skvgg")


def _package_dir(name: str) -> str | None:
    module = sys.modules.get(name)
    if module is None:
        try:
            module = __import__(name)
        except ImportError:
            return None
    path = getattr(module, "__file__", None)
    return None if path is None else os.path.dirname(os.path.abspath(path)) + os.sep


#: Source folders whose frames a warning walks out of: skvgg's own and the libraries that
#: call into it on the user's behalf (scikit-learn's meta-estimators, joblib's workers).
LIBRARY_PREFIXES: tuple[str, ...] = tuple(p for p in map(_package_dir, ("skvgg", "sklearn", "joblib")) if p)


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the function calling this one that names the first
    frame outside skvgg, scikit-learn and joblib (1 would name that function itself)."""
    frame = sys._getframe(1)  # the function that will call warnings.warn
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(LIBRARY_PREFIXES):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = SkvggWarning) -> None:
    """``warnings.warn`` attributed to the user's line: the first caller outside skvgg and scikit-learn."""
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=LIBRARY_PREFIXES)
    else:
        # user_stacklevel counts from this function (the one calling warnings.warn).
        warnings.warn(message, category, stacklevel=user_stacklevel())


def log(verbose, message: str, *args) -> None:
    """Log ``message`` on the ``skvgg`` logger: INFO when ``verbose >= 2``, DEBUG otherwise."""
    level = logging.INFO if int(verbose or 0) >= 2 else logging.DEBUG
    logger.log(level, message, *args)
