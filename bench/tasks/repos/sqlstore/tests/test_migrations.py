from sqlstore import MIGRATIONS, Migration, connect, current_version, migrate


def tables(conn):
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_fresh_database_gets_every_migration(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    assert migrate(conn) == [m.version for m in MIGRATIONS]
    assert current_version(conn) == MIGRATIONS[-1].version
    assert {"users", "orders", "schema_version"} <= tables(conn)


def test_migrate_is_idempotent(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    migrate(conn)
    assert migrate(conn) == []


def test_only_pending_migrations_run(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    migrate(conn, MIGRATIONS[:1])
    assert current_version(conn) == 1
    assert migrate(conn) == [m.version for m in MIGRATIONS[1:]]


def test_custom_migration_list(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    extra = Migration(100, "audit", ("CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT)",))
    assert migrate(conn, [*MIGRATIONS, extra])[-1] == 100
    assert "audit" in tables(conn)
