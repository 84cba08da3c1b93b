"""Who imports whom among be-agent's own modules (agent/, tools/, sandbox/), read from the source with `ast`.

Every import counts, the ones inside functions too: a lazy import still ties two modules together. Run it
to print the graph (`python -m tests.import_graph`), with `--dot` for Graphviz.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "tools", "sandbox")
LAYERS = {"agent": 2, "tools": 1, "sandbox": 0}  # a module may import its own layer or a lower one
EXCLUDED = ("agent/demo/repo/",)  # the demo's example repository is data, not our code


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(str(path.relative_to(ROOT)).startswith(skip) for skip in EXCLUDED):
                yield path


def _imported(node: ast.AST, importer: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            base = importer.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        yield module
        for alias in node.names:  # `from agent import workspace` imports the module agent.workspace
            yield f"{module}.{alias.name}"


def imports_in(source: str, importer: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The modules of `known` that the source of module `importer` imports, anywhere in it (imports inside
    functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        found.update(name for name in _imported(node, importer, is_package) if name in known)
    found.discard(importer)
    return found


def graph() -> dict[str, set[str]]:
    files = list(source_files())
    known = {module_name(p) for p in files}
    return {
        module_name(p): imports_in(
            p.read_text(encoding="utf-8"), module_name(p), known, is_package=p.name == "__init__.py"
        )
        for p in files
    }


def layer_of(module: str) -> int:
    return LAYERS[module.split(".", 1)[0]]


def upward_edges(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a lower layer into a higher one (tools or sandbox importing agent, sandbox importing
    tools)."""
    return sorted((a, b) for a, targets in edges.items() for b in targets if layer_of(b) > layer_of(a))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges to a package's `__init__` when a module of it is imported too (`from agent import x`)."""
    return {
        a: {b for b in targets if not any(t.startswith(b + ".") for t in targets)}
        for a, targets in edges.items()
    }


def main(argv: list[str]) -> int:
    edges = _without_packages(graph())
    if "--dot" in argv:
        print("digraph be_agent {\n  rankdir=LR;")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a])) or '(nothing of ours)'}")
    print(f"\nupward edges: {upward_edges(edges) or 'none'}")
    print(f"cycles: {cycles(edges) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
