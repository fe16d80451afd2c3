"""The GUI's import graph: no cycle (imports inside functions count, ``if TYPE_CHECKING:``
ones do not) and only the app imports the main window (CONVENTIONS rule 22)."""

from __future__ import annotations

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[1] / "gui"


def _module(path: Path) -> str:
    parts = list(path.relative_to(GUI.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, type_checking: bool) -> set[str]:
    """The gui modules ``path`` imports (``gui.x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for b in node.body for n in ast.walk(b))
    me = _module(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            names = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            name = name.removeprefix("optiscope.")
            if name.startswith("gui"):
                out.add(name)
    return out


def _graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    files = {_module(p): p for p in GUI.rglob("*.py")}
    return {
        m: {n for n in _imports(p, type_checking=type_checking) if n in files and n != m}
        for m, p in files.items()
    }


def test_only_the_app_imports_the_main_window():
    importers = sorted(m for m, deps in _graph(type_checking=True).items() if "gui.main_window" in deps)
    assert importers == ["gui.app"]


def test_the_gui_has_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles
