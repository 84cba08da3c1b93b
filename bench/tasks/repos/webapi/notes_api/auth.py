"""Users and bearer tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from notes_api.http import HTTPError, Request

Role = Literal["user", "admin"]


@dataclass(frozen=True)
class User:
    id: str
    role: Role = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class _Grant:
    user: User
    expires_at: float


class TokenStore:
    def __init__(self, ttl_s: float = 3600.0, clock: Callable[[], float] = time.time):
        self.ttl_s = ttl_s
        self.clock = clock
        self._grants: dict[str, _Grant] = {}

    def issue(self, user: User) -> str:
        token = secrets.token_urlsafe(24)
        self._grants[token] = _Grant(user, self.clock() + self.ttl_s)
        return token

    def revoke(self, token: str) -> None:
        self._grants.pop(token, None)

    def authenticate(self, request: Request) -> User:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPError(401, "unauthenticated")
        grant = self._grants.get(token.strip())
        if grant is None or grant.expires_at <= self.clock():
            raise HTTPError(401, "unauthenticated")
        return grant.user
