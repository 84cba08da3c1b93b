"""Record the 30-step session that `bench/overhead.py` replays: `.venv/bin/python bench/record_overhead.py`.

The session is scripted (not a live model's) and works on the demo ledger repository the way a careful
engineer reads before writing: many narrow views, greps, a few edits, a failing then a narrowed then a full
test run, and a finish with the report. It runs through the real run (stand-in model server, the SDK over
HTTP, bwrap, real tests) and is saved as bench/overhead_trajectory.jsonl.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.config import RunRequest  # noqa: E402
from agent.demo import DEMO_TASK, make_demo_repo  # noqa: E402
from agent.run import run_task  # noqa: E402
from tests.standin import Reply, StandinServer, reply, text, tool_use  # noqa: E402

RECORDING = ROOT / "bench" / "overhead_trajectory.jsonl"
MODEL_NAME = "claude-sonnet-5-5"
EDITOR = "str_replace_based_edit_tool"
STEPS = 30

TRANSFER_BEFORE = """    def transfer(self, source: str, target: str, amount_cents: int) -> None:
        self._balances[source] -= amount_cents
        if self._balances[source] < 0:
            raise InsufficientFunds(f"{source} cannot pay {amount_cents}")
        self._balances[target] += amount_cents
"""

TRANSFER_AFTER = '''    def transfer(self, source: str, target: str, amount_cents: int) -> None:
        """Move `amount_cents` from `source` to `target`: both balances change, or neither does."""
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise InvalidAmount(f"amount must be a positive integer of cents, got {amount_cents!r}")
        for account in (source, target):
            self._require(account)
        if self._balances[source] < amount_cents:
            raise InsufficientFunds(f"{source} cannot pay {amount_cents}")
        self._balances[source] -= amount_cents
        self._balances[target] += amount_cents
'''

BALANCE_BEFORE = """    def balance(self, account: str) -> int:
        return self._balances[account]
"""

BALANCE_AFTER = """    def balance(self, account: str) -> int:
        self._require(account)
        return self._balances[account]

    def _require(self, account: str) -> None:
        if account not in self._balances:
            raise UnknownAccount(account)
"""

UNKNOWN_ACCOUNT_TEST = """import pytest

from ledger import Ledger, UnknownAccount


def test_transfer_to_unknown_account_changes_nothing():
    ledger = Ledger({"alice": 100})
    with pytest.raises(UnknownAccount):
        ledger.transfer("alice", "nobody", 10)
    assert ledger.balance("alice") == 100


def test_balance_of_unknown_account_is_an_error():
    with pytest.raises(UnknownAccount):
        Ledger({}).balance("nobody")
"""

REPORT: dict[str, Any] = {
    "summary": "Ledger.transfer checks everything before it writes, so a failed transfer leaves every balance "
    "as it was; non-positive amounts raise InvalidAmount and unknown accounts UnknownAccount.",
    "contract": {
        "inputs": "source and target account names that exist; amount_cents, a positive int (not bool)",
        "outputs": "None",
        "side_effects": "source is debited and target credited, both or neither",
        "invariants": "total of all balances unchanged; no balance below zero",
        "failure_modes": "InvalidAmount, UnknownAccount, InsufficientFunds, all raised before any write",
        "authorization": "none here: an in-memory library whose callers authorise",
    },
    "validation_and_authz": "amount must be a positive int; both accounts must exist",
    "error_handling": "every check precedes the first write; errors are the classes in ledger/errors.py",
    "migrations": "none",
    "risky_operations": "none",
    "trade_offs": "balance() of an unknown account now raises UnknownAccount instead of KeyError",
    "tests": "tests/test_unknown_account.py covers unknown accounts; the three failing tests now pass",
}


def view(path: str, lines: list[int] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"command": "view", "path": path}
    if lines is not None:
        params["view_range"] = lines
    return tool_use(EDITOR, params)


def bash(command: str) -> dict[str, Any]:
    return tool_use("bash", {"command": command})


def edit(path: str, old: str, new: str) -> dict[str, Any]:
    return tool_use(EDITOR, {"command": "str_replace", "path": path, "old_str": old, "new_str": new})


def session() -> list[Reply]:
    """Thirty assistant turns, one tool call each."""
    accounts = "ledger/accounts.py"
    turns = [
        reply(text("Reading the ledger before changing anything."), view(accounts)),
        reply(view("ledger/errors.py")),
        reply(view("tests/test_accounts.py", [1, 10])),
        reply(view("tests/test_accounts.py", [11, 23])),
        reply(bash("grep -rn 'transfer' --include='*.py' .")),
        reply(view("ledger/__init__.py")),
        reply(bash("grep -rn 'raise' ledger/")),
        reply(view("AGENTS.md")),
        reply(bash("git log --oneline -5")),
        reply(view(accounts, [12, 17])),
        reply(tool_use("run_tests", {})),
        reply(bash("grep -rn 'InvalidAmount\\|UnknownAccount' --include='*.py' .")),
        reply(
            text(
                "Contract: transfer validates the amount and both accounts first, then writes both balances."
            ),
            edit(
                accounts,
                "from ledger.errors import InsufficientFunds\n",
                "from ledger.errors import InsufficientFunds, InvalidAmount, UnknownAccount\n",
            ),
        ),
        reply(view(accounts, [1, 5])),
        reply(edit(accounts, TRANSFER_BEFORE, TRANSFER_AFTER)),
        reply(view(accounts, [12, 23])),
        reply(edit(accounts, BALANCE_BEFORE, BALANCE_AFTER)),
        reply(view(accounts, [8, 16])),
        reply(
            bash(
                'python3 -c \'from ledger import Ledger; l = Ledger({"a": 5, "b": 0}); '
                'l.transfer("a", "b", 5); print(l.balance("a"), l.balance("b"))\''
            )
        ),
        reply(view("pyproject.toml")),
        reply(
            tool_use(
                EDITOR,
                {
                    "command": "create",
                    "path": "tests/test_unknown_account.py",
                    "file_text": UNKNOWN_ACCOUNT_TEST,
                },
            )
        ),
        reply(view("tests/test_unknown_account.py", [1, 6])),
        reply(tool_use("run_tests", {"tests": ["tests/test_unknown_account.py"]})),
        reply(bash("grep -rn 'def test_' tests/")),
        reply(view(accounts, [16, 26])),
        reply(bash("git diff --stat")),
        reply(view("ledger/errors.py", [1, 6])),
        reply(tool_use("run_tests", {})),
        reply(bash("git status --short")),
        reply(tool_use("finish", REPORT)),
    ]
    assert len(turns) == STEPS
    return turns


def main() -> int:
    from agent.anthropic_model import AnthropicModel

    work = Path(tempfile.mkdtemp(prefix="be-agent-record-overhead-"))
    try:
        repo = work / "ledger"
        make_demo_repo(repo)
        with StandinServer(session()) as srv:
            model = AnthropicModel(MODEL_NAME, api_key="recording-key", base_url=srv.base_url)
            result = run_task(
                RunRequest(
                    repo=repo,
                    task=DEMO_TASK,
                    state_dir=work / "state",
                    sandbox="bwrap",
                    model=MODEL_NAME,
                    max_steps=STEPS + 1,
                    quiet=True,
                ),
                model=model,
            )
        if result.status != "fixed" or result.steps != STEPS:
            print(
                f"recording failed: {result.status} after {result.steps} steps: {result.reason}",
                file=sys.stderr,
            )
            return 1
        shutil.copyfile(result.trajectory, RECORDING)
        print(f"recorded {RECORDING.relative_to(ROOT)} ({result.steps} steps, {result.status})")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
