"""What a run is asked to do (RunRequest) and what it hands back (RunResult)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.disk import DEFAULT_DISK_LIMIT
from agent.errors import UsageError
from agent.pricing import PriceOverride
from agent.settings import DEFAULT_MODEL as DEFAULT_MODEL
from agent.settings import Provider, RunSettings
from agent.settings import default_state_dir as default_state_dir
from sandbox.base import SandboxMode as SandboxMode
from tools.test_report import TestReport

Status = Literal["fixed", "not_fixed", "error"]
MAX_TASK_CHARS = 200_000  # about 50k tokens: a task longer than that is a document, not a task


class ProbedBaseline(BaseModel):
    """A baseline run made before the run started, by the harness in the run's own way (a fresh copy of the
    commit, the runtime check, bytecode kept out of the tree): `be-agent ci`'s probe, which decides whether
    there is anything to fix. Handed to the run, it is the run's baseline, so the suite runs once before the
    model starts. The run takes it only for its own base commit and test command; `pycache` (the bytecode the
    probe wrote, from the base commit's run) becomes the run's."""

    __test__ = False  # not a pytest test class

    commit: str
    command: str
    report: TestReport
    written: list[str] = Field(default_factory=list)  # untracked files the suite left behind
    pycache: Path | None = None
    duration_s: float = 0.0


class RunRequest(BaseModel):
    """Field names double as option names in error messages (`max_cost` -> `--max-cost`)."""

    model_config = ConfigDict(allow_inf_nan=False)

    repo: Path
    task: str
    task_untrusted: bool = False  # text from an issue or a CI log: shown to the model as untrusted input
    task_log: dict[str, Any] = Field(default_factory=dict)  # how the task's source was read: logged at start
    base: str = "HEAD"
    branch: str | None = None  # default: be-agent/<slug>-<short id>
    update_branch: bool = (
        False  # the branch may exist when `base` is that branch; fast-forwarded, never forced
    )
    test_cmd: str | None = None
    junit_report: str | None = None  # where test_cmd writes JUnit XML, relative to the checkout
    setup: str | None = None  # a command that prepares the checkout (agent/setup_step.py)
    network_setup: bool = True  # network for the setup step (only there)
    model: str = DEFAULT_MODEL
    provider: Provider = "anthropic"
    prices: dict[str, PriceOverride] = Field(default_factory=dict)  # the user's, per model id
    aws_region: str | None = None
    vertex_project: str | None = None
    vertex_region: str | None = None
    max_steps: Annotated[int, Field(ge=1)] = 50
    max_cost: Annotated[float | None, Field(gt=0)] = None  # USD
    max_time: Annotated[float | None, Field(gt=0)] = None  # seconds of wall time for the whole run
    max_tokens: Annotated[int, Field(ge=1)] = 8192  # per model response
    sandbox: SandboxMode = "auto"
    network: bool = False
    command_timeout: Annotated[float, Field(gt=0)] = 120.0
    test_timeout: Annotated[float, Field(gt=0)] = 900.0
    retry_budget: Annotated[float, Field(ge=0)] = 120.0  # seconds one model call may spend retrying
    disk_limit: Annotated[int, Field(ge=1)] = DEFAULT_DISK_LIMIT  # bytes the run's files may take
    keep: bool = False
    verbose: bool = False
    quiet: bool = False
    state_dir: Path = Field(default_factory=default_state_dir)
    commit_trailers: dict[str, str] = Field(default_factory=dict)
    fetch_back: bool = True  # copy the branch into the user's repository when fixed
    named_tests: list[str] = Field(default_factory=list)  # tests the task says must pass (FAIL_TO_PASS)
    setting_sources: dict[str, str] = Field(default_factory=dict)  # field -> where the user set it
    # a follow-up on a branch be-agent fixed: the tests its earlier runs fixed, and those its comments name
    targets_in_force: list[str] = Field(default_factory=list)
    targets_requested: list[str] = Field(default_factory=list)
    baseline: ProbedBaseline | None = None  # the suite already ran at `base` in the run's way (be-agent ci)

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

    @field_validator("junit_report")
    @classmethod
    def _junit_report_in_checkout(cls, path: str | None) -> str | None:
        if path is None:
            return None
        parts = path.strip().split("/")
        if not path.strip() or path.startswith("/") or ".." in parts or parts[-1] in ("", "."):
            raise ValueError("junit-report must be a file path relative to the repository, without '..'")
        return path.strip()

    @field_validator("setup")
    @classmethod
    def _setup_not_blank(cls, command: str | None) -> str | None:
        if command is not None and not command.strip():
            raise ValueError("the setup command is blank; leave it out when there is nothing to set up")
        return command

    @model_validator(mode="after")
    def _cost_limit_has_a_price(self) -> RunRequest:
        """A cost limit on a model nobody knows the price of would never fire: refuse it at the start."""
        if self.max_cost is None:
            return self
        from agent.pricing import Pricing, source_name, table_name
        from agent.providers import PROVIDER_INFO

        table = PROVIDER_INFO[self.provider].price_table
        if Pricing(self.prices, provider=table).knows(self.model):
            return self
        from agent.config_file import setting_name, user_config_path

        limit = setting_name("max_cost", self.setting_sources.get("max_cost"))
        raise ValueError(
            f"{limit} needs a price for {self.model}, and {source_name()} has none in its "
            f"{table_name(table)} table: give one with --price '{self.model}=INPUT,OUTPUT' (USD per million "
            f'tokens) or a [prices."{self.model}"] table in {user_config_path(os.environ)}'
        )


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
    provider: str = "anthropic"  # who served the model: anthropic, bedrock or vertex
    model: str = ""  # the model id the run asked for, as the provider names it
    cost_usd: float | None = None
    price_source: str | None = None  # "genai-prices 0.2.3, AWS Bedrock table"; None: the cost is unknown
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


def build_request(settings: RunSettings | None = None, /, **fields: Any) -> RunRequest:
    """A RunRequest from a command's settings and its own fields. Values the request refuses are the user's
    to fix: one UsageError naming each setting as the user set it (`--max-cost`, `BE_AGENT_MAX_COST`,
    `max-cost in .be-agent.toml`)."""
    try:
        return RunRequest(**{**(settings.request_fields() if settings else {}), **fields})
    except ValidationError as exc:
        raise UsageError(option_error(exc, settings.sources if settings else {})) from None


def check_settings(settings: RunSettings) -> None:
    """Refuse bad shared option values before a command does anything, with RunRequest's own rules."""
    build_request(settings, repo=Path("."), task="(checking the options)")


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def option_error(exc: ValidationError, sources: dict[str, str] | None = None) -> str:
    """A RunRequest that refused its values, as one line naming the options where the user set them."""
    from agent.config_file import setting_name

    problems = []
    for error in exc.errors(include_url=False):
        ctx = error.get("ctx") or {}
        kind = error["type"]
        if not error["loc"]:  # the request as a whole: its message names what to change
            problems.append(str(ctx.get("error") or error["msg"]))
            continue
        field = str(error["loc"][0])
        option = setting_name(field, (sources or {}).get(field))
        if kind == "value_error":
            problems.append(f"{option}: {ctx.get('error')}")
            continue
        if kind == "finite_number":
            rule = "must be a finite number"
        elif kind == "greater_than":
            rule = f"must be greater than {ctx['gt']:g}"
        elif kind == "greater_than_equal":
            rule = f"must be at least {ctx['ge']:g}"
        else:
            rule = error["msg"][:1].lower() + error["msg"][1:]
        problems.append(f"{option} {rule}, not {_shown(error.get('input'))}")
    return "; ".join(problems)
