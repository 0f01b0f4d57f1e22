"""The documentation's sources: an API page for every public name, gallery examples that say what they show."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def load_check_build():
    spec = importlib.util.spec_from_file_location("skvgg_docs_check_build", ROOT / "docs" / "check_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_lists_every_public_name_once():
    check = load_check_build()
    entries = check.api_entries()
    assert len(entries) == len(set(entries))
    assert set(entries) == check.public_names()
    assert "skvgg.VGGClassifier" in entries and "skvgg.plotting.plot_history" in entries


def test_check_build_reports_a_missing_gallery(tmp_path):
    # An empty build folder: every check fails, each with its own message.
    found = load_check_build().problems(tmp_path)
    assert any("no built API page for: skvgg.VGGFeaturizer" in p for p in found)
    assert any("the gallery has 0 examples" in p for p in found)
    assert any("the build has 0 figures" in p for p in found)
    assert any("the user guide's figures are missing from the build: single-view.png" in p for p in found)


def test_user_guide_figures_are_drawn_and_shown():
    # The figures docs/figures.py draws are the ones check_build.py requires, and each is shown by a page.
    spec = importlib.util.spec_from_file_location("skvgg_docs_figures", ROOT / "docs" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    assert set(figures.FIGURE_FILES) == set(load_check_build().USER_GUIDE_FIGURES)
    pages = (ROOT / "docs" / "user-guide" / "featurizer.md").read_text() + (
        ROOT / "docs" / "user-guide" / "classifier.md"
    ).read_text()
    for name in figures.FIGURE_FILES:
        assert f"(figures/{name})" in pages, name


@pytest.mark.slow
def test_user_guide_figures_draw(tmp_path):
    spec = importlib.util.spec_from_file_location("skvgg_docs_figures", ROOT / "docs" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    written = figures.main(tmp_path)
    assert [p.name for p in written] == list(figures.FIGURE_FILES)
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


@pytest.mark.parametrize("name", ["VGGFeaturizer", "VGGClassifier"])
def test_html_repr_links_to_the_estimators_api_page(name):
    from sklearn.pipeline import make_pipeline
    from sklearn.utils import estimator_html_repr

    import skvgg

    estimator = getattr(skvgg, name)()
    link = estimator._get_doc_link()
    assert link == f"{skvgg._estimator.DOCS_URL}api/generated/skvgg.{name}.html"
    # The page the link names is one that the API reference builds.
    assert f"skvgg.{name}" in load_check_build().api_entries()
    assert f'href="{link}"' in estimator_html_repr(make_pipeline(estimator))


def test_gallery_has_six_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_gallery_example_says_it_is_a_stand_in_and_how_to_run_it_for_real(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    title, underline = doc.splitlines()[:2]
    assert underline == "=" * len(title)  # sphinx-gallery's title
    assert "Stand-in run" in doc and "random" in doc
    assert "not" in doc.split("Stand-in run")[1]  # says what the figure does not show
    assert "skvgg " in doc or "--root" in doc or "load_" in doc  # how to run on the real data


# --- the README's parameter tables and the names the prose mentions -------------------------------

README = ROOT / "README.md"
DOC_PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "user-guide").glob("*.md"))]


def parameter_table(text: str, estimator: str) -> dict:
    """``{name: default cell}`` of the table under ``<!-- parameters: ESTIMATOR -->``, one parameter a row."""
    marker = f"<!-- parameters: {estimator} -->"
    assert text.count(marker) == 1, f"README.md has no single {marker}"
    lines = text.split(marker)[1].strip().splitlines()
    assert lines[0].startswith("| parameter | default |") and lines[1].startswith("|---")
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        name, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        assert name.startswith("`") and name.endswith("`") and name.count("`") == 2, f"one parameter per row: {line}"
        assert name.strip("`") not in rows, f"{name} listed twice"
        rows[name.strip("`")] = default
    return rows


@pytest.mark.parametrize("estimator", ["VGGFeaturizer", "VGGClassifier"])
def test_readme_parameter_table_matches_the_estimator(estimator):
    import ast

    import skvgg

    params = getattr(skvgg, estimator)().get_params()
    rows = parameter_table(README.read_text(), estimator)
    assert set(rows) == set(params), f"missing: {set(params) - set(rows)}, not parameters: {set(rows) - set(params)}"
    for name, cell in rows.items():
        if cell.startswith("`") and cell.endswith("`"):  # a stated default: a Python literal
            assert ast.literal_eval(cell.strip("`")) == params[name], f"{estimator}({name}=...) default: README {cell}"


def test_parameter_table_reader_catches_a_stale_table():
    table = "<!-- parameters: X -->\n| parameter | default | meaning |\n|---|---|---|\n| `a` | `1` | . |\n| `b` | `2` | . |\n"
    assert parameter_table(table, "X") == {"a": "`1`", "b": "`2`"}
    with pytest.raises(AssertionError, match="one parameter per row"):
        parameter_table(table.replace("| `a` |", "| `a`, `c` |"), "X")


def dotted_names(text: str) -> set:
    """``skvgg.xxx.yyy`` named in a page (not file names such as ``_skvgg.json`` nor paths such as ``skvgg/cli``)."""
    import re

    return {m.group(1).rstrip(".") for m in re.finditer(r"(?<![\w/.])(skvgg(?:\.\w+)+)", text)}


def resolves(name: str) -> bool:
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_skvgg_name_in_the_docs_exists(page):
    names = dotted_names(page.read_text())
    missing = sorted(name for name in names if not resolves(name))
    assert not missing, f"{page.relative_to(ROOT)} names what skvgg does not have: {missing}"


def test_name_check_catches_a_missing_module():
    assert dotted_names("see `skvgg.resample.bilinear_region` and _skvgg.json, skvgg.datasets.") == {
        "skvgg.resample.bilinear_region",
        "skvgg.datasets",
    }
    assert not resolves("skvgg.resample.bilinear_region") and resolves("skvgg.datasets.load_voc")
    assert not resolves("skvgg.VGGFeaturizer.no_such_method")


def test_quickstart_is_linked_from_readme_and_index():
    assert "(docs/quickstart.md)" in README.read_text()
    index = (ROOT / "docs" / "index.md").read_text()
    assert "{doc}`quickstart`" in index and "\nquickstart\n" in index  # linked, and in the toctree


def test_cpu_only_install_note():
    command = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
    for page in (README, ROOT / "docs" / "quickstart.md", ROOT / "docs" / "getting-started.md"):
        assert command in page.read_text(), page.name


@pytest.mark.slow
def test_offline_quickstart_runs_as_written(capsys):
    # The page's offline block, verbatim: generated images, random VGG11 weights, no network.
    text = (ROOT / "docs" / "quickstart.md").read_text()
    block = text.split("<!-- offline-quickstart -->")[1].split("```python")[1].split("```")[0]
    assert "weights=None" in block and "random" in text.split("<!-- offline-quickstart -->")[0][-600:]
    exec(compile(block, "quickstart.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    scores = [float(v) for v in printed.strip("[]").split()]
    assert len(scores) == 3 and all(0.0 <= v <= 1.0 for v in scores)
