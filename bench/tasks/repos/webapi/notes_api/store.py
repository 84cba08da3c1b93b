"""Notes kept in memory, in creation order."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Note:
    id: int
    owner: str
    title: str
    body: str
    tags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoteStore:
    def __init__(self) -> None:
        self._notes: dict[int, Note] = {}
        self._ids = itertools.count(1)

    def create(self, owner: str, title: str, body: str, tags: list[str] | None = None) -> Note:
        note = Note(next(self._ids), owner, title, body, list(tags or []))
        self._notes[note.id] = note
        return note

    def get(self, note_id: int) -> Note | None:
        return self._notes.get(note_id)

    def list(self, owner: str | None = None) -> list[Note]:
        return [n for n in self._notes.values() if owner is None or n.owner == owner]

    def update(self, note_id: int, changes: dict[str, Any]) -> Note:
        note = self._notes[note_id]
        for name, value in changes.items():
            setattr(note, name, value)
        return note

    def delete(self, note_id: int) -> None:
        del self._notes[note_id]
