"""Node.js and Go in the sandbox: what it mounts read-only for them and the environment their commands get.

Rule, as for Python (agent/toolchain.py): nothing of the repository's runs on the host, and everything here is
found by reading files and the environment, never by running `go env` or `npm config`.

- The binaries: `node` and `go` in the system directories (/usr) are already visible in the sandbox. One
  found on PATH elsewhere (nvm, a Go tarball in /opt) has its installation mounted read-only and its `bin`
  put first on PATH, unless that installation is the root, holds the home directory, or holds or lies
  inside the user's repository.
- Go's module cache (`$GOMODCACHE`, else the first entry of `$GOPATH` + `/pkg/mod`, else `~/go/pkg/mod`):
  mounted read-only at its own path for a repository with a `go.mod`, GOMODCACHE pointing at it, GOFLAGS
  `-mod=readonly` (or `-mod=vendor` when the checkout has a `vendor/` directory, tracked or shown) and
  GOPROXY=off, so go never downloads or writes the cache. The setup step gets the same cache as a read-only
  module proxy instead (`file://<cache>/cache/download`), with a private writable cache in its /tmp, so
  `go mod vendor` or `go mod download` there work from what the user already has (and from the network,
  when the setup step has it).
- The npm cache (`$npm_config_cache`, else `~/.npm`): npm cannot use a read-only cache as it is (every
  lookup rewrites the cache's index, and a failed rewrite reads as a miss: ENOTCACHED; bubblewrap 0.8 has no
  overlay to make it writable). So the setup step gets a private cache in its /tmp whose index is a copy of
  the user's and whose content files are links into the user's `_cacache/content-v2`, which is mounted
  read-only: npm reads what the user has cached and writes what it downloads beside it, never into the
  user's cache. The model's commands and the test runs get no npm cache (npm's default in the sandbox's
  HOME, new for every command): what the tests need is in node_modules.
- The user's own untracked `node_modules` (for a repository with a `package.json`) and Go `vendor/` (with a
  `go.mod`) are shown read-only at the same place in the run's checkout (`SandboxConfig.inner_ro_mounts`).
  Refused: one the repository tracks (a tracked `node_modules` link could name any host path; tracked
  content is in the checkout already), and one that is a link to the root, to the home directory or a
  directory above it, to the repository itself or a directory above it, or out of the repository to a
  directory of another name (`node_modules -> ~/.ssh`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.toolchain import _in_system_dirs, _install_prefix, _is_script, _tracked_under, _under
from sandbox.env import DEFAULT_PATH


@dataclass(frozen=True)
class LangToolchain:
    """What the sandbox adds for Node.js and Go."""

    mounts: tuple[str, ...] = ()  # read-only, at their own paths
    inner_mounts: tuple[tuple[str, str], ...] = ()  # (host path, place in the checkout), read-only
    env: dict[str, str] = field(default_factory=dict)  # for the model's commands and the test runs
    setup_env: dict[str, str] = field(default_factory=dict)  # for the setup step instead
    npm_cache: str | None = None  # the user's npm `_cacache`, for the setup step (see seed_npm_cache)
    notes: tuple[str, ...] = ()  # what was found or refused, for the log

    def describe(self) -> dict[str, object]:
        return {
            "mounts": list(self.mounts),
            "inner_mounts": [rel for _, rel in self.inner_mounts],
            "env": {k: v for k, v in self.env.items() if k != "PATH"},
            "notes": list(self.notes),
        }


SETUP_GOMODCACHE = "/tmp/go-mod"  # the setup step's own module cache, in its private /tmp
SETUP_NPM_CACHE = "npm-cache"  # the setup step's own npm cache, in its private /tmp
MAX_NPM_CACHE_FILES = 50_000  # a larger cache is not offered to the setup step (linking it takes too long)
MAX_NPM_INDEX_BYTES = 64 * 1024**2  # nor one whose index is larger than this (it is copied)
NPM_QUIET = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}


def npm_cache(environ: Mapping[str, str], home: str) -> str | None:
    """The user's npm `_cacache` directory (from `npm_config_cache`, else `~/.npm`), read, not asked of npm."""
    base = environ.get("npm_config_cache") or environ.get("NPM_CONFIG_CACHE") or os.path.join(home, ".npm")
    path = os.path.join(base, "_cacache")
    return path if os.path.isabs(path) and os.path.isdir(os.path.join(path, "content-v2")) else None


