from ledger.accounts import Ledger
from ledger.errors import InsufficientFunds, InvalidAmount, UnknownAccount

__all__ = ["InsufficientFunds", "InvalidAmount", "Ledger", "UnknownAccount"]
