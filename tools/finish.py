"""The `finish` tool: the model's report, parsed leniently and rendered as Markdown in method.md's order."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

_CONTRACT_KEYS = ("inputs", "outputs", "side_effects", "invariants", "failure_modes", "authorization")
_TEXT = {"type": "string"}

FINISH_SPEC: dict[str, Any] = {
    "name": "finish",
    "description": (
        "End the run with your report once the change is done and the tests pass (or set gave_up with a reason "
        "if it cannot be done). The harness then re-runs the tests itself and may refuse to finish, telling you "
        "why; your word is never the verdict. Be concrete and brief; leave out sections that do not apply."),
    "input_schema": {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "What changed and why, in a few sentences."},
            "contract": {
                "description": "The contract of what you built or changed.",
                "anyOf": [
                    {"type": "object", "properties": {key: _TEXT for key in _CONTRACT_KEYS}},
                    {"type": "string"},
                ],
            },
            "validation_and_authz": {"type": "string", "description": "Input validation and authorization."},
            "error_handling": {"type": "string", "description": "How errors and failures are handled."},
            "migrations": {"type": "string",
                           "description": "Database migrations with their rollback, if any."},
            "risky_operations": {"type": "string",
                                 "description": "Operations that touch production data or are hard to reverse."},
            "trade_offs": {"type": "string", "description": "Trade-offs a reviewer should look at."},
            "tests": {"type": "string", "description": "Tests added or changed, and what they cover."},
            "gave_up": {"type": "boolean", "description": "True when the task cannot be completed."},
            "reason": {"type": "string", "description": "Why you gave up (with gave_up)."},
        },
        "required": ["summary"],
    },
}

_SECTIONS = (
    ("contract", "Contract"),
    ("validation_and_authz", "Validation and authorization"),
    ("error_handling", "Error handling"),
    ("migrations", "Migrations"),
    ("risky_operations", "Risky operations"),
    ("trade_offs", "Trade-offs"),
    ("tests", "Tests"),
)


class FinishReport(BaseModel):
    """What the model said in `finish`. Every field is optional; lists and objects are kept as given."""

    model_config = ConfigDict(extra="ignore")

    summary: str = ""
    contract: dict[str, Any] | str | None = None
    validation_and_authz: Any = None
    error_handling: Any = None
    migrations: Any = None
    risky_operations: Any = None
    trade_offs: Any = None
    tests: Any = None
    gave_up: bool = False
    reason: str = ""

    @field_validator("summary", "reason", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> str:
        return _text(value)

    @field_validator("gave_up", mode="before")
    @classmethod
    def _as_bool(cls, value: Any) -> bool:
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "1")
        return bool(value)

    @field_validator("contract", mode="before")
    @classmethod
    def _as_contract(cls, value: Any) -> dict[str, Any] | str | None:
        if value is None or isinstance(value, dict | str):
            return value
        return _text(value)

    @classmethod
    def parse(cls, params: Any) -> FinishReport:
        """Never raises: whatever the model sent becomes a report, unusable parts dropped."""
        if not isinstance(params, dict):
            return cls(summary=_text(params))
        try:
            return cls.model_validate(params)
        except ValidationError:
            return cls(summary=_text(params.get("summary")), gave_up=bool(params.get("gave_up")),
                       reason=_text(params.get("reason")))


def render_markdown(report: FinishReport) -> str:
    """The report as Markdown sections in method.md's order; empty sections are left out."""
    out: list[str] = []
    if report.gave_up:
        out.append(f"**Gave up:** {report.reason or 'no reason given'}")
    out.append("## Summary\n" + (report.summary.strip() or "(no summary given)"))
    for field, title in _SECTIONS:
        body = _contract(report.contract) if field == "contract" else _text(getattr(report, field))
        if body.strip():
            out.append(f"## {title}\n{body.strip()}")
    return "\n\n".join(out) + "\n"


def _contract(value: dict[str, Any] | str | None) -> str:
    if not isinstance(value, dict):
        return _text(value)
    ordered = [k for k in _CONTRACT_KEYS if k in value] + [k for k in value if k not in _CONTRACT_KEYS]
    rows = []
    for key in ordered:
        item = value[key]
        text = "; ".join(_text(i).strip() for i in item) if isinstance(item, list | tuple) else _text(item).strip()
        if text:
            rows.append(f"- **{key.replace('_', ' ').capitalize()}:** {text}")
    return "\n".join(rows)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "\n".join(f"- {_text(item).strip()}" for item in value if _text(item).strip())
    if isinstance(value, dict):
        return "\n".join(f"- **{k}:** {_text(v).strip()}" for k, v in value.items() if _text(v).strip())
    return str(value)
