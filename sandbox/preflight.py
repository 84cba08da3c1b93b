"""Can bubblewrap run here? Checked once per run, before anything else, with one precise line when not."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from sandbox.base import SandboxMode, SandboxUnavailable
from sandbox.bwrap import INSTALL_HINT, find_bwrap, isolation_args, system_mount_args, toolchain_mount_args

UNCONFINED_WARNING = (
    "warning: --sandbox none: commands chosen by the model run unconfined, with your "
    "user's files, credentials and network within reach"
)
OPT_OUT_HINT = "(or pass --sandbox none to run unconfined, at your own risk)"
PROBE_TIMEOUT_S = 15.0


def preflight(mode: SandboxMode) -> str | None:
    """None when `mode` can be used as asked, or a warning to print for `none`.

    Raises SandboxUnavailable when the mode needs bubblewrap and it cannot start."""
    if mode == "none":
        return UNCONFINED_WARNING
    problem = bwrap_problem()
    if problem is not None:
        raise SandboxUnavailable(problem)
    return None


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot start a sandbox here, or None when it can. The probe runs once per process."""
    bwrap = find_bwrap()
    if bwrap is None:
        return f"sandbox unavailable: bubblewrap (bwrap) is not installed; {INSTALL_HINT} {OPT_OUT_HINT}"
    return _probe(bwrap)


@functools.cache
def _probe(bwrap: str) -> str | None:
    argv = [
        bwrap,
        *isolation_args(bwrap, network=False),
        *system_mount_args(),
        *toolchain_mount_args(),
        "--",
        "true",
    ]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        return f"sandbox unavailable: bwrap did not start within {PROBE_TIMEOUT_S:g} s {OPT_OUT_HINT}"
    except OSError as exc:
        return f"sandbox unavailable: cannot execute {bwrap}: {exc.strerror} {OPT_OUT_HINT}"
    if done.returncode == 0:
        return None
    return diagnose(done.stderr, proc_sys=Path("/proc/sys"), euid=os.geteuid())


def _setting(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def diagnose(bwrap_error: str, *, proc_sys: Path, euid: int) -> str:
    """The one-line reason for a failed probe: a kernel setting that forbids user namespaces if one does,
    otherwise bwrap's own error."""
    max_ns = proc_sys / "user" / "max_user_namespaces"
    if _setting(max_ns) == "0":
        return (
            f"sandbox unavailable: user namespaces are disabled ({max_ns} = 0); enable them with: "
            f"sysctl -w user.max_user_namespaces=10000 {OPT_OUT_HINT}"
        )
    if euid != 0:  # the next two only restrict unprivileged users
        clone = proc_sys / "kernel" / "unprivileged_userns_clone"
        if _setting(clone) == "0":
            return (
                f"sandbox unavailable: unprivileged user namespaces are disabled ({clone} = 0); enable "
                f"them with: sysctl -w kernel.unprivileged_userns_clone=1 {OPT_OUT_HINT}"
            )
        apparmor = proc_sys / "kernel" / "apparmor_restrict_unprivileged_userns"
        if _setting(apparmor) == "1":
            return (
                f"sandbox unavailable: AppArmor restricts unprivileged user namespaces ({apparmor} = 1); "
                "allow bwrap with an AppArmor profile or run: "
                f"sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 {OPT_OUT_HINT}"
            )
    lines = [line.strip() for line in bwrap_error.splitlines() if line.strip()]
    reason = lines[-1] if lines else "no error message"
    return f"sandbox unavailable: bwrap cannot start a sandbox: {reason} {OPT_OUT_HINT}"
