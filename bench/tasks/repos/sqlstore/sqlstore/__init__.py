"""The shop service's data-access layer on sqlite."""

from sqlstore.db import connect, transaction
from sqlstore.migrations import MIGRATIONS, Migration, MigrationError, current_version, migrate
from sqlstore.repos import DuplicateEmailError, NotFoundError, OrderRepo, UserRepo

__all__ = ["MIGRATIONS", "DuplicateEmailError", "Migration", "MigrationError", "NotFoundError", "OrderRepo",
           "UserRepo", "connect", "current_version", "migrate", "transaction"]
