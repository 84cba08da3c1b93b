"""The escape suite: hostile commands run through the real bubblewrap sandbox, and nothing gets through.

Each test is one attempt a prompt-injected model could make; the assertion is on the host, not on what the
command claims.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bwrap import interpreter_dirs, unreadable_config
from sandbox.env import is_secret_name, sandbox_environment
from tests.sandbox_fixtures import (
    MakeSandbox,
    git,
    make_repo,
    needs_bwrap,
    processes_mentioning,
    sandbox_factory,
    wait_until,
)

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-escape-test-4f1c",
    "GITHUB_TOKEN": "ghp_escape_test_9d2e",
    "FOO_SECRET": "foo-secret-escape-test-77a0",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "checkout")


@pytest.fixture
def make_sandbox(tmp_path: Path, repo: Path) -> Iterator[MakeSandbox]:
    with sandbox_factory(tmp_path, repo) as make:
        yield make


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host file outside the checkout that no command may change."""
    target = tmp_path / "outside" / "victim.txt"
    target.parent.mkdir()
    target.write_text("original\n")
    return target


# --- writes outside the checkout -------------------------------------------------------------------------


@needs_bwrap
def test_write_to_an_absolute_host_path_leaves_the_host_file_unchanged(
    make_sandbox: MakeSandbox, outside: Path
) -> None:
    box = make_sandbox("bwrap")
    result = box.run(
        f"echo pwned > {outside}; echo pwned >> {outside}; "
        f"mkdir -p {outside.parent} && echo pwned > {outside}; cat {outside}"
    )
    assert outside.read_text() == "original\n"
    assert "original" not in result.output  # the host file is not even readable


@needs_bwrap
def test_dot_dot_out_of_the_checkout_writes_nothing_on_the_host(
    make_sandbox: MakeSandbox, repo: Path
) -> None:
    box = make_sandbox("bwrap")
    result = box.run(
        "echo pwned > ../escaped.txt; echo pwned > /workspace/../../escaped.txt; cd .. && mkdir escaped-dir"
    )
    assert "Read-only file system" in result.output
    assert not (repo.parent / "escaped.txt").exists()
    assert not (repo.parent.parent / "escaped.txt").exists()
    assert not (repo.parent / "escaped-dir").exists()


@needs_bwrap
def test_symlink_planted_to_a_host_file_cannot_be_written_through(
    make_sandbox: MakeSandbox, repo: Path, outside: Path
) -> None:
    box = make_sandbox("bwrap")
    box.run(
        f"ln -s {outside} link-abs; ln -s ../outside/victim.txt link-rel; "
        "echo pwned > link-abs; echo pwned > link-rel; echo pwned >> link-abs"
    )
    assert outside.read_text() == "original\n"
    assert (repo / "link-abs").is_symlink()  # planted, but inside the sandbox it led nowhere


@needs_bwrap
def test_hard_link_to_a_host_file_cannot_be_made_or_written(
    make_sandbox: MakeSandbox, repo: Path, outside: Path, tmp_path: Path
) -> None:
    toolchain = tmp_path / "toolchain"
    toolchain.mkdir()
    tool = toolchain / "tool.sh"
    tool.write_text("echo tool\n")
    box = make_sandbox("bwrap", extra_ro_paths=(str(toolchain),))
    result = box.run(
        f"ln {outside} hard-outside; ln {tool} hard-tool; echo pwned >> hard-outside; "
        f"echo pwned >> hard-tool; echo pwned >> {tool}; cat {tool}"
    )
    assert outside.read_text() == "original\n"
    assert tool.read_text() == "echo tool\n"
    assert "echo tool" in result.output  # the read-only toolchain is usable, just not writable
    assert outside.stat().st_nlink == 1 and tool.stat().st_nlink == 1  # no link to either was made


