"""The core's structure: imports go one way (bottom to top), no cycles, click only in the CLI, modules short."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

CORE = Path(__file__).resolve().parent.parent / "odin_core"

#: layer of each module or package, bottom (0) to top; a module may import its own layer and below
LAYERS = {
    "foundation": 0, "questions": 0,
    "components": 1,
    "recipe": 2,
    "runtime": 3,
    "data": 4, "engine": 4, "evaluate": 4, "report": 4,
    "flows": 5,
    "cli": 6, "__main__": 6,
}
DOMAIN = ("data", "engine", "evaluate", "report")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """odin_core modules imported anywhere in the file (inside functions too); ``from odin_core import x``
    counts as importing ``odin_core.x`` when x is a module, else the ``odin_core`` package itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("odin_core")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("odin_core"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def test_every_module_has_a_layer(graph):
    missing = sorted(m for m in graph if m != "odin_core" and layer(m) is None)
    assert not missing, f"modules without a layer in LAYERS: {missing}"


def test_imports_go_one_way(graph):
    upward = []
    for module, targets in graph.items():
        if module == "odin_core":  # the public surface re-exports every layer
            continue
        for target in targets:
            if target == "odin_core":
                if layer(module) < LAYERS["cli"]:
                    upward.append((module, target))
            elif layer(target) > layer(module):
                upward.append((module, target))
    assert not upward, f"imports from a lower layer to a higher one: {sorted(upward)}"


def test_domain_packages_do_not_import_each_other(graph):
    def package(module):
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None

    crossing = sorted((m, t) for m, targets in graph.items() for t in targets
                      if package(m) in DOMAIN and package(t) in DOMAIN and package(m) != package(t))
    assert not crossing, f"domain packages importing each other: {crossing}"


def test_no_import_cycle(graph):
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(target):] + [target]))
            if state.get(target) is None:
                visit(target, stack + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_click_only_in_the_cli():
    def uses_click(path):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "click" for n in names):
                return True
        return False

    users = sorted(module_name(p) for p in CORE.rglob("*.py") if uses_click(p))
    assert users and all(u.startswith("odin_core.cli") for u in users), users


def test_modules_stay_short():
    long = {module_name(p): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"modules over 500 lines (split them): {long}"
