"""The package's shape: no import cycles, and a public API that matches docs/api.md."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import trustbuild

ROOT = Path(trustbuild.__file__).parent
DOCS = ROOT.parent / "docs"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """Every trustbuild module *tree* imports at run time (lazy imports in functions
    included: a cycle through them is still a cycle), TYPE_CHECKING blocks left out."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in modules}


def test_no_import_cycles() -> None:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {name: _imports(ast.parse(path.read_text()), set(paths)) - {name}
             for name, path in paths.items()}
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def walk(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                walk(dep, [*stack, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])


def _documented_signatures() -> dict[str, str]:
    """``name(params)`` from the headings of docs/api.md's function sections."""
    text = (DOCS / "api.md").read_text()
    return {m.group(1): m.group(2) for m in
            re.finditer(r"^### `trustbuild\.(\w+)(\(.*\))`", text, re.MULTILINE)}


def test_every_public_name_is_documented_with_its_real_signature() -> None:
    documented = _documented_signatures()
    text = (DOCS / "api.md").read_text()
    for name in trustbuild.__all__:
        if name == "__version__":
            continue
        obj = getattr(trustbuild, name)
        if inspect.isfunction(obj):
            assert name in documented, f"docs/api.md does not document trustbuild.{name}"
            real = str(inspect.signature(obj)).replace("'", "")
            real = re.sub(r" -> .*$", "", real)
            assert documented[name] == real, (name, documented[name], real)
        else:
            assert f"`trustbuild.{name}`" in text, f"docs/api.md does not name {name}"
    extra = set(documented) - set(trustbuild.__all__)
    assert not extra, f"docs/api.md documents names trustbuild does not export: {extra}"


def test_internal_modules_say_so() -> None:
    init = (ROOT / "_internal" / "__init__.py").read_text()
    assert "not part of the public API" in init
