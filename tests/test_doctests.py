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
# Examples that need an optional extra: skipped, named, where it is not installed.
NEEDS = {"skvgg.dask.distribute": "distributed"}


def module_doctests(name):
    """The doctests of the objects defined in module ``name`` (not those it imports)."""
    module = importlib.import_module(name)
    return [test for test in doctest.DocTestFinder(exclude_empty=True).find(module, name) if test.examples]


DOCTESTS = {test.name: test for name in MODULES for test in module_doctests(name)}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Examples run in an empty directory with an empty torch cache: nothing is read from this machine."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # tempfile.mkdtemp() in examples: cleaned with tmp_path
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR


def test_the_examples_are_found():
    assert {"skvgg.featurizer.VGGFeaturizer", "skvgg.metrics.mean_class_recall", "skvgg.dask.distribute"} <= set(DOCTESTS)


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_examples_run(name, isolated):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name}'s example needs {NEEDS[name]} (an optional extra)")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    runner.run(DOCTESTS[name], out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries == len(DOCTESTS[name].examples)


def test_no_example_is_skipped():
    skipped = [name for name, test in DOCTESTS.items() if any(example.options.get(doctest.SKIP) for example in test.examples)]
    assert skipped == []


def test_the_public_estimators_and_loaders_show_an_example():
    """The entry points a reader starts from each carry a runnable example."""
    import skvgg.dask
    import skvgg.datasets
    import skvgg.experiments

    entry_points = [
        skvgg.VGGFeaturizer,
        skvgg.VGGClassifier,
        skvgg.build_vgg,
        skvgg.list_archs,
        skvgg.experiments.paper_pipeline,
        skvgg.dask.featurize_to_parquet,
        skvgg.dask.distribute,
        *(getattr(skvgg.datasets, name) for name in skvgg.datasets.__all__ if name.startswith("load_")),
    ]
    missing = [obj.__qualname__ for obj in entry_points if ">>>" not in (inspect.getdoc(obj) or "")]
    assert missing == []
