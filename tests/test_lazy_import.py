"""`import skvgg` is cheap: the public names load their modules on first use (PEP 562)."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import skvgg

SKVGG_ROOT = str(Path(skvgg.__file__).resolve().parent.parent)


@pytest.mark.parametrize("name", skvgg.__all__)
def test_each_public_name_is_its_module_s_object(name):
    module = importlib.import_module(f"skvgg.{skvgg._MODULE_OF[name]}")
    assert getattr(skvgg, name) is getattr(module, name)


def test_the_public_names_resolve_as_imports_do():
    assert set(skvgg.__all__) <= set(dir(skvgg))
    namespace = {}
    exec("from skvgg import *", namespace)
    assert set(skvgg.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        skvgg.no_such_name  # noqa: B018


FRESH = """
import sys
import skvgg
assert "torch" not in sys.modules, "import skvgg loaded torch"
assert skvgg.models.architectures.list_archs()[0] == "vgg11"  # a submodule, reached as an attribute
assert "torch" not in sys.modules, "skvgg.models.architectures loaded torch"
try:
    skvgg.no_such_module
except AttributeError:
    print("OK")
"""


def test_import_skvgg_loads_no_torch():
    env = dict(os.environ, PYTHONPATH=SKVGG_ROOT)
    result = subprocess.run([sys.executable, "-c", FRESH], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr
