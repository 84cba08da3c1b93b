"""Scripted model turns shared by the end-to-end tests and the demo recording.

`ledger_fix()` is a careful engineer's session on the demo ledger repository: read, state the contract,
fix with validation, add a reproducing test, run the tests, finish with the report.
"""

from __future__ import annotations

from typing import Any

from tests.standin import Reply, reply, text, tool_use

EDITOR = "str_replace_based_edit_tool"

OLD_TRANSFER = """    def transfer(self, source: str, target: str, amount_cents: int) -> None:
        self._balances[source] -= amount_cents
        if self._balances[source] < 0:
            raise InsufficientFunds(f"{source} cannot pay {amount_cents}")
        self._balances[target] += amount_cents
"""

NEW_TRANSFER = '''    def transfer(self, source: str, target: str, amount_cents: int) -> None:
        """Move `amount_cents` from `source` to `target`; on any error no balance changes."""
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise InvalidAmount(f"amount must be a positive integer number of cents, got {amount_cents!r}")
        for account in (source, target):
            if account not in self._balances:
                raise UnknownAccount(account)
        if self._balances[source] < amount_cents:
            raise InsufficientFunds(f"{source} cannot pay {amount_cents}")
        self._balances[source] -= amount_cents
        self._balances[target] += amount_cents
'''

NEW_TEST = """import pytest

from ledger import Ledger, UnknownAccount


def test_unknown_account_is_rejected_without_side_effects():
    ledger = Ledger({"alice": 100})
    with pytest.raises(UnknownAccount):
        ledger.transfer("alice", "mallory", 10)
    assert ledger.balance("alice") == 100
"""

REPORT: dict[str, Any] = {
    "summary": "Ledger.transfer now validates before it writes: a failed transfer changes no balance, and "
    "non-positive amounts and unknown accounts are rejected.",
    "contract": {
        "inputs": "source and target account names; amount_cents, a positive int",
        "outputs": "None",
        "side_effects": "debits source and credits target, both or neither",
        "invariants": "the sum of balances is unchanged; no balance goes negative",
        "failure_modes": "InvalidAmount, UnknownAccount, InsufficientFunds; raised before any write",
        "authorization": "none at this layer (in-memory library; callers authorise)",
    },
    "validation_and_authz": "amount must be a positive int (bools refused); both accounts must exist",
    "error_handling": "all checks happen before the first write, so errors leave the ledger untouched",
    "migrations": "none",
    "risky_operations": "none",
    "trade_offs": "UnknownAccount replaces the KeyError callers may have caught before",
    "tests": "added tests/test_unknown_account.py; the existing failing tests now pass",
}


def ledger_fix() -> list[Reply]:
    return [
        reply(
            text("I'll read the ledger module and its tests first."),
            tool_use(EDITOR, {"command": "view", "path": "ledger/accounts.py"}),
        ),
        reply(tool_use("bash", {"command": "grep -rn 'class ' ledger/errors.py"})),
        reply(
            text(
                "Contract for transfer: inputs are two account names and a positive integer amount; the "
                "invariant is that both balances change or neither does; failure modes are InvalidAmount, "
                "UnknownAccount and InsufficientFunds, all raised before any write. Checking the tests."
            ),
            tool_use(EDITOR, {"command": "view", "path": "tests/test_accounts.py"}),
        ),
        reply(
            text("Validation first, then the two writes."),
            tool_use(
                EDITOR,
                {
                    "command": "str_replace",
                    "path": "ledger/accounts.py",
                    "old_str": "from ledger.errors import InsufficientFunds\n",
                    "new_str": "from ledger.errors import InsufficientFunds, InvalidAmount, UnknownAccount\n",
                },
            ),
        ),
        reply(
            tool_use(
                EDITOR,
                {
                    "command": "str_replace",
                    "path": "ledger/accounts.py",
                    "old_str": OLD_TRANSFER,
                    "new_str": NEW_TRANSFER,
                },
            )
        ),
        reply(
            tool_use(
                EDITOR, {"command": "create", "path": "tests/test_unknown_account.py", "file_text": NEW_TEST}
            )
        ),
        reply(tool_use("run_tests", {})),
        reply(tool_use("finish", REPORT)),
    ]


def quick_ledger_fix() -> list[Reply]:
    """`ledger_fix` without the test it adds: the same fix, for runs whose point lies elsewhere. A change
    that adds tests costs the harness two more sandboxed runs (the added tests on the change and on the
    base); the runs that are about added tests keep `ledger_fix`."""
    turns = ledger_fix()
    del turns[5]  # the create of tests/test_unknown_account.py
    return turns
