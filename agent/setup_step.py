"""The setup step: the repository's `setup` command (`.be-agent.toml` or `[tool.be-agent]`, e.g.
`setup = "npm ci"`), run once in the sandbox in the run's checkout before the baseline.

- Where: the run's checkout, in a sandbox like the model's (the same toolchains and caches read-only, the
  checkout at the same path), with its own /tmp; the only command of a run that may have network, and not
  even it with `--network-setup off`. The model's commands and the harness's test runs stay offline.
- Its output goes to `setup.log` in the run's directory and to the log; a failure (or a timeout: the test
  timeout bounds it) ends the run with exit 2 and the last lines of its output.
- What it leaves: every untracked path it made (ignored ones too, such as `node_modules/`) is moved out of
  the checkout into the run's `setup-output/` and shown read-only at the same place in the model's checkout
  and in every harness test run's fresh copy (`SandboxConfig.inner_ro_mounts`). So the model cannot change
  what the tests depend on, every harness run sees exactly what the baseline saw, and none of it is part of
  the change, the diff or the branch (each path is also excluded in the checkout's .git/info/exclude). A
  link it left at such a path is removed, never followed (it could name any host path). Tracked files it
  changed (an `npm install` rewriting package-lock.json) are put back as the base commit has them: the
  harness's fresh copies would not have the change either.

Network and a hostile repository: a repository's setup command runs the repository's own choice of code
with network, in the sandbox. It sees no secret (the sandbox's environment allow-list), no home directory,
no other repository; but the sandbox then shares the host's network namespace, so it can reach whatever the
host can: the internet (to send away the repository's code and what the read-only toolchains and caches
hold, such as the Go module cache), services listening on the host's loopback, the local network and a
cloud's metadata endpoint. Therefore a setup command from the repository's config runs with network only
when the user says so (`--network-setup on`, `BE_AGENT_NETWORK_SETUP`, their own config file, or
`--accept-repo-sandbox`); see agent/config_file.py. A setup command the user gave themselves has network
unless `--network-setup off`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agent import workspace as ws
from agent.errors import UsageError
from agent.git import git
from agent.git import paths as git_paths
from agent.lang_toolchains import (
    SETUP_NPM_CACHE,
    LangToolchain,
    find_lang_toolchain,
    merged_env,
    seed_npm_cache,
)
from agent.logs import get_logger
from agent.lower_layers import make_sandbox
from sandbox.base import Sandbox, SandboxConfig
from sandbox.env import SANDBOX_TMP
from sandbox.inner import MAX_INNER_MOUNTS, inner_place, plain_relative

if TYPE_CHECKING:
    from agent.config import RunRequest

log = get_logger("be-agent.setup")

SETUP_LOG = "setup.log"
SETUP_STORE = "setup-output"

SETUP_TAIL_LINES = 20
EXCLUDE_WHY = "made by the setup step (shown read-only, never part of the change)"
INNER_WHY = "shown read-only from outside the checkout (node_modules, vendor/, the setup step's output)"


class SetupFailed(UsageError):
    """The setup command failed or timed out (exit 2)."""


@dataclass(frozen=True)
class SetupResult:
    outputs: tuple[tuple[str, str], ...]  # (host path in the store, place in the checkout)
    restored: tuple[str, ...]  # tracked files setup changed, put back
    dropped: tuple[str, ...]  # links setup left at an output's place, removed
    exit_code: int | None
    duration_s: float


def run_setup(
    command: str,
    box: Sandbox,
    checkout: Path,
    store: Path,
    log_path: Path,
    *,
    timeout: float,
    where: str,
    network: bool,
) -> SetupResult:
    """Run `command` in `box` (a sandbox on `checkout`), keep its output in `log_path`, and move what it made
    into `store` (see the module docstring). `where` names the setting for messages."""
    started = time.monotonic()
    result = box.run(command, timeout=timeout, cwd=box.workdir)
    duration = round(time.monotonic() - started, 3)
    log_path.write_text(f"$ {command}\n{result.output}\n[exit {result.exit_code}]\n", encoding="utf-8")
    log.info(
        "setup_step",
        command=command,
        network=network,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration_s=duration,
        output=result.output,
    )
    if result.timed_out or result.exit_code != 0:
        ended = f"timed out after {timeout:.0f}s" if result.timed_out else f"exited {result.exit_code}"
        tail = "\n".join(result.output.rstrip().splitlines()[-SETUP_TAIL_LINES:])
        raise SetupFailed(f"the setup command `{command}` ({where}) {ended} (log: {log_path}):\n{tail}")
    outputs, dropped = _move_outputs(checkout, store)
    restored = _put_back_tracked(checkout)
    ws.exclude_from_change(checkout, [rel for _, rel in outputs] + list(dropped), why=EXCLUDE_WHY)
    log.info(
        "setup_outputs",
        shown_read_only=[rel for _, rel in outputs],
        links_removed=list(dropped),
        tracked_put_back=list(restored),
    )
    return SetupResult(tuple(outputs), tuple(restored), tuple(dropped), result.exit_code, duration)


def _move_outputs(checkout: Path, store: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Every untracked path (ignored ones too; a wholly untracked directory as one) moves to `store`."""
    listed = git_paths(checkout, "ls-files", "--others", "--directory", "--no-empty-directory", "-z")
    made = sorted({entry.rstrip("/") for entry in listed if entry.rstrip("/")})
    if len(made) > MAX_INNER_MOUNTS:
        raise SetupFailed(
            f"the setup step left {len(made)} separate untracked paths in the checkout (at most "
            f"{MAX_INNER_MOUNTS} can be shown to the tests): {', '.join(made[:5])}, ...; have it write "
            "into fewer directories"
        )
    outputs: list[tuple[str, str]] = []
    dropped: list[str] = []
    for rel in made:
        here = checkout / rel
        if not plain_relative(rel) or here.is_symlink():
            with contextlib.suppress(OSError):
                if here.is_symlink() or not here.is_dir():
                    here.unlink()
                else:
                    shutil.rmtree(here)
            dropped.append(rel)
            continue
        dest = store / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(here, dest)
        outputs.append((str(dest), rel))
    return outputs, dropped


