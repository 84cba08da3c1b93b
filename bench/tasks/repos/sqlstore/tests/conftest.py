import pytest
from sqlstore import connect, migrate


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "shop.db")
    migrate(connection)
    yield connection
    connection.close()
