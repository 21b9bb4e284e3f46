"""The shape of the source tree (STYLE.md), read from the files themselves: no import cycle, no
long file, one definition per class name, a core that imports nothing of ours, each adapter
library imported only where it is wrapped, and a service package small enough to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ipfm_scheduler"
MAX_LINES = 400
MAX_SERVICE_MODULES = 14

# --- reading the tree ---------------------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by the name of its __init__)."""
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def imports(path: Path, name: str) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import statement anywhere in the file: inside functions,
    ``if TYPE_CHECKING:`` blocks and all; relative imports made absolute."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            yield module, [alias.name for alias in node.names]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports. ``from package import name`` is an edge to the
    package's __init__ and, when ``name`` is a submodule, to that submodule too."""
    found = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        targets: set[str] = set()
        for module, names in imports(path, name):
            targets.add(module)
            targets.update(f"{module}.{n}" for n in names)
        graph[name] = {t for t in targets if t in found and t != name}
    return graph


def package_of(module: str) -> str:
    """``ipfm_scheduler.audio.catalogue`` -> ``ipfm_scheduler.audio`` (top-level modules such as
    ``ipfm_scheduler.errors`` are their own)."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = package_of(module)
        packages.setdefault(here, set()).update(
            package_of(t) for t in targets if package_of(t) != here
        )
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) through each group of mutually importing nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first, inside the group, back to the start
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {sorted(group)}")  # pragma: no cover


def shown(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in found)


# --- the graph reads what Python imports --------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_graph_sees_lazy_type_checking_and_package_imports(tmp_path: Path):
    write_tree(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from ipfm_scheduler.a.x import X\n",
            "a/x.py": "def f():\n    from ipfm_scheduler.a import y\n",
            "a/y.py": "if TYPE_CHECKING:\n    from ipfm_scheduler import b\n",
            "b/__init__.py": "",
            "b/z.py": "from . import w\nfrom ..a import x\n",
            "b/w.py": "import ipfm_scheduler.b.z\n",
        },
    )

    graph = import_graph(tmp_path)

    assert graph == {
        "ipfm_scheduler": set(),
        "ipfm_scheduler.a": {"ipfm_scheduler.a.x"},
        "ipfm_scheduler.a.x": {"ipfm_scheduler.a", "ipfm_scheduler.a.y"},
        "ipfm_scheduler.a.y": {"ipfm_scheduler", "ipfm_scheduler.b"},
        "ipfm_scheduler.b": set(),
        "ipfm_scheduler.b.z": {
            "ipfm_scheduler.b",
            "ipfm_scheduler.b.w",
            "ipfm_scheduler.a",
            "ipfm_scheduler.a.x",
        },
        "ipfm_scheduler.b.w": {"ipfm_scheduler.b.z"},
    }
    assert shown(cycles(graph)) == (
        "ipfm_scheduler.a -> ipfm_scheduler.a.x -> ipfm_scheduler.a\n"
        "ipfm_scheduler.b.w -> ipfm_scheduler.b.z -> ipfm_scheduler.b.w"
    )
    assert cycles(package_graph(graph)) == [
        ["ipfm_scheduler.a", "ipfm_scheduler.b", "ipfm_scheduler.a"]
    ]


# --- the rules ----------------------------------------------------------------------------------


def test_no_import_cycle_among_modules():
    found = cycles(import_graph())
    assert not found, f"import cycles (lazy imports included):\n{shown(found)}"


def test_no_import_cycle_among_packages():
    """Arrows between ipfm_scheduler's packages point one way (config -> audio, not back)."""
    found = cycles(package_graph(import_graph()))
    assert not found, f"packages importing each other:\n{shown(found)}"


def _line_count_cases() -> list[object]:
    return [
        pytest.param(path, id=path.relative_to(ROOT / PACKAGE).as_posix())
        for path in sorted((ROOT / PACKAGE).rglob("*.py"))
    ]


@pytest.mark.parametrize("path", _line_count_cases())
def test_no_file_over_400_lines(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_no_class_name_defined_twice():
    where: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(name)
    twice = {cls: found for cls, found in sorted(where.items()) if len(found) > 1}
    assert not twice, "class names defined more than once:\n" + "\n".join(
        f"{cls}: {', '.join(found)}" for cls, found in twice.items()
    )


def test_the_core_imports_nothing_of_ours_but_the_core_the_errors_and_the_language():
    # i18n is a leaf (gettext and date formats, no clock, no files but its catalogues)
    allowed = ("ipfm_scheduler.core", "ipfm_scheduler.errors", "ipfm_scheduler.i18n")
    found = [
        f"{name} imports {module}"
        for name, path in modules().items()
        if name.startswith("ipfm_scheduler.core")
        for module, _ in imports(path, name)
        if module.split(".")[0] == PACKAGE
        and not any(module == a or module.startswith(a + ".") for a in allowed)
    ]
    assert not found, "\n".join(found)


ADAPTERS = {  # library -> where it may be imported (STYLE.md: each adapter wrapped in one place)
    "apscheduler": ("service/timer.py",),
    "paho": ("transport/mqtt.py",),
    "sqlalchemy": ("storage/",),  # and the Alembic scripts in migrations/, outside the package
    "alembic": ("storage/",),
    "pydub": ("audio/",),
    "openpyxl": ("cli/xlsx.py",),
    "bcrypt": ("service/http/passwords.py",),
    "starlette": ("service/http/app.py",),
    "anyio": ("service/http/app.py",),
    "uvicorn": ("service/http/server.py",),
}


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_an_adapter_library_is_imported_only_where_it_is_wrapped(library: str):
    found = []
    for name, path in modules().items():
        where = path.relative_to(ROOT / PACKAGE).as_posix()
        if where.startswith(ADAPTERS[library]):
            continue
        found += [
            f"{where} imports {module}"
            for module, _ in imports(path, name)
            if module.split(".")[0] == library
        ]
    assert not found, f"{library} only in {', '.join(ADAPTERS[library])}:\n" + "\n".join(found)


def test_the_service_package_has_at_most_14_modules():
    service = ROOT / PACKAGE / "service"
    found = sorted(
        p.name
        for p in service.iterdir()
        if p.name != "__init__.py"
        and ((p.suffix == ".py" and p.is_file()) or (p / "__init__.py").is_file())
    )
    assert len(found) <= MAX_SERVICE_MODULES, (
        f"service/ has {len(found)} modules (at most {MAX_SERVICE_MODULES}): {', '.join(found)}"
    )
