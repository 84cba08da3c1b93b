"""Which Python the repository's tests run with, and what the sandbox must mount for it.

Rule: nothing of the repository's is executed on the host. Candidates are found by reading files (a
virtualenv's `pyvenv.cfg`, where its links point), never by running them; each is then tried inside a
sandbox with the sandbox's environment, and the first that runs (and imports pytest, when the tests need it)
is used. An interpreter or virtualenv that is a tracked file of the repository is never run, not even in the
sandbox: a repository can commit `.venv/bin/python`, but only the user makes an untracked one.

The candidates, in order: the repository's own `.venv` or `venv`, the active virtualenv (`VIRTUAL_ENV`), the
active conda environment (`CONDA_PREFIX`), `python3` on PATH (a real interpreter, not a version manager's
shim script), the interpreter running be-agent, `/usr/bin/python3`. What the sandbox mounts read-only for
one: the virtualenv itself, the installation its `pyvenv.cfg` names as `home`, and the installation its
`bin/python` links to; never the root, the home directory or a directory above it, nor the user's repository
or a directory above it. Its `bin` goes first on PATH, so `python3` and `pytest` in the model's commands mean
the same interpreter as in the harness's test runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.git import git
from sandbox.base import CommandResult, Sandbox
from sandbox.bwrap import SYSTEM_DIRS
from sandbox.env import DEFAULT_PATH

PROBE_TIMEOUT_S = 30.0
MAX_CFG_BYTES = 64 * 1024
_PROBE = (
    "import json, sys\n"
    "try:\n"
    "    import pytest\n"
    "    has_pytest = True\n"
    "except Exception:\n"
    "    has_pytest = False\n"
    "print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix, 'pytest': has_pytest,\n"
    "                  'version': '%d.%d.%d' % sys.version_info[:3]}))\n"
)


@dataclass(frozen=True)
class Candidate:
    """An interpreter found by reading files: its path (a venv's `bin/python`; for a virtualenv reached
    through a link, under the directory the link leads to), the directories it needs, and where it came from
    (for messages)."""

    python: str
    mounts: tuple[str, ...]
    origin: str
    found_at: str = ""  # the path as it was found, before links were followed (for the tracked check)


@dataclass(frozen=True)
class Toolchain:
    python: str | None = None  # the interpreter path as found (a venv's bin/python, not resolved)
    mounts: tuple[str, ...] = ()  # read-only paths the sandbox must add
    env: dict[str, str] = field(default_factory=dict)  # PATH with the interpreter's bin first
    origin: str = ""  # where it was found, e.g. "the repository's .venv"
    version: str = ""
    has_pytest: bool = False
    refused: tuple[str, ...] = ()  # candidates never tried, each with the reason
    without_pytest: tuple[str, ...] = ()  # preferred candidates that ran but could not import pytest

    def describe(self) -> str:
        if self.python is None:
            return "python3 from the sandbox's PATH (no usable interpreter was found)"
        passed_over = (
            f"; passed over for lacking pytest: {', '.join(self.without_pytest)}"
            if self.without_pytest
            else ""
        )
        return f"{self.python} ({self.origin}, Python {self.version}{passed_over})"


# A function that makes a sandbox with these extra read-only mounts and environment, for one probe.
SandboxMaker = Callable[[tuple[str, ...], dict[str, str]], Sandbox]


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _in_system_dirs(path: str) -> bool:
    return any(_under(path, os.path.realpath(d)) for d in SYSTEM_DIRS if os.path.isdir(d))


def read_pyvenv_cfg(venv: Path) -> dict[str, str]:
    """The `key = value` lines of a virtualenv's pyvenv.cfg, read (never executed), bounded in size."""
    try:
        with (venv / "pyvenv.cfg").open("rb") as fh:
            raw = fh.read(MAX_CFG_BYTES)
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip().lower()] = value.strip()
    return found


