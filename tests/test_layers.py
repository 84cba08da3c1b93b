"""Layers point one way and modules do not import each other in circles, lazy imports included.

`tools/` and `sandbox/` are libraries the agent uses: they never import `agent/` (they raise their own
exceptions; agent.errors maps them to exit codes), and `sandbox/` never imports `tools/`.
"""

from __future__ import annotations

import ast

from tests.import_graph import ROOT, cycles, graph, imports_in, source_files, upward_edges


def test_tools_and_sandbox_never_import_agent() -> None:
    offenders = []
    for path in source_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in ("tools", "sandbox"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            offenders += [
                f"{rel}:{node.lineno} imports {name}" for name in names if name.split(".")[0] == "agent"
            ]
    assert offenders == []


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_edges(graph()) == []


def test_no_import_cycles_even_through_lazy_imports() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_sees_imports_inside_functions() -> None:
    # a guard on the guard: report imports verdict at the top, verdict imports report inside a function
    known = {"agent", "agent.report", "agent.verdict", "agent.workspace"}
    report = "from agent.verdict import is_test_path\n"
    verdict = (
        "from agent import workspace as ws\n\ndef check():\n    from agent.report import migrations_check\n"
    )
    edges = {
        "agent.report": imports_in(report, "agent.report", known),
        "agent.verdict": imports_in(verdict, "agent.verdict", known),
    }
    assert edges["agent.verdict"] == {"agent", "agent.workspace", "agent.report"}
    assert cycles(edges) == [["agent.report", "agent.verdict"]]
    assert upward_edges({"sandbox.bwrap": {"agent.errors"}, "agent.run": {"sandbox.bwrap"}}) == [
        ("sandbox.bwrap", "agent.errors")
    ]
