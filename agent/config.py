"""What a run is asked to do (RunRequest) and what it hands back (RunResult)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.base import SandboxMode as SandboxMode

# The newest Sonnet in the installed SDK's model list (anthropic/types/model_param.py).
DEFAULT_MODEL = "claude-sonnet-5-5"

Status = Literal["fixed", "not_fixed", "error"]
MAX_TASK_CHARS = 200_000  # about 50k tokens: a task longer than that is a document, not a task


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "be-agent"


class RunRequest(BaseModel):
    """Field names double as option names in error messages (`max_cost` -> `--max-cost`)."""

    model_config = ConfigDict(allow_inf_nan=False)

    repo: Path
    task: str
    task_untrusted: bool = False  # text from an issue or a CI log: shown to the model as untrusted input
    base: str = "HEAD"
    branch: str | None = None  # default: be-agent/<slug>-<short id>
    update_branch: bool = (
        False  # the branch may exist when `base` is that branch; fast-forwarded, never forced
    )
    test_cmd: str | None = None
    model: str = DEFAULT_MODEL
    max_steps: Annotated[int, Field(ge=1)] = 50
    max_cost: Annotated[float | None, Field(gt=0)] = None  # USD
    max_time: Annotated[float | None, Field(gt=0)] = None  # seconds of wall time for the whole run
    max_tokens: Annotated[int, Field(ge=1)] = 8192  # per model response
    sandbox: SandboxMode = "auto"
    network: bool = False
    command_timeout: Annotated[float, Field(gt=0)] = 120.0
    test_timeout: Annotated[float, Field(gt=0)] = 900.0
    retry_budget: Annotated[float, Field(ge=0)] = 120.0  # seconds one model call may spend retrying
    keep: bool = False
    verbose: bool = False
    quiet: bool = False
    state_dir: Path = Field(default_factory=default_state_dir)
    commit_trailers: dict[str, str] = Field(default_factory=dict)
    fetch_back: bool = True  # copy the branch into the user's repository when fixed
    named_tests: list[str] = Field(default_factory=list)  # tests the task says must pass (FAIL_TO_PASS)

    @field_validator("task")
    @classmethod
    def _task_not_huge(cls, task: str) -> str:
        if len(task) > MAX_TASK_CHARS:
            raise ValueError(
                f"the task is {len(task):,} characters long; at most {MAX_TASK_CHARS:,} are accepted "
                f"(point the task at files in the repository instead of pasting them)"
            )
        return task

    @field_validator("model")
    @classmethod
    def _model_named(cls, model: str) -> str:
        if not model.strip():
            raise ValueError("the model name is empty")
        return model

    @field_validator("test_cmd")
    @classmethod
    def _test_cmd_not_blank(cls, command: str | None) -> str | None:
        if command is not None and not command.strip():
            raise ValueError("the test command is blank; leave the option out to have it detected")
        return command


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
    price_source: str | None = None  # e.g. "genai-prices 0.2.3", or "your prices"; None when unknown
    duration_s: float = 0.0
    model_latency_s: float = 0.0
    trajectory: str = ""
    run_dir: str = ""
    diff: str = ""  # path of the final diff in the run directory
    report: dict[str, Any] = Field(default_factory=dict)
    run_id: str = ""
    page: str = ""  # the run's HTML page (`be-agent view`), "" when it could not be written

    @property
    def exit_code(self) -> int:
        return {"fixed": 0, "not_fixed": 1}.get(self.status, 3)
