"""The `finish` tool's definition: the report fields of method.md. The harness decides whether to accept it
(agent/verdict.py) and renders it (agent/report.py)."""

from __future__ import annotations

from typing import Any

_CONTRACT_KEYS = ("inputs", "outputs", "side_effects", "invariants", "failure_modes", "authorization")
_TEXT = {"type": "string"}

FINISH_SPEC: dict[str, Any] = {
    "name": "finish",
    "description": (
        "End the run with your report once the change is done and the tests pass (or set gave_up with a reason "
        "if it cannot be done). The harness then re-runs the tests itself and may refuse to finish, telling you "
        "why; your word is never the verdict. Be concrete and brief; leave out sections that do not apply."
    ),
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
            "migrations": {
                "type": "string",
                "description": "Database migrations with their rollback, if any.",
            },
            "risky_operations": {
                "type": "string",
                "description": "Operations that touch production data or are hard to reverse.",
            },
            "trade_offs": {"type": "string", "description": "Trade-offs a reviewer should look at."},
            "tests": {"type": "string", "description": "Tests added or changed, and what they cover."},
            "gave_up": {"type": "boolean", "description": "True when the task cannot be completed."},
            "reason": {"type": "string", "description": "Why you gave up (with gave_up)."},
        },
        "required": ["summary"],
    },
}
