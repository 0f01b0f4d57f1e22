"""The package version, from one source: ``version`` in pyproject.toml.

Installed (wheel or editable), the version is the installed distribution's metadata
(``importlib.metadata``), which setuptools wrote from pyproject.toml. A source tree put on
``sys.path`` without installing it has no metadata: the version is then read from the
``pyproject.toml`` beside the package, and ``"0+unknown"`` where there is none.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["package_version"]

UNKNOWN = "0+unknown"

# The [project] table's version line; pyproject.toml is read as text because tomllib is
# Python >= 3.11 and the package supports 3.10.
_PROJECT_VERSION = re.compile(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', re.MULTILINE | re.DOTALL)


def package_version() -> str:
    """The version of the installed ``skvgg`` distribution, else of the source tree.

    Returns
    -------
    version : str
        Such as ``"0.1.0"``; ``"0+unknown"`` for a source tree without ``pyproject.toml``.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("skvgg")
    except PackageNotFoundError:
        return source_tree_version()


def source_tree_version(root: Path | None = None) -> str:
    """The ``version`` in ``root/pyproject.toml`` (default: the directory above the package)."""
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return UNKNOWN
    match = _PROJECT_VERSION.search(text)
    return match.group(1) if match else UNKNOWN
