"""What a user checks first: the version, the type hints and py.typed, shipped files."""

import importlib
import importlib.metadata
import importlib.resources
import inspect
import os
import subprocess
import sys
import typing

import pytest

import skvgg

# The public API: everything the package and its public submodules export (the one list).
from skvgg._api import PUBLIC_MODULES  # noqa: E402
from skvgg._version import UNKNOWN, package_version, source_tree_version

# scikit-learn's convention: estimators' __init__ parameters are described by the docstring and
# checked by _parameter_constraints at fit, not annotated.
UNANNOTATED_INIT = {"VGGFeaturizer", "VGGClassifier", "VGGImageNetClassifier"}


def public_callables():
    seen = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__" or (attr == "__init__" and name in UNANNOTATED_INIT):
                        continue
                    member = getattr(member, "__func__", member)  # staticmethod, classmethod
                    if inspect.isfunction(member) and member not in seen:
                        seen.add(member)
                        yield f"{obj.__module__}.{obj.__qualname__}.{attr}", member
            elif callable(obj) and inspect.isfunction(inspect.unwrap(obj)) and obj not in seen:
                seen.add(obj)
                yield f"{module_name}.{name}", inspect.unwrap(obj)


CALLABLES = dict(public_callables())


def test_the_public_api_is_many_callables():
    # The walk finds the estimators' methods and the submodules' functions (not an empty list).
    assert {"skvgg.featurizer.VGGFeaturizer.transform", "skvgg.datasets.load_voc", "skvgg.build_vgg"} <= set(CALLABLES)
    assert len(CALLABLES) > 50


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_every_public_callable_is_fully_annotated(name):
    function = CALLABLES[name]
    hints = typing.get_type_hints(function)  # the annotations resolve, not only exist
    parameters = [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]
    missing = [p for p in parameters if p not in hints] + ([] if "return" in hints else ["return"])
    assert missing == []


def test_the_package_is_marked_typed():
    assert importlib.resources.files("skvgg").joinpath("py.typed").is_file()


def test_the_dataset_descriptions_are_package_data():
    descriptions = [p.name for p in importlib.resources.files("skvgg.datasets").joinpath("descr").iterdir()]
    assert "image_folder.rst" in descriptions and all(name.endswith(".rst") for name in descriptions)


def test_version_is_the_installed_metadata():
    # One source: pyproject.toml's version, written into the metadata at install.
    assert skvgg.__version__ == importlib.metadata.version("skvgg") == package_version()
    assert "__version__" in dir(skvgg)


def test_command_line_version_matches(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skvgg", "--version"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"skvgg {skvgg.__version__}"


def test_the_console_script_is_the_command_line():
    (entry_point,) = importlib.metadata.entry_points(group="console_scripts", name="skvgg")
    from skvgg.cli import main

    assert entry_point.load() is main


@pytest.mark.skipif(not os.environ.get("SKVGG_EXPECT_INSTALLED"), reason="set by .ci/test-wheel, which tests the built wheel")
def test_the_package_under_test_is_the_installed_wheel():
    package_dir = importlib.resources.files("skvgg")
    assert package_dir.parent.name == "site-packages", str(package_dir)
    # The metadata beside the imported package: the wheel's (an editable install's lists no LICENSE
    # and does list its __editable__ hooks). Another skvgg on sys.path, e.g. the borrowed
    # environment's editable install, must not answer for it.
    (dist,) = [d for d in importlib.metadata.distributions(path=[str(package_dir.parent)]) if d.metadata["Name"] == "skvgg"]
    files = dist.files
    assert any(str(f).endswith("licenses/LICENSE") for f in files)
    assert not any(str(f).startswith("__editable__") for f in files)


def test_uninstalled_source_tree_reads_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\n\n[project]\nname = "skvgg"\nversion = "9.8.7"\n'
        '\n[tool.other]\nversion = "1.0"\n'
    )
    assert source_tree_version(tmp_path) == "9.8.7"
    assert source_tree_version(tmp_path / "missing") == UNKNOWN

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    # Without metadata: the pyproject.toml above the package (a checkout), else "0+unknown" (a copied package).
    assert package_version() == source_tree_version()