def _put_back_tracked(checkout: Path) -> list[str]:
    changed = git_paths(checkout, "diff", "--name-only", "-z", "HEAD", "--")
    if changed:
        git(checkout, "reset", "--quiet", "--hard", "HEAD")
    return sorted(changed)


def prepare_environment(
    req: RunRequest, repo: Path, checkout: Path, config: SandboxConfig
) -> tuple[SandboxConfig, LangToolchain, SetupResult | None]:
    """The sandbox configuration of a run's commands and tests, Node.js and Go added to `config` (which has
    the Python toolchain), after the setup step when the request has one (run here, in `checkout`; its
    log and outputs beside the checkout, in the run's directory)."""
    from agent.config_file import setting_name

    lang = find_lang_toolchain(repo, checkout, user_dirs=req.setup is None)
    log.info("node_go_toolchains", **lang.describe())
    tests_config = replace(
        config,
        extra_ro_paths=tuple(dict.fromkeys((*config.extra_ro_paths, *lang.mounts))),
        extra_env=merged_env(config.extra_env, lang.env),
        inner_ro_mounts=(*config.inner_ro_mounts, *lang.inner_mounts),
    )
    if req.setup is None:
        return _prepared(tests_config, checkout, places=req.sandbox != "none"), lang, None
    run_dir = checkout.parent
    tmp = run_dir / "setup-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    setup_env = merged_env(config.extra_env, lang.setup_env)
    setup_mounts = tests_config.extra_ro_paths
    if lang.npm_cache and seed_npm_cache(lang.npm_cache, tmp / SETUP_NPM_CACHE):
        # npm reads the user's cache through links into it (read-only) and writes beside it, in /tmp
        inner_tmp = str(tmp) if req.sandbox == "none" else SANDBOX_TMP
        setup_env["npm_config_cache"] = f"{inner_tmp}/{SETUP_NPM_CACHE}"
        setup_mounts = (*setup_mounts, os.path.join(lang.npm_cache, "content-v2"))
    setup_config = replace(
        tests_config,
        network=req.network_setup,
        extra_ro_paths=setup_mounts,
        extra_env=setup_env,
        command_timeout=req.test_timeout,
    )
    box = make_sandbox(req.sandbox, checkout, tmp, setup_config)
    try:
        done = run_setup(
            req.setup,
            box,
            checkout,
            run_dir / SETUP_STORE,
            run_dir / SETUP_LOG,
            timeout=req.test_timeout,
            where=setting_name("setup", req.setting_sources.get("setup")),
            network=req.network_setup,
        )
    finally:
        box.close()
        shutil.rmtree(tmp, ignore_errors=True)
    env = tests_config.extra_env
    if "GOFLAGS" in env and any(rel == "vendor" for _, rel in done.outputs):
        env = {**env, "GOFLAGS": "-mod=vendor"}  # `go mod vendor` in setup: build from what it vendored
    shown = replace(
        tests_config, inner_ro_mounts=(*tests_config.inner_ro_mounts, *done.outputs), extra_env=env
    )
    return _prepared(shown, checkout, places=req.sandbox != "none"), lang, done


def _prepared(config: SandboxConfig, checkout: Path, *, places: bool) -> SandboxConfig:
    """None of the inner mounts' places is ever part of the change (without a sandbox they are links), and
    with `places` they exist in the checkout before the model's first command (so the sandbox making them
    is no change of the model's)."""
    mounts = config.inner_ro_mounts
    ws.exclude_from_change(checkout, [rel for _, rel in mounts], why=INNER_WHY)
    for source, rel in mounts if places else ():
        place = inner_place(checkout, source, rel)
        if place is None or os.path.lexists(place):
            continue
        with contextlib.suppress(OSError):
            if os.path.isdir(source):
                place.mkdir()
            else:
                place.touch()
    return config
