"""Where the model's commands run: confined (bubblewrap) or, by explicit opt-out, unconfined."""

from sandbox.base import CommandResult, Sandbox, SandboxConfig, SandboxMode, SandboxUnavailable

__all__ = ["CommandResult", "Sandbox", "SandboxConfig", "SandboxMode", "SandboxUnavailable"]
