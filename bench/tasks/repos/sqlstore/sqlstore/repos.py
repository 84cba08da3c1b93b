"""Repositories: the only code that writes SQL for users and orders."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlstore.db import transaction


class NotFoundError(LookupError):
    pass


class DuplicateEmailError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    amount_cents: int
    status: str


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["name"], row["email"])


def _order(row: sqlite3.Row) -> Order:
    return Order(row["id"], row["user_id"], row["amount_cents"], row["status"])


class UserRepo:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def create(self, name: str, email: str) -> User:
        try:
            cursor = self.conn.execute("INSERT INTO users (name, email) VALUES (?, ?)", (name, email))
        except sqlite3.IntegrityError as exc:
            raise DuplicateEmailError(email) from exc
        return self.get(cursor.lastrowid or 0)

    def get(self, user_id: int) -> User:
        row = self.conn.execute("SELECT id, name, email FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"user {user_id}")
        return _user(row)

    def get_by_email(self, email: str) -> User | None:
        row = self.conn.execute("SELECT id, name, email FROM users WHERE email = ?", (email,)).fetchone()
        return None if row is None else _user(row)

    def find_by_name(self, fragment: str) -> list[User]:
        """Users whose name contains `fragment`, case-insensitively, ordered by id."""
        rows = self.conn.execute(
            f"SELECT id, name, email FROM users WHERE name LIKE '%{fragment}%' ORDER BY id").fetchall()
        return [_user(row) for row in rows]

    def delete(self, user_id: int) -> None:
        if self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 0:
            raise NotFoundError(f"user {user_id}")


class OrderRepo:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def create(self, user_id: int, amount_cents: int) -> Order:
        cursor = self.conn.execute("INSERT INTO orders (user_id, amount_cents) VALUES (?, ?)",
                                   (user_id, amount_cents))
        return self.get(cursor.lastrowid or 0)

    def get(self, order_id: int) -> Order:
        row = self.conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"order {order_id}")
        return _order(row)

    def list_for_user(self, user_id: int) -> list[Order]:
        rows = self.conn.execute("SELECT * FROM orders WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
        return [_order(row) for row in rows]

    def total_for_user(self, user_id: int, status: str | None = None) -> int:
        sql = "SELECT COALESCE(SUM(amount_cents), 0) FROM orders WHERE user_id = ?"
        params: tuple[object, ...] = (user_id,)
        if status is not None:
            sql += " AND status = ?"
            params += (status,)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def close_all_for_user(self, user_id: int) -> int:
        """Mark every open order of the user closed, all or nothing; return how many changed."""
        with transaction(self.conn):
            cursor = self.conn.execute(
                "UPDATE orders SET status = 'closed' WHERE user_id = ? AND status = 'open'", (user_id,))
            return cursor.rowcount
