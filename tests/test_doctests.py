"""The examples in skvgg's docstrings run and print what they show.

Every module of the installed package is searched (``pkgutil.walk_packages``), so a new
docstring example is collected without being listed here; the examples make their own
tiny inputs (``skvgg.testing``) and use random weights, so they run offline in seconds.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import skvgg

# Running `python -m skvgg` runs the command line: not a module to import for its docstrings.
NOT_IMPORTED = {"skvgg.__main__"}
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skvgg.__path__, prefix="skvgg.") if info.name not in NOT_IMPORTED
) + ["skvgg"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_doctests(name):
    """The doctests of the objects defined in module ``name`` (not those it imports)."""
    module = importlib.import_module(name)
    return [test for test in doctest.DocTestFinder(exclude_empty=True).find(module, name) if test.examples]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Examples run in an empty directory with an empty torch cache: nothing is read from this machine."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # tempfile.mkdtemp() in examples: cleaned with tmp_path
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR


@pytest.mark.parametrize("name", [m for m in MODULES if module_doctests(m)])
def test_docstring_examples_run(name, isolated):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in module_doctests(name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0


def test_no_example_is_skipped():
    skipped = []
    for name in MODULES:
        for test in module_doctests(name):
            if any(example.options.get(doctest.SKIP) for example in test.examples):
                skipped.append(test.name)
    assert skipped == []


def test_the_public_estimators_and_loaders_show_an_example():
    """The entry points a reader starts from each carry a runnable example."""
    import skvgg.datasets
    import skvgg.experiments

    entry_points = [
        skvgg.VGGFeaturizer,
        skvgg.VGGClassifier,
        skvgg.build_vgg,
        skvgg.list_archs,
        skvgg.experiments.paper_pipeline,
        *(getattr(skvgg.datasets, name) for name in skvgg.datasets.__all__ if name.startswith("load_")),
    ]
    missing = [obj.__qualname__ for obj in entry_points if ">>>" not in (inspect.getdoc(obj) or "")]
    assert missing == []