def _is_script(path: str) -> bool:
    """A `#!` file (a pyenv or asdf shim, a wrapper) is no interpreter of its own: the sandbox cannot run
    the tool behind it."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return True


def _install_prefix(python: str) -> str:
    """The installation an interpreter binary belongs to: `<prefix>/bin/python3` -> `<prefix>`."""
    real = Path(os.path.realpath(python))
    return str(real.parent.parent) if real.parent.name == "bin" else str(real.parent)


def _interpreter_in(env_dir: Path) -> str | None:
    for name in ("python", "python3"):
        candidate = env_dir / "bin" / name
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def venv_candidate(env_dir: Path, origin: str) -> Candidate | None:
    """A virtualenv (or a conda environment: a prefix without pyvenv.cfg), described by reading its files.
    A virtualenv reached through a link is used at the path the link leads to, which is what the sandbox
    mounts."""
    real_dir = Path(os.path.realpath(env_dir))
    python = _interpreter_in(real_dir)
    if python is None:
        return None
    mounts = [str(real_dir)]
    home = read_pyvenv_cfg(real_dir).get("home")
    if home and os.path.isabs(home):
        base = Path(os.path.realpath(home))
        mounts.append(str(base.parent if base.name == "bin" else base))
    mounts.append(_install_prefix(python))
    kept = tuple(dict.fromkeys(m for m in mounts if not _in_system_dirs(m)))
    return Candidate(python, kept, origin, found_at=os.path.abspath(env_dir))


def plain_candidate(python: str, origin: str) -> Candidate | None:
    if not (os.path.isfile(python) and os.access(python, os.X_OK)) or _is_script(python):
        return None
    prefix = _install_prefix(python)
    mounts = () if _in_system_dirs(prefix) else (prefix,)
    return Candidate(python, mounts, origin, found_at=os.path.abspath(python))


def candidates(
    user_repo: Path, environ: Mapping[str, str] | None = None, system_python: str = "/usr/bin/python3"
) -> list[Candidate]:
    """Every interpreter worth trying, in order of preference, found by reading files only."""
    environ = os.environ if environ is None else environ
    found: list[Candidate | None] = [
        venv_candidate(user_repo / name, f"the repository's {name}") for name in (".venv", "venv")
    ]
    if environ.get("VIRTUAL_ENV"):
        found.append(venv_candidate(Path(environ["VIRTUAL_ENV"]), "the active virtualenv (VIRTUAL_ENV)"))
    if environ.get("CONDA_PREFIX"):
        found.append(venv_candidate(Path(environ["CONDA_PREFIX"]), "the active conda environment"))
    on_path = shutil.which("python3", path=environ.get("PATH", DEFAULT_PATH))
    if on_path:
        found.append(plain_candidate(on_path, "python3 on PATH"))
    own = Path(sys.prefix)
    found.append(
        venv_candidate(own, "the Python running be-agent")
        if (own / "pyvenv.cfg").is_file()
        else plain_candidate(sys.executable, "the Python running be-agent")
    )
    found.append(plain_candidate(system_python, "the system Python"))
    unique: dict[str, Candidate] = {}
    for candidate in found:
        if candidate is not None:
            unique.setdefault(os.path.realpath(candidate.python) + "\0" + candidate.python, candidate)
    return list(unique.values())


def _tracked_under(user_repo: Path, path: str) -> bool:
    """Whether `path` (or anything below it) is a tracked file of the repository, read from its index."""
    top = os.path.realpath(user_repo)
    for form in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
        if not _under(form, top):
            continue
        rel = os.path.relpath(form, top)
        if rel == ".":
            return True
        listed = git(user_repo, "ls-files", "-z", "--", rel, env={"GIT_LITERAL_PATHSPECS": "1"}, check=False)
        if listed.returncode != 0 or listed.stdout:  # what cannot be checked is not trusted
            return True
    return False


def refusal(candidate: Candidate, user_repo: Path) -> str | None:
    """Why this candidate must never run, even in the sandbox, or None."""
    home = os.path.realpath(Path.home())
    repo = os.path.realpath(user_repo)
    for mount in candidate.mounts:
        if mount == "/" or _under(home, mount):
            return f"{candidate.python} would need {mount} mounted, which holds your home directory"
        if _under(repo, mount):
            return f"{candidate.python} would need {mount} mounted, which holds your working tree"
    paths = (candidate.found_at, candidate.python, os.path.realpath(candidate.python), *candidate.mounts)
    for path in (p for p in paths if p):
        if _tracked_under(user_repo, path):
            return (
                f"{candidate.python} is a file the repository tracks ({origin_path(path, user_repo)}); "
                "an interpreter that comes with the repository is never run"
            )
    return None


def origin_path(path: str, user_repo: Path) -> str:
    """`path` relative to the repository when it is inside (as written, else once links are followed)."""
    top = os.path.realpath(user_repo)
    for form in (os.path.abspath(path), os.path.realpath(path)):
        if _under(form, top):
            return os.path.relpath(form, top)
    return path


def probe(candidate: Candidate, make_box: SandboxMaker) -> dict[str, object] | None:
    """Run the candidate inside a sandbox (never on the host) and read back what it is."""
    box = make_box(candidate.mounts, path_env(candidate.python))
    try:
        result: CommandResult = box.run(
            f"{shlex.quote(candidate.python)} -I -c {shlex.quote(_PROBE)}", timeout=PROBE_TIMEOUT_S
        )
    except OSError:
        return None
    finally:
        box.close()
    if result.exit_code != 0:
        return None
    try:
        data = json.loads(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


def path_env(python: str) -> dict[str, str]:
    return {"PATH": f"{os.path.dirname(python)}:{DEFAULT_PATH}"}


def find_python_toolchain(
    user_repo: Path,
    make_box: SandboxMaker,
    *,
    needs_pytest: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Toolchain:
    """The first candidate that runs in the sandbox and (if `needs_pytest`) imports pytest there; else the
    first that runs at all; else an empty Toolchain (python3 from the sandbox's default PATH)."""
    refused: list[str] = []
    without_pytest: list[str] = []
    runs: Toolchain | None = None
    for candidate in candidates(user_repo, environ):
        why = refusal(candidate, user_repo)
        if why:
            refused.append(why)
            continue
        probed = probe(candidate, make_box)
        if probed is None:
            continue
        found = Toolchain(
            candidate.python,
            candidate.mounts,
            path_env(candidate.python),
            origin=candidate.origin,
            version=str(probed.get("version", "")),
            has_pytest=probed.get("pytest") is True,
        )
        if found.has_pytest or not needs_pytest:
            return dataclasses.replace(found, refused=tuple(refused), without_pytest=tuple(without_pytest))
        without_pytest.append(candidate.python)
        runs = runs or found
    return dataclasses.replace(runs or Toolchain(), refused=tuple(refused))
