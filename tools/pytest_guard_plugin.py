"""be-agent's runtime check inside the harness's own pytest runs. Not imported by be-agent itself: the harness
copies this file under a random module name into a directory mounted read-only in the sandbox and loads it
with `-p`, so pytest imports it before any conftest, entry-point plugin or project module.

It records, in each pytest process (xdist workers included), and writes to `$BE_AGENT_GUARD_OUT` at the
very end of the session:
- `calls`: for every test whose call phase ran, what the call itself did (passed, failed, skipped), seen by
  the innermost wrapper around the test function, under whatever a report later claims;
- `replaced`: parts of the runner (pytest's runner, reports, JUnit writer, pluggy's hook calling, builtins,
  the `sys.modules` entries of pytest and pluggy) that are no longer the objects they were when it loaded;
- `late_plugins`: plugins registered after collection, while tests ran.
Code under test runs in the same process and could still defeat this; the harness's static check of the
change is the other half. Written for any Python >= 3.8 and pytest >= 6.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import sys
from collections.abc import Generator
from typing import Any

import pytest

_OUT = os.environ.get("BE_AGENT_GUARD_OUT", "")
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
_CALLS: dict[str, str] = {}
# what writing the record needs, taken before any project code runs
_open, _dumps, _replace, _makedirs, _getpid = builtins.open, json.dumps, os.replace, os.makedirs, os.getpid
_STATE: dict[str, Any] = {"config": None, "inner_hookexec": None, "plugins": None}


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
    _CALLS[item.nodeid] = state


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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: Any) -> Generator[None, Any, None]:
    yield
    out = _OUT
    if not out:
        return
    record = {
        "version": 1,
        "pid": _getpid(),
        "calls": _CALLS,
        "replaced": _replaced(),
        "late_plugins": _late_plugins(),
    }
    _makedirs(out, exist_ok=True)
    path = f"{out}/guard-{_getpid()}.json"
    with _open(path + ".part", "w", encoding="utf-8") as fh:
        fh.write(_dumps(record))
    _replace(path + ".part", path)
