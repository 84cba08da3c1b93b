from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from notes_api import App, Request, Response
from notes_api.auth import TokenStore, User


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    app: App
    tokens: dict[str, str]

    def request(self, method: str, path: str, *, as_user: str | None = "alice", body: Any = None,
                query: str = "") -> Response:
        headers = {"Authorization": f"Bearer {self.tokens[as_user]}"} if as_user else {}
        raw = b"" if body is None else json.dumps(body).encode()
        return self.app.handle(Request(method, path, headers, raw, query))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Client:
    tokens = TokenStore(ttl_s=600, clock=clock)
    app = App(tokens=tokens)
    users = {"alice": User("alice"), "bob": User("bob"), "root": User("root", role="admin")}
    return Client(app, {name: tokens.issue(user) for name, user in users.items()})
