"""Before a run: can bubblewrap start here? If not, one precise line says why and how to fix it (exit 4)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.errors import ExitCode, failure_of
from sandbox.base import SandboxConfig, SandboxUnavailable
from sandbox.bwrap import BwrapSandbox
from sandbox.factory import UNCONFINED_WARNING, make_sandbox
from sandbox.preflight import diagnose, preflight
from sandbox.unconfined import UnconfinedSandbox
from tests.sandbox_fixtures import make_repo, needs_bwrap


def _path_with(tmp_path: Path, bwrap_script: str | None) -> str:
    """A PATH holding the usual tools but, in place of bwrap, `bwrap_script` (or no bwrap at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if bwrap_script is not None:
        fake = bin_dir / "bwrap"
        fake.write_text("#!/bin/sh\n" + bwrap_script)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


@pytest.mark.parametrize("mode", ["auto", "bwrap"])
def test_missing_bwrap_is_named_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, None))
    with pytest.raises(SandboxUnavailable) as caught:
        preflight(mode)  # type: ignore[arg-type]
    message = str(caught.value)
    assert failure_of(caught.value).exit_code == ExitCode.SANDBOX == 4
    assert "\n" not in message
    assert "bubblewrap (bwrap) is not installed" in message
    assert "apt-get install -y bubblewrap" in message


def test_missing_bwrap_stops_make_sandbox_but_not_the_explicit_opt_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "checkout")
    monkeypatch.setenv("PATH", _path_with(tmp_path, None))
    with pytest.raises(SandboxUnavailable):
        make_sandbox("auto", repo, tmp_path / "scratch", SandboxConfig())
    assert preflight("none") == UNCONFINED_WARNING
    box = make_sandbox("none", repo, tmp_path / "scratch", SandboxConfig())
    assert isinstance(box, UnconfinedSandbox)


def test_a_failing_bwrap_reports_its_own_error_and_is_probed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"
    monkeypatch.setenv(
        "PATH",
        _path_with(
            tmp_path,
            f"""
[ "$1" = --help ] && exit 0
echo probe >> {calls}
echo 'bwrap: setting up uid map: Permission denied' >&2
exit 1
""",
        ),
    )
    for _ in range(3):
        with pytest.raises(SandboxUnavailable) as caught:
            preflight("auto")
        assert str(caught.value).startswith(
            "sandbox unavailable: bwrap cannot start a sandbox: bwrap: setting up uid map: Permission denied"
        )
    assert calls.read_text() == "probe\n"


def _proc_sys(tmp_path: Path, **settings: str) -> Path:
    files = {
        "max_user_namespaces": "user",
        "unprivileged_userns_clone": "kernel",
        "apparmor_restrict_unprivileged_userns": "kernel",
    }
    for name, value in settings.items():
        path = tmp_path / "sys" / files[name] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return tmp_path / "sys"


ERROR = "bwrap: No permissions to creating new namespace, likely because the kernel does not allow it"


def test_user_namespaces_switched_off_are_named(tmp_path: Path) -> None:
    message = diagnose(ERROR, proc_sys=_proc_sys(tmp_path, max_user_namespaces="0"), euid=0)
    assert "user namespaces are disabled" in message
    assert "max_user_namespaces = 0" in message and "sysctl -w user.max_user_namespaces=" in message


def test_unprivileged_user_namespaces_switched_off_are_named(tmp_path: Path) -> None:
    proc_sys = _proc_sys(tmp_path, max_user_namespaces="15000", unprivileged_userns_clone="0")
    message = diagnose(ERROR, proc_sys=proc_sys, euid=1000)
    assert "unprivileged user namespaces are disabled" in message
    assert "sysctl -w kernel.unprivileged_userns_clone=1" in message


def test_the_apparmor_restriction_is_named(tmp_path: Path) -> None:
    proc_sys = _proc_sys(
        tmp_path,
        max_user_namespaces="15000",
        unprivileged_userns_clone="1",
        apparmor_restrict_unprivileged_userns="1",
    )
    message = diagnose(ERROR, proc_sys=proc_sys, euid=1000)
    assert "AppArmor restricts unprivileged user namespaces" in message
    assert "apparmor_restrict_unprivileged_userns = 1" in message


def test_otherwise_bwrap_s_own_error_is_shown(tmp_path: Path) -> None:
    proc_sys = _proc_sys(tmp_path, max_user_namespaces="15000", apparmor_restrict_unprivileged_userns="1")
    message = diagnose(f"some warning\n{ERROR}\n", proc_sys=proc_sys, euid=0)  # root is not restricted
    assert message.startswith(f"sandbox unavailable: bwrap cannot start a sandbox: {ERROR}")
    assert "\n" not in message


@needs_bwrap
@pytest.mark.parametrize("mode", ["auto", "bwrap"])
def test_a_working_bwrap_passes_and_makes_a_bwrap_sandbox(tmp_path: Path, mode: str) -> None:
    assert preflight(mode) is None  # type: ignore[arg-type]
    repo = make_repo(tmp_path / "checkout")
    box = make_sandbox(mode, repo, tmp_path / "scratch", SandboxConfig())  # type: ignore[arg-type]
    assert isinstance(box, BwrapSandbox)
    assert box.run("pwd").output == "/workspace\n"
