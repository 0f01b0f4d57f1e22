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
