"""An in-memory ledger of account balances in integer cents."""

from ledger.errors import InsufficientFunds


class Ledger:
    def __init__(self, balances: dict[str, int]):
        self._balances = dict(balances)

    def balance(self, account: str) -> int:
        return self._balances[account]

    def transfer(self, source: str, target: str, amount_cents: int) -> None:
        self._balances[source] -= amount_cents
        if self._balances[source] < 0:
            raise InsufficientFunds(f"{source} cannot pay {amount_cents}")
        self._balances[target] += amount_cents
