import pytest
from sqlstore import DuplicateEmailError, NotFoundError, OrderRepo, UserRepo


def test_create_and_get_user(conn):
    users = UserRepo(conn)
    alice = users.create("Alice", "alice@example.com")
    assert users.get(alice.id) == alice
    assert users.get_by_email("alice@example.com") == alice


def test_duplicate_email_is_rejected(conn):
    users = UserRepo(conn)
    users.create("Alice", "alice@example.com")
    with pytest.raises(DuplicateEmailError):
        users.create("Alice Again", "alice@example.com")


def test_missing_user(conn):
    with pytest.raises(NotFoundError):
        UserRepo(conn).get(42)
    assert UserRepo(conn).get_by_email("nobody@example.com") is None


def test_find_by_name(conn):
    users = UserRepo(conn)
    users.create("Alice Smith", "a@example.com")
    users.create("Bob Smithers", "b@example.com")
    users.create("Carol", "c@example.com")
    assert [u.name for u in users.find_by_name("smith")] == ["Alice Smith", "Bob Smithers"]


def test_orders_and_totals(conn):
    alice = UserRepo(conn).create("Alice", "alice@example.com")
    orders = OrderRepo(conn)
    orders.create(alice.id, 1250)
    orders.create(alice.id, 750)
    assert orders.total_for_user(alice.id) == 2000
    assert orders.close_all_for_user(alice.id) == 2
    assert orders.total_for_user(alice.id, status="open") == 0
    assert [o.status for o in orders.list_for_user(alice.id)] == ["closed", "closed"]


def test_deleting_user_deletes_orders(conn):
    users = UserRepo(conn)
    alice = users.create("Alice", "alice@example.com")
    OrderRepo(conn).create(alice.id, 100)
    users.delete(alice.id)
    assert OrderRepo(conn).list_for_user(alice.id) == []


def test_negative_amount_is_rejected(conn):
    import sqlite3

    alice = UserRepo(conn).create("Alice", "alice@example.com")
    with pytest.raises(sqlite3.IntegrityError):
        OrderRepo(conn).create(alice.id, -5)
