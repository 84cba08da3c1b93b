"""Choose the sandbox for a run's `--sandbox` mode."""

from __future__ import annotations

from pathlib import Path

from sandbox.base import Sandbox, SandboxConfig, SandboxMode
from sandbox.bwrap import BwrapSandbox
from sandbox.preflight import UNCONFINED_WARNING, preflight
from sandbox.unconfined import UnconfinedSandbox

__all__ = ["UNCONFINED_WARNING", "make_sandbox"]


def make_sandbox(mode: SandboxMode, checkout: Path, scratch: Path, config: SandboxConfig) -> Sandbox:
    """`auto` and `bwrap`: a BwrapSandbox, or SandboxUnavailable saying why bwrap cannot run.
    `none`: an UnconfinedSandbox; printing UNCONFINED_WARNING is the caller's job."""
    if mode == "none":
        return UnconfinedSandbox(checkout, scratch, config)
    preflight(mode)
    return BwrapSandbox(checkout, scratch, config)
