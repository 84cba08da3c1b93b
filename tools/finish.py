"""The `finish` tool: the report of method.md as one typed model (`FinishReport`), from which the tool's JSON
schema is generated, so the tool, the report and the gate read the same fields. The harness decides whether
to accept it (agent/finish_gate.py) and renders it (agent/report.py).

Validation is lenient where leniency loses nothing: a section given as a list or a mapping becomes text,
and `fixes_tests` given as one string becomes a list of one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _as_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "\n".join(f"- {k}: {_as_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(f"- {_as_text(v)}" for v in value)
    if isinstance(value, bool | int | float):
        return str(value)
    return value


class Contract(BaseModel):
    model_config = ConfigDict(extra="allow")

    inputs: str = ""
    outputs: str = ""
    side_effects: str = ""
    invariants: str = ""
    failure_modes: str = ""
    authorization: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)


class FinishReport(BaseModel):
    """What the model hands back with `finish`."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(default="", description="What changed and why, in a few sentences.")
    contract: Contract | str = Field(default="", description="The contract of what you built or changed.")
    validation_and_authz: str = Field(default="", description="Input validation and authorization.")
    error_handling: str = Field(default="", description="How errors and failures are handled.")
    migrations: str = Field(default="", description="Database migrations with their rollback, if any.")
    risky_operations: str = Field(
        default="", description="Operations that touch production data or are hard to reverse."
    )
    trade_offs: str = Field(default="", description="Trade-offs a reviewer should look at.")
    tests: str = Field(default="", description="Tests added or changed, and what they cover.")
    fixes_tests: list[str] = Field(
        default_factory=list,
        description=(
            "Ids of the tests that failed at baseline and pass with your change (exact ids from the "
            "baseline run; an id without its [parameters] means all of them). Give them when some "
            "baseline failures are unrelated to the task: the run is then judged by these."
        ),
    )
    gave_up: bool = Field(default=False, description="True when the task cannot be completed.")
    reason: str = Field(default="", description="Why you gave up (with gave_up).")

    @field_validator(
        "summary",
        "validation_and_authz",
        "error_handling",
        "migrations",
        "risky_operations",
        "trade_offs",
        "tests",
        "reason",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("contract", mode="before")
    @classmethod
    def _contract(cls, value: Any) -> Any:
        return "" if value is None else (value if isinstance(value, Mapping) else _as_text(value))

    @field_validator("fixes_tests", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value


def _inline(schema: Any, defs: Mapping[str, Any]) -> Any:
    """The schema with `$ref`s replaced by their definitions and pydantic's titles and defaults left out."""
    if isinstance(schema, list):
        return [_inline(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inline(copy.deepcopy(defs[schema["$ref"].rsplit("/", 1)[-1]]), defs)
    return {
        k: _inline(v, defs) if k != "properties" else {p: _inline(s, defs) for p, s in v.items()}
        for k, v in schema.items()
        if k not in ("title", "default", "$defs", "additionalProperties")
    }


def finish_input_schema() -> dict[str, Any]:
    """The tool's `input_schema`, generated from FinishReport."""
    schema = FinishReport.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    inlined.pop("description", None)
    # always asked for; a give-up without one is still accepted (the gate reads the reason)
    inlined["required"] = ["summary"]
    return inlined


FINISH_SPEC: dict[str, Any] = {
    "name": "finish",
    "description": (
        "End the run with your report once the change is done and the tests pass (or set gave_up with a reason "
        "if it cannot be done). The harness refuses to finish while the tests the task is judged by still fail, "
        "telling you which; then it re-runs the tests itself: your word is never the verdict. Be concrete and "
        "brief; leave out sections that do not apply."
    ),
    "input_schema": finish_input_schema(),
}
