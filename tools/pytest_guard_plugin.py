"""be-agent's runtime check inside the harness's own pytest runs. Not imported by be-agent itself: the harness
copies this file under a random module name into a directory mounted read-only in the sandbox and loads it
with `-p`, so pytest imports it before any conftest, entry-point plugin or project module.

Each pytest process (xdist workers included) streams what it sees, as it happens, into the FIFO named by
`$BE_AGENT_GUARD_OUT`, whose reading end the harness holds (tools/pytest_guard.py). A record is one JSON
line of at most PIPE_BUF bytes, written with one `write`, so records of several processes never mix; each
carries the process id and a sequence number that counts up from 0. What went into the pipe cannot be
taken back: code that runs later (an `atexit` handler, a thread, a signal handler) can add records, which
shows as repeated numbers or records after the end, but cannot change what was said. The records:
- `start`, when the plugin loads;
- `call`: for every test whose call phase ran, what the call itself did (passed, failed, skipped), seen by
  the innermost wrapper around the test function, under whatever a report later claims;
- `failed`: a test whose report pytest logged as failed (setup, call or teardown), as it logged it;
- `replaced`: a part of the runner (pytest's runner, reports, JUnit writer, pluggy's hook calling, builtins,
  the `sys.modules` entries of pytest and pluggy) that is no longer the object it was when the plugin
  loaded, and `late_plugin`: a plugin registered after collection, while tests ran;
- `end`, last, at the very end of the session: whether this is the main process or an xdist worker, the
  exit status pytest decided on, and the SHA-256 of the JUnit report as pytest wrote it (main process).
Code under test runs in the same process and could still silence this; the harness's static check of the
change is the other half. Written for any Python >= 3.8 and pytest >= 6.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
import sys
from collections.abc import Generator
from typing import Any

import pytest

_OUT = os.environ.get("BE_AGENT_GUARD_OUT", "")
_PIPE_BUF = 4096  # POSIX's smallest atomic pipe write; Linux's too
_NAME_LIMIT = 1024  # characters of a replaced part's or plugin's name
# (module, attribute path): looked up again at the end and compared by identity
_WATCHED: tuple[tuple[str, str], ...] = (
    ("_pytest.runner", "runtestprotocol"),
    ("_pytest.runner", "call_and_report"),
    ("_pytest.runner", "call_runtest_hook"),
    ("_pytest.runner", "check_interactive_exception"),
    ("_pytest.runner", "CallInfo.from_call"),
    ("_pytest.runner", "SetupState.setup"),
    ("_pytest.reports", "TestReport.from_item_and_call"),
    ("_pytest.reports", "TestReport.__init__"),
    ("_pytest.reports", "BaseReport.passed"),
    ("_pytest.reports", "BaseReport.failed"),
    ("_pytest.python", "Function.runtest"),
    ("_pytest.unittest", "TestCaseFunction.runtest"),
    ("_pytest.junitxml", "_NodeReporter.append_pass"),
    ("_pytest.junitxml", "_NodeReporter.append_failure"),
    ("_pytest.junitxml", "_NodeReporter.append_error"),
    ("_pytest.junitxml", "_NodeReporter.append_skipped"),
    ("_pytest.junitxml", "_NodeReporter.to_xml"),
    ("_pytest.junitxml", "_NodeReporter.finalize"),
    ("_pytest.junitxml", "LogXML.node_reporter"),
    ("_pytest.junitxml", "LogXML.finalize"),
    ("_pytest.junitxml", "LogXML.pytest_sessionfinish"),
    ("pluggy._hooks", "HookCaller.__call__"),
    ("pluggy._hooks", "_HookCaller.__call__"),
    ("pluggy._manager", "PluginManager._hookexec"),
    ("pluggy._callers", "_multicall"),
    ("builtins", "__import__"),
    ("builtins", "open"),
    ("builtins", "exec"),
    ("builtins", "eval"),
    ("builtins", "compile"),
)
_MODULE_PREFIXES = ("pytest", "_pytest", "pluggy")
_MISSING = object()


def _lookup(module_name: str, path: str) -> Any:
    """The object at `path` in the module, read from class dictionaries (so a classmethod is itself)."""
    try:
        found: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
    except Exception:
        return _MISSING
    parts = path.split(".")
    for part in parts:
        if isinstance(found, type):
            found = next((c.__dict__[part] for c in found.__mro__ if part in c.__dict__), _MISSING)
        else:
            found = getattr(found, part, _MISSING)
        if found is _MISSING:
            return _MISSING
    return found


_ORIGINAL: dict[str, tuple[str, str, Any]] = {
    f"{m}.{p}": (m, p, _lookup(m, p)) for m, p in _WATCHED if _lookup(m, p) is not _MISSING
}
_MODULES: dict[str, Any] = {
    name: module for name, module in list(sys.modules.items()) if name.split(".")[0] in _MODULE_PREFIXES
}
_SKIP_TYPES: tuple[type, ...] = tuple(
    t for t in (getattr(pytest.skip, "Exception", None), getattr(pytest.xfail, "Exception", None)) if t
)
# what sending and hashing need, taken before any project code runs
_write, _dumps, _getpid, _sha256 = os.write, json.dumps, os.getpid, hashlib.sha256
_os_open, _os_read, _os_close = os.open, os.read, os.close
_STATE: dict[str, Any] = {
    "config": None,
    "inner_hookexec": None,
    "plugins": None,
    "pid": 0,
    "seq": 0,
    "fd": -1,
}


def _open_channel(path: str) -> int:
    """The FIFO's writing end, or -1 (no harness reading: outside the harness, or the FIFO is gone)."""
    if not path:
        return -1
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        return -1
    os.set_blocking(fd, True)  # a full pipe makes the test wait for the harness to read, never drops a record
    return fd


