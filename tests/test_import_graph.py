"""The package's import graph: no cycle between modules, no private name imported across modules,
and the modules that moved into sub-packages still import by their former names."""

from __future__ import annotations

import ast
import importlib
import pickle
from pathlib import Path

import pytest

import skvgg

PACKAGE = Path(skvgg.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path, top_level_only: bool):
    """``(module imported, names imported from it)`` for each ``from ... import`` of skvgg's."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "skvgg" or target.startswith("skvgg."):
                yield target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skvgg."):
                    yield alias.name, []


def test_no_module_imports_a_private_name_from_another_module():
    offences = []
    for name, path in MODULES.items():
        for target, names in _imports(name, path, top_level_only=False):
            for imported in names:
                if not imported.startswith("_") or imported.startswith("__"):
                    continue
                if f"{target}.{imported}" in MODULES:
                    continue  # a private submodule of a package, imported by a module of that package
                offences.append(f"{name} imports {imported} from {target}")
    assert not offences, "\n".join(offences)


def test_module_level_imports_have_no_cycle():
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names in _imports(name, path, top_level_only=True):
            for imported in names or [""]:
                module = f"{target}.{imported}" if f"{target}.{imported}" in MODULES else target
                if module in MODULES and module != name:
                    graph[name].add(module)
    # A package's __init__ may import its own submodules; the edge back (a submodule importing
    # its package's names) is what makes a cycle then, and is reported like any other.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("old, new", sorted(skvgg.MOVED_MODULES.items()))
def test_a_moved_module_imports_by_its_former_name_as_the_same_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_a_pickle_naming_a_former_module_path_loads():
    from skvgg.models.weights import Preprocessing

    blob = pickle.dumps(Preprocessing(resize_size=40, crop_size=32), protocol=0)
    assert b"skvgg.models._preprocessing" in blob
    former = blob.replace(b"skvgg.models._preprocessing", b"skvgg._preprocessing")
    assert pickle.loads(former) == Preprocessing(resize_size=40, crop_size=32)
