"""Before the model starts: the tests can run, and they test the checkout.

Two checks, both before any model call:

- `outside_copies` (before the baseline): the repository's own modules must import from the checkout. A copy
  installed elsewhere (`pip install .` instead of `-e`, an editable install that points at another tree)
  would be what the tests exercise, so a correct edit would change nothing. `make_imports_local` puts the
  checkout's directories first on PYTHONPATH and checks again; if that does not help the run stops.
- `baseline_problem` (after the baseline): a run that did not get to the tests is no task for the model. The
  command is missing; pytest refuses its arguments, a conftest or plugin cannot be loaded, nothing is
  collected in a repository that has test files, every test module fails to import because a module is
  missing, or pytest leaves no results at all. Any test outcome is evidence about the code and passes; so
  does a timeout, a runner without per-test results that ran, and a repository without any test file (the
  change's own tests will be what counts).

Every message is one line naming what failed and the likely cause. Text from the test output is reduced to
printable characters first: it comes from the repository.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.untrusted import clean_log
from sandbox.base import Sandbox
from tools.detect import TestCommand
from tools.test_report import TestReport

MAX_MODULES = 200
MAX_WALK_ENTRIES = 20_000
MAX_PROBE_BYTES = 1024 * 1024
FIND_TIMEOUT_S = 60.0
_NOT_MODULES = frozenset({"setup", "conftest", "noxfile", "fabfile", "__init__", "__main__"})
_SKIP_DIRS = frozenset({"node_modules", "site-packages", "__pycache__", "build", "dist"})
_PYTEST_CANNOT_RUN = {4: "pytest usage error", 5: "no tests were collected"}
_MISSING_MODULE = re.compile(r"No module named '?([A-Za-z_][\w.]*)'?")
_TELLING_LINE = re.compile(r"error|not found|no module named|no tests ran|permission denied", re.I)


# --- which modules are the repository's own --------------------------------------------------------------


def project_modules(checkout: Path) -> dict[str, str]:
    """Top-level modules the checkout provides where a developer imports them from, each with the directory
    that holds it (relative: "src" or "."). Read from the file tree only, bounded."""
    found: dict[str, str] = {}
    for base in ("src", "."):
        folder = checkout / base
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)[:MAX_WALK_ENTRIES]
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or len(found) >= MAX_MODULES:
                continue
            if entry.is_dir(follow_symlinks=False) and name.isidentifier():
                package = (Path(entry.path) / "__init__.py").is_file()
                if package or (base == "src" and any(Path(entry.path).glob("*.py"))):
                    found.setdefault(name, base)
            elif entry.is_file(follow_symlinks=False) and name.endswith(".py"):
                stem = name[:-3]
                if stem.isidentifier() and stem not in _NOT_MODULES and base == "src":
                    found.setdefault(stem, base)
    return found


# --- do the tests import the checkout? ---------------------------------------------------------------------

# Where each module resolves from the checkout root, as `python3 -m ...` sees it (the root first on sys.path).
_FIND = """
import importlib.util, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        continue
    if spec is None:
        continue
    places = [spec.origin] if spec.origin and spec.has_location else list(spec.submodule_search_locations or [])
    found[name] = places
print(json.dumps(found))
"""

# Loaded into pytest with `-p`: where each module resolves once pytest has set up its own sys.path and
# collected (imported) the test modules.
_PLUGIN = """
import importlib.util, json, sys
_NAMES = {names}
_OUT = {out}
def pytest_collection_finish(session):
    found = {{}}
    for name in _NAMES:
        module = sys.modules.get(name)
        places = []
        if module is not None:
            places = [getattr(module, "__file__", None) or ""] + list(getattr(module, "__path__", []) or [])
        else:
            try:
                spec = importlib.util.find_spec(name)
            except Exception:
                spec = None
            if spec is not None:
                places = [spec.origin or ""] + list(spec.submodule_search_locations or [])
        found[name] = [p for p in places if p]
    with open(_OUT, "w") as fh:
        json.dump(found, fh)
"""


def _under(place: str, folder: str) -> bool:
    return place == folder or place.startswith(folder.rstrip("/") + "/")


def _in_checkout(place: str, sandbox: Sandbox) -> bool:
    """In the checkout itself: a virtualenv mounted inside it (the user's `.venv`) is not the checkout."""
    return _under(place, sandbox.workdir) and not any(
        _under(place, mount) for mount in sandbox.config.extra_ro_paths
    )


def _outside(places: dict[str, list[str]], sandbox: Sandbox) -> dict[str, str]:
    """Modules none of whose locations are in the checkout, each with where it resolved."""
    return {
        name: where[0]
        for name, where in places.items()
        if where and not any(_in_checkout(p, sandbox) for p in where)
    }


def _read_json_object(text: str) -> dict[str, list[str]]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [p for p in v if isinstance(p, str)] for k, v in data.items() if isinstance(v, list)}