@needs_bwrap
def test_writes_inside_the_checkout_do_reach_the_host(make_sandbox: MakeSandbox, repo: Path) -> None:
    box = make_sandbox("bwrap")
    result = box.run("echo made > new.txt && mkdir -p pkg && echo x > pkg/mod.py && echo ok")
    assert result.exit_code == 0 and "ok" in result.output
    assert (repo / "new.txt").read_text() == "made\n"
    assert (repo / "pkg" / "mod.py").exists()


# --- reads of the user's secrets -------------------------------------------------------------------------


@needs_bwrap
def test_a_secret_in_the_users_home_is_not_visible(
    make_sandbox: MakeSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "alice"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-escape-test\n")
    (home / ".netrc").write_text("machine example.com password hunter2-escape-test\n")
    monkeypatch.setenv("HOME", str(home))
    box = make_sandbox("bwrap")
    result = box.run(f"cat {home}/.ssh/id_ed25519 {home}/.netrc; ls -la {home}; echo HOME=$HOME; ls -A ~")
    assert "PRIVATE-KEY-escape-test" not in result.output
    assert "hunter2-escape-test" not in result.output
    assert "No such file or directory" in result.output
    assert "HOME=/home/agent" in result.output


@needs_bwrap
def test_the_real_root_home_shows_nothing_but_the_interpreter_path(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    listing = set(box.run("ls -A /root").output.split())
    on_the_way = {Path(d).relative_to("/root").parts[0] for d in interpreter_dirs() if d.startswith("/root/")}
    assert listing <= on_the_way  # e.g. only `.pyenv`, holding just the one Python version in use
    if on_the_way:
        inside = box.run(f"ls -A /root/{next(iter(on_the_way))}").output.split()
        assert len(inside) == 1


@needs_bwrap
def test_system_files_only_root_may_read_are_unreadable(make_sandbox: MakeSandbox) -> None:
    hidden = [p for p in unreadable_config() if not p.endswith("/")][:5]
    if not hidden:
        pytest.skip("this host's /etc has no root-only files")
    box = make_sandbox("bwrap")
    result = box.run("; ".join(f"cat {p} && echo READ-{i}" for i, p in enumerate(hidden)))
    assert "READ-" not in result.output
    assert result.output.count("Permission denied") == len(hidden)


def test_root_only_files_and_directories_are_found(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    (etc / "ssl" / "private").mkdir(parents=True)
    (etc / "ssl" / "private").chmod(0o700)
    (etc / "shadow").write_text("root:$6$hash\n")
    (etc / "shadow").chmod(0o640)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    assert unreadable_config(str(etc)) == (str(etc / "shadow"), str(etc / "ssl" / "private") + "/")


# --- environment dumps -----------------------------------------------------------------------------------


def _dump_commands() -> str:
    return (
        "env; echo; tr '\\0' '\\n' < /proc/self/environ; tr '\\0' '\\n' < /proc/1/environ; "
        "tr '\\0' '\\n' < /proc/$PPID/environ; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ; done; "
        "cat /proc/*/cmdline"
    )


@needs_bwrap
def test_environment_dumps_never_show_secrets(
    make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    box = make_sandbox("bwrap", extra_env={"STRIPE_API_KEY": "sk_live_escape_test", "SAFE_FLAG": "on"})
    result = box.run(_dump_commands())
    for value in [*SECRETS.values(), "sk_live_escape_test"]:
        assert value not in result.output
    assert "SAFE_FLAG=on" in result.output  # the filter is an allow-list plus a deny rule, not a blackout
    assert "HOME=/home/agent" in result.output


def test_environment_dump_in_unconfined_mode_is_filtered_too(
    make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    box = make_sandbox("none")
    result = box.run("env; tr '\\0' '\\n' < /proc/self/environ")
    for value in SECRETS.values():
        assert value not in result.output
    assert "PATH=" in result.output


def test_secret_names_are_recognised() -> None:
    for name in (
        "ANTHROPIC_API_KEY",
        "GITHUB_TOKEN",
        "FOO_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "PGPASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "npm_token",
        "SLACK_BOT_TOKEN",
    ):
        assert is_secret_name(name), name
    for name in ("PATH", "LANG", "TERM", "PYTEST_ADDOPTS", "KEYBOARD_LAYOUT", "LC_ALL"):
        assert not is_secret_name(name), name


def test_environment_is_an_allow_list_and_the_deny_rule_wins() -> None:
    source = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "PYTEST_ADDOPTS": "-x",
        "EDITOR": "vim",
        "SSH_AUTH_SOCK": "/run/agent",
        "HOME": "/root",
        "GITHUB_TOKEN": "t",
    }
    env = sandbox_environment({"CI": "1", "MY_TOKEN": "leak", "LC_PASSWORD": "x"}, source=source)
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "PYTEST_ADDOPTS": "-x",
        "CI": "1",
        "HOME": "/home/agent",
        "TMPDIR": "/tmp",
    }


# --- network ---------------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def _connect_script(port: int) -> str:
    return (
        f"(exec 3<>/dev/tcp/127.0.0.1/{port} && echo LOOPBACK-CONNECTED); "
        "(exec 3<>/dev/tcp/1.1.1.1/80 && echo EXTERNAL-CONNECTED); "
        "python3 -c \"import socket; socket.create_connection(('93.184.216.34', 443), timeout=2); "
        "print('PY-CONNECTED')\"; true"
    )


@needs_bwrap
def test_no_connection_reaches_a_loopback_listener_or_the_outside(
    make_sandbox: MakeSandbox, listener: socket.socket
) -> None:
    box = make_sandbox("bwrap")
    result = box.run(_connect_script(listener.getsockname()[1]), timeout=20)
    assert "CONNECTED" not in result.output
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever knocked


@needs_bwrap
def test_network_opt_in_reaches_the_loopback_listener(
    make_sandbox: MakeSandbox, listener: socket.socket
) -> None:
    box = make_sandbox("bwrap", network=True)
    port = listener.getsockname()[1]
    result = box.run(f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo LOOPBACK-CONNECTED")
    assert "LOOPBACK-CONNECTED" in result.output
    connection, _ = listener.accept()
    connection.close()


# --- git metadata tampering ------------------------------------------------------------------------------


@needs_bwrap
def test_git_hooks_config_and_refs_cannot_be_tampered_with(make_sandbox: MakeSandbox, repo: Path) -> None:
    config_before = (repo / ".git" / "config").read_bytes()
    head_before = git(repo, "rev-parse", "HEAD")
    box = make_sandbox("bwrap")
    result = box.run(
        "printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit;"
        " echo '[core]' >> .git/config; git config core.hooksPath /tmp/hooks;"
        " git config --local alias.st '!evil'; git update-ref refs/heads/evil HEAD;"
        " git commit --allow-empty -qm sneaky; rm -rf .git/hooks; mv .git .git-away;"
        " umount /workspace/.git; mount -t tmpfs none /workspace/.git; echo done"
    )
    assert "done" in result.output
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert (repo / ".git" / "hooks").is_dir()
    assert (repo / ".git" / "config").read_bytes() == config_before
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "branch", "--list", "evil") == ""
    assert (repo / ".git").is_dir() and not (repo / ".git-away").exists()


@needs_bwrap
def test_git_read_commands_still_work_inside(make_sandbox: MakeSandbox, repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    box = make_sandbox("bwrap")
    result = box.run("git status --short && git diff --stat && git log --oneline -1")
    assert result.exit_code == 0, result.output
    assert "M README.md" in result.output and "initial" in result.output


# --- processes outliving the command ---------------------------------------------------------------------


@needs_bwrap
@pytest.mark.parametrize("kind", ["bwrap", "bwrap-fresh"])
@pytest.mark.parametrize("how", ["setsid", "double-fork", "nohup-disown"])
def test_detached_processes_do_not_outlive_the_command(
    make_sandbox: MakeSandbox, repo: Path, how: str, kind: str
) -> None:
    token = f"detached-{uuid.uuid4().hex}"
    late = f"echo up > /workspace/{token}.started; sleep 30; echo late > /workspace/{token}.late"
    launch = {
        "setsid": f"setsid bash -c '{late}' &",
        "double-fork": f"( ( bash -c '{late}' & ) & )",
        "nohup-disown": f"nohup bash -c '{late}' >/dev/null 2>&1 & disown",
    }[how]
    box = make_sandbox(kind)
    # the command returns only once the detached process is running
    result = box.run(
        f"{launch}\nwhile [ ! -e {token}.started ]; do sleep 0.01; done; echo launched", timeout=20
    )
    assert "launched" in result.output
    assert wait_until(lambda: not processes_mentioning(token), deadline_s=5)
    assert not (repo / f"{token}.late").exists()  # and since its writer is gone, it never will


# --- a shell that ends cleans up, and the next command is unaffected ------------------------------------


@needs_bwrap
@pytest.mark.parametrize("kind", ["bwrap", "bwrap-fresh"])
def test_each_command_gets_a_fresh_home_and_its_tmp_is_the_runs_scratch(
    make_sandbox: MakeSandbox, kind: str
) -> None:
    box = make_sandbox(kind)
    box.run("echo remembered > ~/note; echo kept > /tmp/scratch-note")
    result = box.run("cat ~/note; cat /tmp/scratch-note")
    assert "remembered" not in result.output
    assert "kept" in result.output
    assert (box.scratch / "scratch-note").read_text() == "kept\n"


# --- the keeper: one sandbox serves a run's commands, and no command can take it over -------------------


@needs_bwrap
def test_the_keeper_cannot_be_signalled_traced_or_read(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    steal = (
        "import ctypes, os; l = ctypes.CDLL(None); p = os.pidfd_open(1); "
        "got = [n for n in range(16) if l.syscall(438, p, n, 0) >= 0]; "  # pidfd_getfd: take its socket
        "print('TOOK', got) if got else None; "
        "print('ATTACHED') if l.ptrace(16, 1, 0, 0) == 0 else None"  # PTRACE_ATTACH
    )
    attacks = box.run(
        "kill -KILL 1; kill -STOP 1; kill -TERM 1; "
        "cat /proc/1/environ >/dev/null 2>&1 && echo READ-ENVIRON; "
        "readlink /proc/1/fd/* >/dev/null 2>&1 && echo READ-FDS; "
        "head -c1 /proc/1/mem >/dev/null 2>&1 && echo READ-MEM; "
        f'python3 -c "{steal}"; '
        "ls -l /proc/self/fd/ | grep -c socket"
    )
    assert "READ-" not in attacks.output
    assert "TOOK" not in attacks.output and "ATTACHED" not in attacks.output
    assert attacks.output.rstrip().endswith("0")  # no socket to the keeper reaches a command
    assert box.run("echo still serving").output == "still serving\n"  # the keeper shrugged it all off


@needs_bwrap
def test_a_command_holds_no_descriptor_of_the_keeper(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    box.run("true")  # the keeper has served a command: whatever it received then is closed or not inherited
    listing = box.run("ls /proc/$$/fd")
    # stdin, the output (1 and 2) and the channel that reports the final directory: nothing else
    assert listing.output.split() == ["0", "1", "2", "3"]
    # signals the keeper's Python ignores are back to their defaults: `yes` dies of SIGPIPE, not an error
    assert box.run("yes | head -n 1").output == "y\n"


@needs_bwrap
def test_nothing_of_a_command_is_running_when_the_next_one_starts(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    box.run("sleep 60 & setsid sleep 61 & (trap '' TERM HUP; sleep 62) & echo started")
    listing = box.run("ls /proc | grep -E '^[0-9]+$' | wc -l")
    # the keeper, this command's shell, ls, grep and wc: nothing left from before
    assert int(listing.output.strip()) <= 5
    assert "sleep" not in box.run("cat /proc/[0-9]*/comm").output