def seed_npm_cache(user_cache: str, dest: Path) -> bool:
    """Make `dest` (an npm cache directory in the setup step's /tmp) read through to `user_cache` (the user's
    `_cacache`, mounted read-only at its own path): the index copied, each content file a link to the
    user's. Only regular files are taken. False (and nothing usable made) when the cache is too large."""
    content = os.path.join(user_cache, "content-v2")
    index = os.path.join(user_cache, "index-v5")
    index_files: list[tuple[str, str]] = []
    size = 0
    for top, _dirs, files in os.walk(index):
        for name in files:
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                index_files.append((path, os.path.relpath(path, index)))
                size += os.path.getsize(path)
        if size > MAX_NPM_INDEX_BYTES:
            return False
    links: list[tuple[str, str]] = []
    for top, _dirs, files in os.walk(content):
        for name in files:
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                links.append((path, os.path.relpath(path, content)))
        if len(links) > MAX_NPM_CACHE_FILES:
            return False
    root = dest / "_cacache"
    for path, rel in index_files:
        target = root / "index-v5" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for path, rel in links:
        target = root / "content-v2" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(path, target)
    return True


def go_module_cache(environ: Mapping[str, str], home: str) -> str | None:
    """Where the user's Go module cache is, read from the environment as go would (not by running go)."""
    explicit = environ.get("GOMODCACHE", "")
    if explicit:
        path = explicit
    else:
        gopath = environ.get("GOPATH", "").split(os.pathsep)[0]
        path = os.path.join(gopath or os.path.join(home, "go"), "pkg", "mod")
    return path if os.path.isabs(path) and os.path.isdir(path) else None


def _mountable_cache(
    cache: str | None, user_repo: Path, home: str, notes: list[str], refused: str
) -> str | None:
    """`cache` when it may be mounted; otherwise None, with why in `notes` (`refused` says what was not done)."""
    wide = too_wide(cache, user_repo, home) if cache else None
    if wide:
        notes.append(f"{refused}: {wide}")
        return None
    return cache


def too_wide(path: str, user_repo: Path, home: str) -> str | None:
    """Why `path` (resolved) must never be mounted, or None."""
    real = os.path.realpath(path)
    repo = os.path.realpath(user_repo)
    if real == "/" or _under(os.path.realpath(home), real):
        return f"{path} is the root or holds the home directory"
    if _under(repo, real):
        return f"{path} holds the repository"
    return None


def _binary_install(name: str, environ: Mapping[str, str], user_repo: Path, home: str) -> str | None:
    """The installation prefix of `name` on PATH when it lies outside the system directories and may be
    mounted; None when it is in them, missing, a script, or too wide."""
    found = shutil.which(name, path=environ.get("PATH", DEFAULT_PATH))
    if not found or _is_script(found):
        return None
    prefix = _install_prefix(found)
    if _in_system_dirs(os.path.realpath(found)):
        return None
    if too_wide(prefix, user_repo, home) or _under(os.path.realpath(prefix), os.path.realpath(user_repo)):
        return None
    return prefix


def _user_dir(user_repo: Path, name: str, home: str) -> tuple[str | None, str]:
    """The user's untracked `name` directory at the top of their repository, as a host path to mount, or
    None with why it was left out ("" when there is none)."""
    path = user_repo / name
    if not os.path.lexists(path):
        return None, ""
    if _tracked_under(user_repo, str(path)):
        return None, f"{name} is tracked by the repository: it is not mounted from your working tree"
    if not path.is_dir():
        return None, f"{name} is not a directory"
    real = os.path.realpath(path)
    wide = too_wide(str(path), user_repo, home)
    if wide or real == os.path.realpath(user_repo):
        return None, f"{name} was not mounted: {wide or 'it leads to the repository itself'}"
    if not _under(real, os.path.realpath(user_repo)) and os.path.basename(real) != name:
        # a link out of the repository must lead to a directory of the same name, not to ~/.ssh
        return None, f"{name} was not mounted: it links to {real}, which is not a {name} directory"
    return real, ""


