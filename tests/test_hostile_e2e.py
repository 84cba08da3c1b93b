"""Issue 17 (host parts) and issue 22 items 5 and 10, end to end: the real CLI, bwrap, git and the stand-in
model (and the GitHub stand-in for fix-issue), each hostile input with its exact outcome."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from agent.trajectory import read_records
from tests.conftest import CliRun, git, run_cli
from tests.scripts import quick_ledger_fix
from tests.standin import StandinServer, reply, text, tool_use
from tests.test_fix_issue import World, world  # noqa: F401 - the fix-issue world: git remote, GitHub stand-in

EDITOR = "str_replace_based_edit_tool"
KEY = "sk-ant-test-key-0123456789"
# a reason a steered model could give up with: terminal attacks, then workflow commands on their own lines
HOSTILE_REASON = (
    "blocked \x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07 see \x1b]8;;https://evil.example\x1b\\the docs\x1b]8;;\x1b\\"
    " \x9b31m \u202eexe.gnp\u202c\u2028"
    "\n::error file=ledger/accounts.py,line=1::forged annotation"
    "\n::add-mask::ghs_notasecret"
    "\n  ::stop-commands::tok"
    "\nvalues ##[add-mask]x and ##[stop-commands]tok"
)


def _run(
    repo: Path, state: Path, srv: StandinServer, *extra: str, env: dict[str, str] | None = None
) -> CliRun:
    return run_cli(
        "run",
        "--repo",
        str(repo),
        "--task",
        "Make a failed Ledger.transfer change nothing.",
        "--state-dir",
        str(state),
        "--sandbox",
        "bwrap",
        "--json",
        *extra,
        env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": srv.base_url, **(env or {})},
    )


def _runner_lines(output: str) -> list[str]:
    """The lines the GitHub Actions runner reads (.NET splits on CR, LF and CRLF)."""
    return re.split(r"\r\n|\r|\n", output)


def _could_run(line: str) -> bool:
    kept = "".join(ch for ch in line if unicodedata.category(ch)[0] not in "MC")
    return kept.lstrip().startswith("::") or "##[" in kept


def _assert_inert(output: str) -> None:
    assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output
    assert "\u202e" not in output and "\u2028" not in output
    assert not [line for line in _runner_lines(output) if _could_run(line)]


def _last_json(stdout: str) -> dict[str, Any]:
    """The last line as any reader splits lines (str.splitlines also breaks at U+2028, NEL, ...)."""
    last = stdout.splitlines()[-1]
    assert last.isascii()
    return dict(json.loads(last))


def test_hostile_text_from_the_model_reaches_the_terminal_and_actions_inert(demo_repo: Path, state_dir: Path):
    invented = "\x1b[2J\x1b]0;owned\x07evil\x9b2J"
    script = [
        reply(tool_use(invented, {})),
        reply(
            tool_use("finish", {"summary": "\x1b]52;c;eA==\x07", "gave_up": True, "reason": HOSTILE_REASON})
        ),
    ]
    with StandinServer(script) as srv:
        run = _run(demo_repo, state_dir, srv, "--verbose", env={"GITHUB_ACTIONS": "true"})
        unknown_tool_result = srv.requests[1].body["messages"][-1]["content"][0]
    assert run.code == 1, run.stderr
    _assert_inert(run.stdout)
    _assert_inert(run.stderr)
    assert "step 1 | last evil | " in run.stderr  # the progress line: the invented name, inert
    # the verdict line stays one line, whatever the reason holds: the next line is the harness's own
    lines = run.stderr.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("NOT FIXED: "))
    assert lines[at].startswith(
        "NOT FIXED: the model gave up: blocked  see the docs  <U+202E>exe.gnp<U+202C> "
        "::error file=ledger/accounts.py,line=1::forged annotation ::add-mask::ghs_notasecret "
        "::stop-commands::tok values # # [add-mask]x and # # [stop-commands]tok; "
    )
    assert lines[at + 1].startswith("tests: baseline ")
    result = _last_json(run.stdout)
    assert result["reason"].startswith(f"the model gave up: {HOSTILE_REASON}")  # the JSON keeps it exactly
    assert "unknown tool" in str(unknown_tool_result["content"])


def test_the_json_line_of_fix_issue_stays_one_line_in_actions(world: World):  # noqa: F811 - the fixture
    give_up = {
        "summary": "no",
        "gave_up": True,
        "reason": f"needs a decision\u2028\u2029\x85{HOSTILE_REASON}",
    }
    with StandinServer([reply(tool_use("finish", give_up))]) as model:
        run = world.fix(model.base_url, "6", GITHUB_ACTIONS="true")
    assert run.exit_code == 1, run.stderr
    _assert_inert(run.stdout)
    _assert_inert(run.stderr)
    result = _last_json(run.stdout)
    assert result["status"] == "not_fixed" and result["issue"] == 6
    assert result["reason"].startswith(f"the model gave up: needs a decision\u2028\u2029\x85{HOSTILE_REASON}")
    assert "\\u0023\\u0023[add-mask]" in run.stdout.splitlines()[-1]


NOT_UTF8 = b"\xff\xfe"


def test_a_file_name_that_is_not_utf8_is_reported_never_a_crash(demo_repo: Path, state_dir: Path):
    script = [
        reply(tool_use("bash", {"command": "printf 'x\\n' > $'\\xff\\xfe' && ls -b"})),
        reply(tool_use(EDITOR, {"command": "view", "path": "."})),
        reply(tool_use("run_tests", {})),
        reply(tool_use("finish", {"summary": "done"})),
        reply(text("I will leave it there.")),
    ]
    with StandinServer(script) as srv:
        run = _run(demo_repo, state_dir, srv)
        requests = srv.requests
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    result = _last_json(run.stdout)
    assert result["status"] == "not_fixed" and result["branch"] is None
    assert result["reason"] == (
        "1 changed file name(s) are not valid UTF-8 ('\\xff\\xfe'); a change cannot hold such names"
    )
    listing = requests[2].body["messages"][-1]["content"][0]["content"]
    assert "\\xff\\xfe  [name is not valid UTF-8: shown as \\xNN bytes]" in str(listing)
    refusal = requests[4].body["messages"][-1]["content"][0]
    assert refusal["is_error"] is True
    assert (
        "('\\xff\\xfe'); a change cannot hold such names: rename or remove those files" in refusal["content"]
    )
    records = list(read_records(Path(result["trajectory"])))
    assert records[-1]["type"] == "end" and records[-1]["status"] == "not_fixed"
    assert "be-agent/" not in git(demo_repo, "branch", "--list")


def test_the_disk_quota_ends_the_run_before_the_disk_fills(demo_repo: Path, state_dir: Path):
    script = [
        reply(tool_use("bash", {"command": "head -c 3000000 /dev/zero > filler.bin && echo written"})),
        reply(tool_use("run_tests", {})),
    ]
    with StandinServer(script) as srv:
        run = _run(demo_repo, state_dir, srv, "--disk-limit", "1M")
        asked = len(srv.message_requests)
    assert run.code == 1, run.stderr
    result = _last_json(run.stdout)
    assert result["status"] == "not_fixed" and result["branch"] is None and result["commit"] is None
    assert re.fullmatch(
        r"disk limit exceeded: the run's commands added 2\.\d MiB of files, over the disk limit of 1\.0 MiB "
        r"\(--disk-limit\)",
        result["reason"],
    ), result["reason"]
    assert asked == 1  # the run ended at once: the model never got to make another call
    [tool] = [r for r in read_records(Path(result["trajectory"])) if r["type"] == "tool"]
    assert tool["is_error"] is True and tool["content"].startswith("written")
    assert tool["content"].endswith(". The run ends now, not fixed.]")
    run_dir = Path(result["run_dir"])
    assert not (run_dir / "checkout").exists() and not (run_dir / "change.diff").exists()


@pytest.mark.parametrize(
    "value, says",
    [
        ("lots", "must be a size such as 2G, 500M or 1048576 (bytes), not 'lots'"),
        ("-5G", "must be a size such as 2G, 500M or 1048576 (bytes), not '-5G'"),
        ("0", "must be at least 1 byte, not '0'"),
    ],
)
def test_a_disk_limit_that_makes_no_sense_is_a_usage_error(demo_repo: Path, value: str, says: str):
    run = run_cli("run", "--repo", str(demo_repo), "--task", "x", "--disk-limit", value)
    assert run.code == 2
    assert run.stderr == f"be-agent: error: --disk-limit {says} (see `be-agent run --help`)\n"


def test_a_change_of_many_files_is_copied_and_verified_without_a_background_gc(
    demo_repo: Path, state_dir: Path, tmp_path: Path
):
    # A commit of more loose objects than gc.auto (6,700 by default; 1 here, to keep the test quick) starts
    # `gc --auto`; with autoDetach off it runs in the foreground, so a gc the harness let start shows as a
    # pack. (git estimates from objects/17/: these 600 blobs put 3 there, whatever the machine.)
    config = tmp_path / "gitconfig"
    config.write_text("[gc]\n\tauto = 1\n\tautoDetach = false\n[maintenance]\n\tautoDetach = false\n")
    turns = quick_ledger_fix()
    many = reply(
        tool_use(
            "bash",
            {
                "command": "mkdir gen && cd gen && for i in $(seq 600); do echo $i > $i.txt; done && ls | wc -l"
            },
        )
    )
    with StandinServer([*turns[:-2], many, *turns[-2:]]) as srv:
        run = _run(demo_repo, state_dir, srv, "--keep", env={"GIT_CONFIG_GLOBAL": str(config)})
    assert run.code == 0, run.stderr
    result = _last_json(run.stdout)
    assert result["status"] == "fixed"
    checkout = Path(result["run_dir"]) / "checkout"
    assert len(list((checkout / "gen").iterdir())) == 600
    assert list((checkout / ".git" / "objects" / "pack").glob("*.pack")) == []
    assert git(demo_repo, "ls-tree", "-r", "--name-only", result["branch"], "gen/").count("\n") == 600
