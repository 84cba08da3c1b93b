"""Schemas for request bodies: each field's type, whether it is required, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notes_api.http import HTTPError


@dataclass(frozen=True)
class Field:
    kind: type
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    item_kind: type | None = None  # for list fields


Schema = dict[str, Field]

NOTE_SCHEMA: Schema = {
    "title": Field(str, min_length=1, max_length=120),
    "body": Field(str, max_length=10_000),
    "tags": Field(list, required=False, max_length=10, item_kind=str),
}


def _check(name: str, value: Any, field: Field) -> str | None:
    if not isinstance(value, field.kind) or isinstance(value, bool) and field.kind is not bool:
        return f"must be a {field.kind.__name__}"
    if field.min_length is not None and len(value) < field.min_length:
        return f"must have at least {field.min_length} characters" if field.kind is str else \
            f"must have at least {field.min_length} items"
    if field.max_length is not None and len(value) > field.max_length:
        return f"must have at most {field.max_length} characters" if field.kind is str else \
            f"must have at most {field.max_length} items"
    if field.item_kind is not None and not all(isinstance(item, field.item_kind) for item in value):
        return f"items must be {field.item_kind.__name__}s"
    return None


def validate(payload: Any, schema: Schema) -> dict[str, Any]:
    """Return the payload's fields when they match `schema`; raise HTTPError(400) listing every problem."""
    if not isinstance(payload, dict):
        raise HTTPError(400, "validation", {"body": "must be a JSON object"})
    problems: dict[str, str] = {}
    for name in payload:
        if name not in schema:
            problems[name] = "unknown field"
    for name, field in schema.items():
        if name not in payload:
            if field.required:
                problems[name] = "is required"
            continue
        problem = _check(name, payload[name], field)
        if problem:
            problems[name] = problem
    if problems:
        raise HTTPError(400, "validation", problems)
    return {name: payload[name] for name in schema if name in payload}