def _resolve_plainly(sandbox: Sandbox, names: list[str]) -> dict[str, list[str]]:
    script = f"python3 -c {shlex.quote(_FIND)} {shlex.quote(json.dumps(names))}"
    result = sandbox.run(script, timeout=FIND_TIMEOUT_S, cwd=sandbox.workdir)
    lines = result.output.strip().splitlines()
    return _read_json_object(lines[-1]) if result.exit_code == 0 and lines else {}


def _resolve_in_pytest(
    sandbox: Sandbox, command: TestCommand, names: list[str]
) -> dict[str, list[str]] | None:
    """What pytest itself imports, from a collection-only run of the test command; None if it gave no answer
    (a broken suite is the baseline check's to report)."""
    token = uuid.uuid4().hex
    folder = sandbox.scratch / f"be-agent-probe-{token}"
    folder.mkdir()
    inner_folder = f"{sandbox.scratch_inner.rstrip('/')}/be-agent-probe-{token}"
    out_name = "imports.json"
    module = f"be_agent_import_probe_{token[:8]}"
    (folder / f"{module}.py").write_text(
        _PLUGIN.format(names=json.dumps(names), out=json.dumps(f"{inner_folder}/{out_name}"))
    )
    run = (
        f'export PYTHONPATH={shlex.quote(inner_folder)}"${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'PYTEST_ADDOPTS="${{PYTEST_ADDOPTS:-}} -p {module}"; '
        f"{command.command} --collect-only -q"
    )
    try:
        sandbox.run(run, timeout=sandbox.config.test_timeout, cwd=sandbox.workdir)
        text = _read_small(folder / out_name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # whatever the suite left there; links are not followed
    return None if text is None else _read_json_object(text)


def _read_small(path: Path) -> str | None:
    """A file the sandbox wrote, without following a link put in its place, bounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, MAX_PROBE_BYTES).decode("utf-8", "replace")
    finally:
        os.close(fd)


def outside_copies(sandbox: Sandbox, command: TestCommand, modules: dict[str, str]) -> dict[str, str]:
    """The repository's modules that the tests would import from outside the checkout, each with where.

    A cheap look first (`python3` from the checkout root); only for modules found outside is the test
    command itself asked (for pytest: a collection-only run), since its configuration may put the checkout
    first after all."""
    if not modules:
        return {}
    names = sorted(modules)
    suspects = _outside(_resolve_plainly(sandbox, names), sandbox)
    if not suspects or not command.pytest:
        return suspects
    pytest_view = _resolve_in_pytest(sandbox, command, sorted(suspects))
    if pytest_view is None:
        return suspects
    return _outside({n: pytest_view[n] for n in suspects if n in pytest_view}, sandbox)


@dataclass
class ImportFix:
    """What was done so the tests import the checkout: PYTHONPATH for every command, and why."""

    pythonpath: str
    note: str


class ImportsOutsideCheckout(Exception):
    """The tests import a copy of the repository's code from outside the checkout and it cannot be fixed."""


def make_imports_local(
    sandbox: Sandbox,
    command: TestCommand,
    checkout: Path,
    remake: Callable[[dict[str, str]], Sandbox],
) -> tuple[Sandbox, ImportFix | None]:
    """`sandbox` as it is when the tests import the checkout; otherwise one made by `remake(extra_env)` with
    the checkout's directories first on PYTHONPATH, checked again. Raises ImportsOutsideCheckout with a
    one-line message when neither imports the checkout."""
    modules = project_modules(checkout)
    found = outside_copies(sandbox, command, modules)
    if not found:
        return sandbox, None
    folders = sorted({modules[name] for name in found})
    if sandbox.workdir == sandbox.config.workdir:  # every copy of the commit is shown at this same path
        value = ":".join(sandbox.workdir if f == "." else f"{sandbox.workdir}/{f}" for f in folders)
    else:  # unconfined: each copy lives at its own path, and the tests start at its root
        value = ":".join(folders)
    name, where = sorted(found.items())[0]
    fixed = remake({"PYTHONPATH": value})
    still = outside_copies(fixed, command, modules)
    if still:
        fixed.close()
        raise ImportsOutsideCheckout(
            f"the tests import {name} from {_printable(where)}, outside the checkout (an installed copy "
            f"shadows the repository's {_module_path(name, modules)}), and PYTHONPATH={value} does not change "
            "that: install the project in editable mode (pip install -e .) or pass --test-cmd"
        )
    sandbox.close()
    relative = ":".join(folders)
    note = (
        f"{name} is also installed outside the checkout ({_printable(where)}), and the tests would have "
        f"imported that copy; PYTHONPATH={value} is set for every command so they import the checkout's "
        f"{_module_path(name, modules)} (the repository's {relative})"
    )
    return fixed, ImportFix(value, note)


def _module_path(name: str, modules: dict[str, str]) -> str:
    folder = modules.get(name, ".")
    return name if folder == "." else f"{folder}/{name}"


# --- can the tests run at all? -----------------------------------------------------------------------------


def baseline_problem(
    report: TestReport,
    command: TestCommand,
    *,
    checkout: Path | None = None,
    python: str | None = None,
) -> str | None:
    """Why this test run says nothing about the code (the tests could not run), or None.

    `checkout` lets an empty collection pass in a repository without test files and names the repository's
    own modules in the cause; `python` (the interpreter the tests ran with) goes into the advice."""
    if report.green or report.timed_out:
        return None
    code = report.exit_code
    shown = f"`{_printable(report.command)}`"
    if code in (126, 127):
        why = "command not found" if code == 127 else "command not executable"
        return _with_detail(f"{shown} exited with code {code} ({why})", report.raw_tail)
    if not command.pytest:
        return None
    own = project_modules(checkout) if checkout is not None else {}
    missing = _missing_module(report)
    if code == 4:
        where = "a conftest.py" if "while loading conftest" in report.raw_tail else "a plugin"
        if missing:
            return _cannot_import(missing, f"while loading {where}; {shown} exited with code 4", own, python)
        return _with_detail(f"{shown} exited with code 4 ({_PYTEST_CANNOT_RUN[4]})", report.raw_tail)
    if code == 5 and not report.outcomes:
        example = first_test_file(checkout) if checkout is not None else "?"
        if example is None:
            return None  # a repository without tests: the change's own tests are what will count
        seen = "" if example == "?" else f", though the repository has test files such as {example}"
        return _with_detail(f"{shown} exited with code 5 ({_PYTEST_CANNOT_RUN[5]}{seen})", report.raw_tail)
    if report.outcomes:
        only_import_errors = all(o == "error" and "::" not in t for t, o in report.outcomes.items())
        if only_import_errors and missing and "." not in missing.module:
            return _cannot_import(
                missing, f"every test module failed to import; {shown} exited with code {code}", own, python
            )
        return None
    if missing:
        return _cannot_import(
            missing, f"{shown} exited with code {code} and left no test results", own, python
        )
    return _with_detail(
        f"{shown} exited with code {code} and left no test results (no test results: the command, a plugin or "
        "a conftest.py failed before any test ran)",
        report.raw_tail,
    )


@dataclass(frozen=True)
class _Missing:
    module: str
    said: str  # the runner's words, e.g. "No module named 'click'"


def _missing_module(report: TestReport) -> _Missing | None:
    for text in [*report.messages.values(), report.raw_tail]:
        match = _MISSING_MODULE.search(text)
        if match:
            return _Missing(match.group(1), match.group(0))
    return None


def _cannot_import(missing: _Missing, context: str, own: dict[str, str], python: str | None) -> str:
    where = f"the tests ran with {python}" if python else "the tests ran with python3 from the sandbox's PATH"
    top = missing.module.split(".")[0]
    if top == "pytest":
        advice = "install pytest there"
    elif top in own:
        advice = "install the project there (pip install -e .)"
    else:
        advice = "install the project's test dependencies there"
    return (
        f"{_printable(missing.module)} cannot be imported in the sandbox ({context}): "
        f"{_printable(missing.said)}; {where}: {advice}"
    )


def first_test_file(checkout: Path) -> str | None:
    """A test file of the checkout (`test_*.py` or `*_test.py`), relative; None when there is none. Hidden
    directories, virtualenvs and installed packages are not looked into; the walk is bounded."""
    seen = 0
    for top, dirs, files in os.walk(checkout):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and not (Path(top, d) / "pyvenv.cfg").exists()
        )
        seen += len(dirs) + len(files)
        for name in sorted(files):
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                return str(Path(top, name).relative_to(checkout))
        if seen > MAX_WALK_ENTRIES:
            return "?"
    return None


def _printable(text: str, limit: int = 300) -> str:
    """Cleaned like any terminal output from outside (`clean_log`), then one line of printable characters,
    bounded: safe on a terminal."""
    text = "".join(c for c in clean_log(text) if c.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_detail(text: str, output: str) -> str:
    lines = [" ".join(_printable(line, 10_000).split()).strip("=- ") for line in output.splitlines()]
    lines = [line for line in lines if line]
    telling = [line for line in lines if _TELLING_LINE.search(line)]
    detail = (telling or lines or [""])[-1]
    return f"{text}: {_printable(detail)}" if detail else text
