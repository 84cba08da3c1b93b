"""Whole runs (run_task, bwrap, an in-process scripted model) on a Node project (node --test) and a Go module:
the baseline names the failing test by id, `run_tests` with one id runs only that test, a scripted fix is
`fixed` with a branch, and a change that breaks another test is `not_fixed` naming it as a regression.
A Jest project runs the same way from the user's untracked node_modules (a link to the pinned install of `make
npm-fixtures`), which the sandbox shows read-only inside the checkout; Vitest's parsing and narrowing are
covered in tests/test_runners.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.config import RunRequest
from agent.run import run_task
from agent.scripted_model import ScriptedModel, call, turn
from tests.runner_projects import (
    go_project,
    js_project,
    needs_go,
    needs_node,
    needs_npm_fixtures,
    node_project,
    write,
)
from tests.sandbox_fixtures import needs_bwrap

pytestmark = [pytest.mark.slow, needs_bwrap]

NODE_ADD = "test/math.test.js::math > adds two numbers"
NODE_MUL = "test/math.test.js::math > multiplies"
# the fix also edits a CLI that already exits with process.exit at the base: what the base had is no finding
# of the static check (agent/runner_check.py), so this stays fixed (the positive control of its red team)
NODE_CLI = "const { add } = require('../lib/math.js');\nprocess.exit(add(1, 1) === 2 ? 0 : 1);\n"
NODE_FIX = "sed -i 's/a - b/a + b/' lib/math.js && echo 'if (process.argv[2] === \"-h\") process.exit(2);' >> bin/cli.js"
NODE_BREAK = NODE_FIX + " && sed -i 's/a \\* b/a + b/' lib/math.js"
JS_FIX = "sed -i 's/a - b/a + b/' lib/math.js"
JS_BREAK = JS_FIX + " && sed -i 's/a \\* b/a + b/' lib/math.js"
GO_ADD = "./calc::TestAdd"
GO_MUL = "./calc::TestMul/small_numbers"
GO_FIX = "sed -i 's/a - b/a + b/' calc/calc.go"
GO_BREAK = GO_FIX + " && sed -i 's/a \\* b/a + b/' calc/calc.go"


def committed(repo: Path) -> Path:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "calc"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True
        )
    return repo


def script(one_id: str, edit: str) -> list[Any]:
    return [
        turn(call("run_tests", "t1")),
        turn(call("run_tests", "t2", tests=[one_id])),
        turn(call("bash", "b1", command=edit)),
        turn(call("run_tests", "t3")),
        turn(call("finish", "f1", summary="add adds")),
        turn(call("finish", "f2", summary="add adds", gave_up=True, reason="the gate refused")),
    ]


def run(tmp_path: Path, repo: Path, one_id: str, edit: str) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(script(one_id, edit))
    request = RunRequest(
        repo=repo, task="add returns the wrong sum", state_dir=tmp_path / "state", sandbox="bwrap", quiet=True
    )
    return run_task(request, model=model), model


def observation(model: ScriptedModel, request: int) -> str:
    """The text of the tool result the model was shown in request `request`."""
    blocks = model.requests[request][-1]["content"]
    return "\n".join(
        part["text"] if isinstance(part, dict) else str(part)
        for block in blocks
        for part in (block["content"] if isinstance(block["content"], list) else [{"text": block["content"]}])
    )


@pytest.fixture(scope="module")
def node_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ScriptedModel]]:
    out = {}
    for name, edit in (("fix", NODE_FIX), ("break", NODE_BREAK)):
        tmp = tmp_path_factory.mktemp(f"node-{name}")
        repo = write(node_project(tmp / "calc"), {"bin/cli.js": NODE_CLI})
        out[name] = run(tmp, committed(repo), NODE_MUL, edit)
    return out


@pytest.fixture(scope="module")
def jest_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ScriptedModel]]:
    out = {}
    for name, edit in (("fix", JS_FIX), ("break", JS_BREAK)):
        tmp = tmp_path_factory.mktemp(f"jest-{name}")
        # `node_modules` without a slash: the link is the user's, untracked and ignored, never committed
        repo = write(js_project(tmp / "calc", "jest"), {".gitignore": "node_modules\n"})
        out[name] = run(tmp, committed(repo), NODE_MUL, edit)
    return out


@pytest.fixture(scope="module")
def go_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ScriptedModel]]:
    out = {}
    for name, edit in (("fix", GO_FIX), ("break", GO_BREAK)):
        tmp = tmp_path_factory.mktemp(f"go-{name}")
        out[name] = run(tmp, committed(go_project(tmp / "calc")), GO_MUL, edit)
    return out


def check(runs: dict[str, tuple[Any, ScriptedModel]], target: str, others: list[str]) -> None:
    fix, model = runs["fix"]
    first = observation(model, 1)
    print(f"\nfirst run_tests observation:\n{first}")
    print("fix verification:", json.dumps(fix.verification, indent=1))
    assert f"FAILED {target}" in first and "1 failed" in first
    narrowed = observation(model, 2)
    assert narrowed.startswith("1 passed, 0 failed, 0 errors, 0 skipped"), narrowed
    assert fix.status == "fixed" and fix.branch, fix.reason
    assert fix.verification["targets"] == [target] and fix.verification["regressions"] == []
    assert fix.verification["findings"] == []
    broke, _ = runs["break"]
    print("regression verification:", json.dumps(broke.verification, indent=1))
    assert broke.status == "not_fixed" and broke.branch is None
    assert broke.verification["regressions"] == others and others[-1] in broke.reason


@needs_node
def test_node_test_run_names_targets_and_regressions_by_id(node_runs: Any) -> None:
    check(node_runs, NODE_ADD, [NODE_MUL])


@needs_node
@needs_npm_fixtures
def test_jest_run_from_the_users_node_modules_names_targets_and_regressions_by_id(jest_runs: Any) -> None:
    check(jest_runs, NODE_ADD, [NODE_MUL])


@needs_go
def test_go_test_run_names_targets_and_regressions_by_id(go_runs: Any) -> None:
    check(go_runs, GO_ADD, ["./calc::TestMul", GO_MUL])  # a subtest fails its parent too
