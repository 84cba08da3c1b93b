"""Attacks on the harness itself, which runs git on the host after the model's commands: nothing the model
plants in the checkout may run code there, and no repository may ride along in the change."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import git, run_cli
from tests.scripts import ledger_fix
from tests.standin import StandinServer, reply, tool_use

TASK = "Make a failed Ledger.transfer change nothing and reject non-positive amounts."


def test_a_nested_repository_with_a_filter_never_runs_on_the_host(
    demo_repo: Path, state_dir: Path, tmp_path: Path
):
    # the base commit has a submodule entry, not checked out in the run's copy
    (demo_repo / ".gitmodules").write_text(
        '[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.invalid/lib.git\n'
    )
    git(demo_repo, "add", ".gitmodules")
    subprocess.run(
        [
            "git",
            "-C",
            str(demo_repo),
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1234567890123456789012345678901234567890,vendor/lib",
        ],
        check=True,
    )
    git(demo_repo, "commit", "-qm", "vendor a library")
    marker = tmp_path / "host-code-ran"
    filter_cmd = f"sh -c 'id > {marker}; cat'"
    plant = (
        "set -e; for d in vendor/lib nested; do mkdir -p $d; (cd $d && git init -q && echo hi > f.txt && "
        "echo '* filter=x' > .gitattributes && git add . && "
        "git -c user.name=a -c user.email=a@a commit -qm s && "
        f'git config filter.x.clean "{filter_cmd}" && touch -d 2001-01-01 f.txt); done; echo planted'
    )
    turns = ledger_fix()
    script = [reply(tool_use("bash", {"command": plant})), *turns]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env={"ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789", "ANTHROPIC_BASE_URL": srv.base_url},
        )
    assert not marker.exists(), marker.read_text()
    assert run.code == 0, run.stderr
    changed = git(demo_repo, "show", "--name-only", "--format=", run.json["branch"]).split()
    assert sorted(changed) == ["ledger/accounts.py", "tests/test_unknown_account.py"]
    assert "Subproject commit" not in Path(run.json["diff"]).read_text()


FORGING_CONFTEST = """import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
"""


def _run_script(repo: Path, state_dir: Path, turns: list) -> dict:
    with StandinServer(turns) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env={"ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789", "ANTHROPIC_BASE_URL": srv.base_url},
        )
    assert run.code == 1, run.stderr
    return run.json


def test_a_conftest_that_forges_passes_does_not_make_a_fix(demo_repo: Path, state_dir: Path):
    editor = "str_replace_based_edit_tool"
    result = _run_script(
        demo_repo,
        state_dir,
        [
            reply(
                tool_use(editor, {"command": "create", "path": "conftest.py", "file_text": FORGING_CONFTEST})
            ),
            reply(tool_use("run_tests", {})),
            reply(tool_use("finish", {"summary": "all green now"})),
        ],
    )
    assert result["status"] == "not_fixed"
    assert result["branch"] is None
    assert result["tests_after"]["failed"] == 3  # the original tests, without the forging plugin


def test_shadowing_the_code_inside_the_target_test_module_does_not_make_a_fix(
    demo_repo: Path, state_dir: Path
):
    editor = "str_replace_based_edit_tool"
    shadow = (
        "from ledger import accounts as _accounts\n\n\n"
        "def _transfer(self, source, target, amount):\n"
        "    if amount <= 0:\n        raise InvalidAmount(amount)\n"
        "    if self._balances[source] < amount:\n        raise InsufficientFunds(source)\n"
        "    self._balances[source] -= amount\n    self._balances[target] += amount\n\n\n"
        "_accounts.Ledger.transfer = _transfer\n"
    )
    result = _run_script(
        demo_repo,
        state_dir,
        [
            reply(
                tool_use(
                    editor,
                    {
                        "command": "insert",
                        "path": "tests/test_accounts.py",
                        "insert_line": 3,
                        "insert_text": shadow,
                    },
                )
            ),
            reply(tool_use("run_tests", {})),
            reply(tool_use("finish", {"summary": "done"})),
        ],
    )
    assert result["status"] == "not_fixed"
    assert result["tests_after"]["failed"] >= 3


def test_a_huge_change_is_not_committed_copied_or_diffed(demo_repo: Path, state_dir: Path):
    fill = "for i in 1 2 3; do head -c 100M /dev/zero > blob$i.bin; done; ls -l blob*.bin | wc -l"
    with StandinServer(
        [
            reply(tool_use("bash", {"command": fill})),
            reply(tool_use("finish", {"summary": "x", "gave_up": True, "reason": "r"})),
        ]
    ) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env={"ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789", "ANTHROPIC_BASE_URL": srv.base_url},
        )
    assert run.code == 1, run.stderr
    assert run.json["reason"].startswith("the change is 300 MiB of files (at most 256 MiB)")
    assert run.json["branch"] is None
    run_dir = Path(run.json["run_dir"])
    assert not (run_dir / "change.diff").exists() and not (run_dir / "harness").exists()
