"""Check a built documentation site: a page for every public name, the gallery, its figures.

Run after ``sphinx-build`` (``.ci/run`` does)::

    python docs/check_build.py docs/_build/html

Exits 1, listing what is missing, when the API reference lacks a public name (in
``docs/api.rst`` or in the built pages), when the gallery has fewer than six examples or
the build fewer than six figures (PNG files drawn by the examples), or lacks one of the user
guide's figures (drawn by ``docs/figures.py``).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The checkout's skvgg first, as docs/conf.py does: the check is of the sources beside it.
sys.path.insert(0, str(DOCS.parent))

from skvgg._api import PUBLIC_MODULES  # noqa: E402 - the one list (after the path insert above)

MIN_EXAMPLES = 6
MIN_FIGURES = 6
#: Drawn by docs/figures.py when the build starts (its FIGURE_FILES) and shown by the user guide's pages.
USER_GUIDE_FIGURES = ("single-view.png", "dense-scales.png", "train-layers.png")


def public_names() -> set[str]:
    """Every public name, as ``module.name`` by the first module of PUBLIC_MODULES that exports it.

    A submodule that re-exports a top-level name (``skvgg.models.zoo.build_vgg`` is ``skvgg.build_vgg``)
    does not get a second page for it.
    """
    names, seen = set(), {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if name in seen and seen[name] is obj:
                continue
            seen.setdefault(name, obj)
            names.add(f"{module_name}.{name}")
    return names


def api_entries(api_rst: Path = DOCS / "api.rst") -> list[str]:
    """The full names listed in the autosummary tables of ``api.rst``, in order."""
    entries, module, in_table = [], None, False
    for line in api_rst.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match.group(1)
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and line.strip() and not line.startswith(" "):
            in_table = False
        elif in_table and line.startswith("   ") and not line.strip().startswith(":"):
            entries.append(f"{module}.{line.strip()}")
    return entries


def problems(build: Path) -> list[str]:
    found = []
    listed = api_entries()
    missing = sorted(public_names() - set(listed))
    if missing:
        found.append(f"docs/api.rst lists no page for: {', '.join(missing)}")
    extra = sorted(set(listed) - public_names())
    if extra:
        found.append(f"docs/api.rst lists names that are not public: {', '.join(extra)}")
    unbuilt = [name for name in listed if not (build / "api" / "generated" / f"{name}.html").is_file()]
    if unbuilt:
        found.append(f"no built API page for: {', '.join(unbuilt)}")
    examples = sorted((build / "auto_examples").glob("plot_*.html"))
    if len(examples) < MIN_EXAMPLES:
        found.append(f"the gallery has {len(examples)} examples; expected at least {MIN_EXAMPLES}")
    # The examples' figures (sphx_glr_<example>_001.png ...), not the gallery's thumbnails.
    figures = [p for p in (build / "_images").glob("sphx_glr_*.png") if not p.stem.endswith("_thumb")]
    if len(figures) < MIN_FIGURES:
        found.append(f"the build has {len(figures)} figures; expected at least {MIN_FIGURES}")
    # The user guide's own figures (docs/figures.py, drawn at build time), shown by its pages.
    absent = [name for name in USER_GUIDE_FIGURES if not (build / "_images" / name).is_file()]
    if absent:
        found.append(f"the user guide's figures are missing from the build: {', '.join(absent)}")
    return found


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    build = Path(argv[0] if argv else DOCS / "_build" / "html")
    found = problems(build)
    for problem in found:
        print(f"docs check: {problem}", file=sys.stderr)
    if not found:
        n_examples = len(list((build / "auto_examples").glob("plot_*.html")))
        n_figures = len([p for p in (build / "_images").glob("sphx_glr_*.png") if not p.stem.endswith("_thumb")])
        print(f"docs check: {len(api_entries())} API pages, {n_examples} gallery examples, {n_figures} figures")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
