"""What a run is asked to do (RunRequest) and what it hands back (RunResult)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

# The newest Sonnet in the installed SDK's model list (anthropic/types/model_param.py).
DEFAULT_MODEL = "claude-sonnet-5-5"

SandboxMode = Literal["auto", "bwrap", "none"]
Status = Literal["fixed", "not_fixed", "error"]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "be-agent"


class RunRequest(BaseModel):
    repo: Path
    task: str
    task_untrusted: bool = False  # text from an issue or a CI log: shown to the model as untrusted input
    base: str = "HEAD"
    branch: str | None = None  # default: be-agent/<slug>-<short id>
    update_branch: bool = False  # the branch may exist when `base` is that branch; fast-forwarded, never forced
    test_cmd: str | None = None
    model: str = DEFAULT_MODEL
    max_steps: int = 50
    max_cost: float | None = None  # USD
    max_time: float | None = None  # seconds of wall time for the whole run
    max_tokens: int = 8192  # per model response
    sandbox: SandboxMode = "auto"
    network: bool = False
    command_timeout: float = 120.0
    test_timeout: float = 900.0
    retry_budget: float = 120.0  # seconds one model call may spend retrying
    keep: bool = False
    verbose: bool = False
    quiet: bool = False
    state_dir: Path = Field(default_factory=default_state_dir)
    commit_trailers: dict[str, str] = Field(default_factory=dict)
    fetch_back: bool = True  # copy the branch into the user's repository when fixed
    named_tests: list[str] = Field(default_factory=list)  # tests the task says must pass (FAIL_TO_PASS)


class RunResult(BaseModel):
    status: Status
    reason: str = ""
    branch: str | None = None
    commit: str | None = None
    base: str = ""
    tests_before: dict[str, Any] = Field(default_factory=dict)
    tests_after: dict[str, Any] = Field(default_factory=dict)
    verification: dict[str, Any] = Field(default_factory=dict)
    steps: int = 0
    phases: dict[str, int] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)
    cost_usd: float | None = None
    duration_s: float = 0.0
    model_latency_s: float = 0.0
    trajectory: str = ""
    run_dir: str = ""
    diff: str = ""  # path of the final diff in the run directory
    report: dict[str, Any] = Field(default_factory=dict)
    run_id: str = ""

    @property
    def exit_code(self) -> int:
        return {"fixed": 0, "not_fixed": 1}.get(self.status, 3)
