"""Routing and handlers. `App.handle` turns a Request into a Response; `App.wsgi` serves it over WSGI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from notes_api.auth import TokenStore, User
from notes_api.http import HTTPError, Request, Response
from notes_api.store import Note, NoteStore
from notes_api.validation import NOTE_SCHEMA, validate

_NOTE_PATH = re.compile(r"^/notes/(\d+)$")


class App:
    def __init__(self, tokens: TokenStore | None = None, store: NoteStore | None = None):
        self.tokens = tokens or TokenStore()
        self.store = store or NoteStore()

    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except HTTPError as err:
            return err.response()

    def _route(self, request: Request) -> Response:
        if request.path == "/notes":
            user = self.tokens.authenticate(request)
            if request.method == "GET":
                return self.list_notes(user, request)
            if request.method == "POST":
                return self.create_note(user, request)
            raise HTTPError(405, "method_not_allowed")
        match = _NOTE_PATH.match(request.path)
        if match:
            user = self.tokens.authenticate(request)
            note_id = int(match.group(1))
            handlers = {"GET": self.get_note, "PATCH": self.update_note, "DELETE": self.delete_note}
            handler = handlers.get(request.method)
            if handler is None:
                raise HTTPError(405, "method_not_allowed")
            return handler(user, note_id, request)
        raise HTTPError(404, "not_found")

    def _note_for(self, user: User, note_id: int) -> Note:
        """The note, if this user may see it; someone else's note is reported as missing."""
        note = self.store.get(note_id)
        if note is None or not (user.is_admin or note.owner == user.id):
            raise HTTPError(404, "not_found")
        return note

    def list_notes(self, user: User, request: Request) -> Response:
        notes = self.store.list(None if user.is_admin else user.id)
        return Response(200, {"items": [n.as_dict() for n in notes]})

    def create_note(self, user: User, request: Request) -> Response:
        fields = validate(request.json(), NOTE_SCHEMA)
        note = self.store.create(user.id, **fields)
        return Response(201, note.as_dict(), {"Location": f"/notes/{note.id}"})

    def get_note(self, user: User, note_id: int, request: Request) -> Response:
        return Response(200, self._note_for(user, note_id).as_dict())

    def update_note(self, user: User, note_id: int, request: Request) -> Response:
        note = self._note_for(user, note_id)
        changes = validate(request.json(), NOTE_SCHEMA)
        return Response(200, self.store.update(note.id, changes).as_dict())

    def delete_note(self, user: User, note_id: int, request: Request) -> Response:
        if self.store.get(note_id) is None:
            raise HTTPError(404, "not_found")
        self.store.delete(note_id)
        return Response(204)

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {key[5:].replace("_", "-").title(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), headers,
                          environ["wsgi.input"].read(length) if length else b"",
                          environ.get("QUERY_STRING", ""))
        response = self.handle(request)
        body = response.encoded()
        out_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        out_headers += list(response.headers.items())
        start_response(f"{response.status} {_REASONS.get(response.status, 'Unknown')}", out_headers)
        return [body]


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
