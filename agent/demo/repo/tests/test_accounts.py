import pytest
from ledger import InsufficientFunds, InvalidAmount, Ledger


def test_transfer_moves_money():
    ledger = Ledger({"alice": 500, "bob": 0})
    ledger.transfer("alice", "bob", 200)
    assert (ledger.balance("alice"), ledger.balance("bob")) == (300, 200)


def test_failed_transfer_changes_nothing():
    ledger = Ledger({"alice": 100, "bob": 0})
    with pytest.raises(InsufficientFunds):
        ledger.transfer("alice", "bob", 150)
    assert (ledger.balance("alice"), ledger.balance("bob")) == (100, 0)


@pytest.mark.parametrize("amount", [0, -5])
def test_rejects_non_positive_amount(amount):
    ledger = Ledger({"alice": 100, "bob": 0})
    with pytest.raises(InvalidAmount):
        ledger.transfer("alice", "bob", amount)
    assert (ledger.balance("alice"), ledger.balance("bob")) == (100, 0)
