"""The settings every command that starts a run shares (model, limits, sandbox, state directory), and their
defaults. Kept free of heavy imports: the command line reads the defaults before it knows what will run.

The rules for the values (a positive cost, at least one step) are RunRequest's, checked when a request is
built from these settings (`agent.config.build_request`). Where each value came from (a flag, the
environment, a config file) is `agent.config_file`'s business; `sources` records it for error messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from agent.disk import DEFAULT_DISK_LIMIT as DEFAULT_DISK_LIMIT
from agent.pricing import PriceOverride
from sandbox.base import SandboxMode

# The newest Sonnet in the installed SDK's model list (anthropic/types/model_param.py).
DEFAULT_MODEL = "claude-sonnet-5-5"

Provider = Literal["anthropic", "bedrock", "vertex"]  # who serves Claude (agent.providers)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "be-agent"


@dataclass(frozen=True)
class RunSettings:
    """What the user chose for every run a command starts; the task, repository and branch are the
    command's own."""

    model: str = DEFAULT_MODEL  # under the provider's own id (agent.providers.default_model)
    provider: Provider = "anthropic"
    max_steps: int = 50
    max_cost: float | None = None  # USD
    max_time: float | None = None  # seconds of wall time for the whole run
    command_timeout: float = 120.0
    test_timeout: float = 900.0
    retry_budget: float = 120.0  # seconds one model call may spend retrying
    disk_limit: int = DEFAULT_DISK_LIMIT  # bytes the run's files may take on disk (agent.disk)
    sandbox: SandboxMode = "auto"
    network: bool = False
    state_dir: Path | None = None  # None: default_state_dir()
    test_cmd: str | None = None  # None: detected
    junit_report: str | None = None  # where test-cmd writes JUnit XML, relative to the checkout
    setup: str | None = None  # a command that prepares the checkout (agent/setup_step.py)
    network_setup: bool = True  # network for the setup step (only there)
    prices: dict[str, PriceOverride] = field(default_factory=dict)  # model id -> the user's price
    aws_region: str | None = None  # Bedrock; None: the AWS environment's
    vertex_project: str | None = None  # Vertex AI; None: the Google environment's
    vertex_region: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # field -> where its value was set

    def request_fields(self) -> dict[str, Any]:
        """These settings as RunRequest fields."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["state_dir"] = self.state_dir or default_state_dir()
        values["setting_sources"] = values.pop("sources")
        return values
