"""The agent's calls into `sandbox/` and `tools/` that can fail with those layers' own exceptions.

Each function here is the lower layer's function with the same signature; what it raises leaves as the
AgentError it means (`agent.errors.LOWER_LAYER_ERRORS`), so a run that cannot start its sandbox ends with
exit 4, never as an internal error.
"""

from __future__ import annotations

from pathlib import Path

import sandbox.factory
import sandbox.preflight
import tools.detect
from agent.errors import lower_layer_errors
from sandbox.base import Sandbox, SandboxConfig, SandboxMode
from tools.detect import TestCommand


def make_sandbox(mode: SandboxMode, checkout: Path, scratch: Path, config: SandboxConfig) -> Sandbox:
    with lower_layer_errors():
        return sandbox.factory.make_sandbox(mode, checkout, scratch, config)


def preflight(mode: SandboxMode) -> str | None:
    with lower_layer_errors():
        return sandbox.preflight.preflight(mode)


def detect_test_command(
    root: Path, configured: str | None, source: str, *, junit_report: str | None = None
) -> TestCommand | None:
    with lower_layer_errors():
        return tools.detect.detect_test_command(root, configured, source, junit_report=junit_report)
