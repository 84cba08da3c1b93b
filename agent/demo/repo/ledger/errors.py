class LedgerError(Exception):
    """Base class for ledger failures."""


class InsufficientFunds(LedgerError):
    pass


class InvalidAmount(LedgerError):
    pass


class UnknownAccount(LedgerError):
    pass
