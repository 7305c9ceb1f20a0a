"""The encoders package imports one way: no module reaches, directly or round about, back
to a module that imports it, whether at module level, under TYPE_CHECKING or inside a
function."""

from __future__ import annotations

import ast
from pathlib import Path

import cliposcope.encoders

PACKAGE = "cliposcope.encoders"
FOLDER = Path(cliposcope.encoders.__file__).parent


def module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


MODULES = {module_name(path): path for path in sorted(FOLDER.glob("*.py"))}


def imported_modules(tree: ast.Module, importer: str) -> set[str]:
    """The modules of this package that import statements anywhere in the tree load:
    ``from M import X`` loads the submodule M.X where there is one, else M."""
    package = importer if importer == PACKAGE else importer.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                source = f"{anchor}.{source}".rstrip(".")
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
    return (found & set(MODULES)) - {importer}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of this package it imports."""
    return {
        name: imported_modules(ast.parse(path.read_text(encoding="utf-8")), name)
        for name, path in MODULES.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that returns to its start, or None."""
    finished: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in finished:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        finished.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_encoders_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_module_level_typing_and_function_level_imports():
    graph = import_graph()
    assert f"{PACKAGE}.base" in graph[f"{PACKAGE}.openclip"]
    assert f"{PACKAGE}.base" in graph[f"{PACKAGE}.registry"]  # under TYPE_CHECKING
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from cliposcope.encoders.specs import ModelSpec\n"
        "def late():\n    from . import hf\n    import cliposcope.encoders.st\n"
    )
    assert imported_modules(tree, f"{PACKAGE}.base") == {
        f"{PACKAGE}.specs",
        f"{PACKAGE}.hf",
        f"{PACKAGE}.st",
    }
    taken_from_the_package = ast.parse("from cliposcope.encoders import load_encoder, base")
    assert imported_modules(taken_from_the_package, f"{PACKAGE}.hf") == {
        PACKAGE,
        f"{PACKAGE}.base",
    }


def test_a_cycle_is_found_and_shown():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