def _send(kind: str, **fields: Any) -> None:
    fd = _STATE["fd"]
    if fd < 0:
        return
    pid = _getpid()
    if pid != _STATE["pid"]:  # first record, or a forked child running tests (pytest-forked): its own count
        _STATE["pid"], _STATE["seq"] = pid, 0
        if kind != "start":
            _send("start")
    record = {"pid": pid, "seq": _STATE["seq"], "kind": kind, **fields}
    line = (_dumps(record) + "\n").encode("utf-8", "surrogatepass")
    if len(line) > _PIPE_BUF and isinstance(fields.get("id"), str):
        # a very long test id: sent as its digest, which the harness matches against the ids it knows
        del record["id"]
        record["id_sha256"] = _sha256(fields["id"].encode("utf-8", "surrogatepass")).hexdigest()
        line = (_dumps(record) + "\n").encode("utf-8", "surrogatepass")
    _STATE["seq"] += 1
    try:
        _write(fd, line)
    except OSError:
        _STATE["fd"] = -1  # the harness stopped reading: the records it lacks make the run untrusted


_STATE["fd"] = _open_channel(_OUT)
_send("start")


def pytest_configure(config: Any) -> None:
    _STATE["config"] = config
    _STATE["inner_hookexec"] = getattr(config.pluginmanager, "_inner_hookexec", None)


def pytest_collection_finish(session: Any) -> None:
    _STATE["plugins"] = {id(p) for p in session.config.pluginmanager.get_plugins()}


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: Any) -> Generator[None, Any, None]:
    outcome = yield
    excinfo = outcome.excinfo
    state = "passed"
    if excinfo is not None:
        state = "skipped" if _SKIP_TYPES and isinstance(excinfo[1], _SKIP_TYPES) else "failed"
    elif getattr(item, "_excinfo", None):  # unittest cases collect their failures instead of raising
        state = "failed"
    _send("call", id=item.nodeid, outcome=state)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: Any) -> None:
    if report.failed:
        _send("failed", id=report.nodeid, when=str(report.when))


def _replaced() -> list[str]:
    found = [name for name, (m, p, obj) in _ORIGINAL.items() if _lookup(m, p) is not obj]
    found += [
        f"sys.modules[{name!r}]" for name, module in _MODULES.items() if sys.modules.get(name) is not module
    ]
    config = _STATE["config"]
    inner = _STATE["inner_hookexec"]
    manager = config.pluginmanager if config is not None else None
    if inner is not None and getattr(manager, "_inner_hookexec", None) is not inner:
        found.append("PluginManager._inner_hookexec")
    return sorted(found)


def _late_plugins() -> list[str]:
    config, before = _STATE["config"], _STATE["plugins"]
    if config is None or before is None:
        return []
    manager = config.pluginmanager
    return sorted(_label(p) for p in manager.get_plugins() if id(p) not in before)


def _label(plugin: Any) -> str:
    """A name that is the same in every run (a plugin's registered name may be its id)."""
    name = getattr(plugin, "__name__", None)
    return str(name) if isinstance(name, str) else f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def _digest(config: Any) -> str | None:
    """SHA-256 of the JUnit report as pytest wrote it, or None when there is none."""
    path = getattr(config.option, "xmlpath", None)
    if not isinstance(path, str) or not path:
        return None
    path = os.path.join(str(config.invocation_params.dir), path)  # as pytest resolved it at the start
    try:
        fd = _os_open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    digest = _sha256()
    try:
        while chunk := _os_read(fd, 1 << 20):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        _os_close(fd)
    return digest.hexdigest()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: Any) -> Generator[None, Any, None]:
    yield
    # every other sessionfinish hook has run: the JUnit report is written and the exit status is final
    config = session.config
    for name in _replaced():
        _send("replaced", name=name[:_NAME_LIMIT])
    for name in _late_plugins():
        _send("late_plugin", name=name[:_NAME_LIMIT])
    worker = hasattr(config, "workerinput")
    try:
        status: int | None = int(session.exitstatus)
    except (TypeError, ValueError):
        status = None
    _send(
        "end",
        role="worker" if worker else "main",
        exit_status=status,
        junit_sha256=None if worker else _digest(config),
    )
