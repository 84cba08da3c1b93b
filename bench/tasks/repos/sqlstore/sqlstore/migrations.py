"""Schema migrations, applied in order and recorded in `schema_version`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


class MigrationError(Exception):
    def __init__(self, migration: Migration, cause: Exception):
        super().__init__(f"migration {migration.version} ({migration.name}) failed: {cause}")
        self.migration = migration
        self.cause = cause


MIGRATIONS: list[Migration] = [
    Migration(1, "users", (
        """CREATE TABLE users (
               id INTEGER PRIMARY KEY,
               name TEXT NOT NULL,
               email TEXT NOT NULL UNIQUE,
               created_at TEXT NOT NULL DEFAULT (datetime('now'))
           )""",
    )),
    Migration(2, "orders", (
        """CREATE TABLE orders (
               id INTEGER PRIMARY KEY,
               user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
               status TEXT NOT NULL DEFAULT 'open'
           )""",
        "CREATE INDEX orders_user_id ON orders(user_id)",
    )),
]


def _ensure_version_table(conn: sqlite3.Connection) -> None:
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                        version INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        applied_at TEXT NOT NULL DEFAULT (datetime('now'))
                    )""")


def current_version(conn: sqlite3.Connection) -> int:
    _ensure_version_table(conn)
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every migration newer than the database's version, in order; return the versions applied."""
    applied: list[int] = []
    start = current_version(conn)
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version <= start:
            continue
        try:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)",
                         (migration.version, migration.name))
        except sqlite3.Error as exc:
            raise MigrationError(migration, exc) from exc
        applied.append(migration.version)
    return applied