def find_lang_toolchain(
    user_repo: Path,
    checkout: Path,
    *,
    environ: Mapping[str, str] | None = None,
    home: str | None = None,
    user_dirs: bool = True,
) -> LangToolchain:
    """Node.js and Go for this repository (see the module docstring). `user_dirs`: show the user's untracked
    node_modules and vendor/ in the checkout (not when a setup step makes them)."""
    environ = os.environ if environ is None else environ
    home = home or str(Path.home())
    mounts: list[str] = []
    inner: list[tuple[str, str]] = []
    env: dict[str, str] = {}
    setup_env: dict[str, str] = {}
    notes: list[str] = []
    path_dirs: list[str] = []
    is_node = (checkout / "package.json").is_file()
    is_go = (checkout / "go.mod").is_file() or (checkout / "go.work").is_file()
    for name, wanted in (("node", is_node), ("go", is_go)):
        prefix = _binary_install(name, environ, user_repo, home) if wanted else None
        if prefix:
            mounts.append(prefix)
            path_dirs.append(os.path.join(prefix, "bin"))
            notes.append(f"{name} from {prefix}")
    cache_dir: str | None = None
    if is_node:
        env.update(NPM_QUIET)
        cache_dir = _mountable_cache(
            npm_cache(environ, home),
            user_repo,
            home,
            notes,
            "the npm cache was not offered to the setup step",
        )
    if is_node and user_dirs:
        source, why = _user_dir(user_repo, "node_modules", home)
        if source:
            inner.append((source, "node_modules"))
        elif why:
            notes.append(why)
    if is_go:
        vendored = (checkout / "vendor").is_dir() and not (checkout / "vendor").is_symlink()
        if user_dirs and not os.path.lexists(checkout / "vendor"):
            source, why = _user_dir(user_repo, "vendor", home)
            if source:
                inner.append((source, "vendor"))
                vendored = True
            elif why:
                notes.append(why)
        cache = _mountable_cache(
            go_module_cache(environ, home), user_repo, home, notes, "the Go module cache was not mounted"
        )
        env.update(
            {"GOFLAGS": "-mod=vendor" if vendored else "-mod=readonly", "GOPROXY": "off", "GOSUMDB": "off"}
        )
        setup_env.update({"GOFLAGS": "-mod=mod", "GOMODCACHE": SETUP_GOMODCACHE})
        if cache:
            real = os.path.realpath(cache)
            mounts.append(real)
            env["GOMODCACHE"] = real
            setup_env["GOPROXY"] = f"file://{real}/cache/download,https://proxy.golang.org,direct"
            notes.append(f"Go module cache {real} (read-only)")
    if path_dirs:
        env["PATH"] = ":".join([*path_dirs, DEFAULT_PATH])
    offline_only = ("GOPROXY", "GOSUMDB", "GOFLAGS", "GOMODCACHE")
    for_setup = {k: v for k, v in env.items() if k not in offline_only}
    return LangToolchain(
        tuple(dict.fromkeys(mounts)),
        tuple(inner),
        env,
        {**for_setup, **setup_env},
        cache_dir and os.path.realpath(cache_dir),
        tuple(notes),
    )


def merged_env(first: Mapping[str, str], second: Mapping[str, str]) -> dict[str, str]:
    """`second` over `first`, with PATH the directories of both (first's before second's), once each."""
    merged = {**first, **second}
    paths = [p for env in (first, second) for p in env.get("PATH", "").split(":") if p]
    if paths:
        merged["PATH"] = ":".join(dict.fromkeys(paths))
    return merged
