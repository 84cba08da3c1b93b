"""Request and response values, and the error every handler may raise."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    query_string: str = ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; the last value wins when a name repeats."""
        return {name: values[-1] for name, values in parse_qs(self.query_string).items()}

    def json(self) -> Any:
        if not self.body:
            raise HTTPError(400, "invalid_json", {"body": "request body is empty"})
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, "invalid_json", {"body": str(exc)}) from exc


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


class HTTPError(Exception):
    def __init__(self, status: int, error: str, details: dict[str, str] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error}
        if self.details:
            body["details"] = self.details
        return Response(self.status, body)
