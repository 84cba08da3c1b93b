"""`be-agent view RUN_DIR|TRAJECTORY`: one self-contained HTML page that shows what a run did.

The page holds the task, the verdict and the harness's verification, the baseline and final test tables,
tokens, cache share and cost per step (an inline SVG chart), a timeline of the steps coloured by phase
with every model message, tool call and result (long text folded, head and tail visible; refusals by the
finish gate highlighted), and the change per file. It loads nothing and runs nothing: everything that came
from the model, the repository or an issue is escaped text (agent.view_html), and its Content-Security-
Policy allows only its own stylesheet. Runs write it into their directory as `run.html`.

The verification block and the report are rendered from plain JSON, key by key: fields this module does
not know are still shown, under their own names.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import webbrowser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.errors import UsageError
from agent.report import SECTIONS
from agent.view_diff import render_diff
from agent.view_html import Budget, Html, el, esc, fold, page
from agent.view_model import RunView, Step, ToolCall, as_dict, as_float, as_int, as_str, load_run
from agent.view_svg import StepPoint, step_chart

PAGE_NAME = "run.html"
MAX_LIST_ITEMS = 200
MAX_DEPTH = 5
MAX_HEADING_CHARS = 200
COUNT_KEYS = ("passed", "failed", "error", "skipped")

VERIFICATION_LABELS = {
    "baseline": "baseline run",
    "final": "final run (the original tests, on the change)",
    "change_tests": "the change's own test files",
    "regressions": "regressions (passed at baseline, not now)",
    "missing": "missing (passed at baseline, not reported now)",
    "still_failing": "still failing",
    "added_tests": "tests added or changed",
    "added_tests_fail_on_base": "added tests fail on the original code",
    "added_tests_note": "about the added tests",
    "flaky": "flaky (outcome changed between two runs)",
    "timed_out_tests": "timed out",
    "edited_targets": "target tests the change edited",
}
ALARMING = {"regressions", "missing", "still_failing", "edited_targets", "timed_out_tests"}


# --- generic values --------------------------------------------------------------------------------------


def _label(key: str, labels: Mapping[str, str]) -> str:
    return labels.get(key) or key.replace("_", " ")


def _is_counts(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in COUNT_KEYS)


def counts_text(brief: Mapping[str, Any]) -> str:
    return ", ".join(f"{as_int(brief.get(k))} {'errors' if k == 'error' else k}" for k in COUNT_KEYS)


def render_value(value: Any, budget: Budget, depth: int = 0, labels: Mapping[str, str] | None = None) -> Html:
    """Any JSON value, readably: None as a dash, lists of strings as lists of ids, objects key by key."""
    if value is None:
        return el("span", "–", cls="note")
    if isinstance(value, bool):
        return esc("yes" if value else "no")
    if isinstance(value, int | float):
        return esc(f"{value:,}" if isinstance(value, int) else f"{value:g}")
    if isinstance(value, str):
        if "\n" in value or len(value) > 300:
            return fold(value, budget, cls="text")
        return esc(value)
    if depth >= MAX_DEPTH:
        return fold(_json(value), budget, cls="text")
    if isinstance(value, list):
        if not value:
            return el("span", "none", cls="note")
        items = [el("li", render_value(v, budget, depth + 1)) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            items.append(el("li", f"… and {len(value) - MAX_LIST_ITEMS:,} more", cls="note"))
        return el("ul", Html("".join(items)), cls="ids")
    if isinstance(value, dict):
        if _is_counts(value):
            failing = value.get("failing")
            extra = render_value(failing, budget, depth + 1) if isinstance(failing, list) and failing else ""
            return Html(esc(counts_text(value)) + extra)
        rows = []
        for key, item in list(value.items())[:MAX_LIST_ITEMS]:
            rows.append(
                el("dt", _label(str(key), labels or {})) + el("dd", render_value(item, budget, depth + 1))
            )
        return el("dl", Html("".join(rows)), cls="kv")
    return esc(str(value))


def _json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (ValueError, RecursionError, TypeError):
        return "(a value too deeply nested to show)"


# --- sections --------------------------------------------------------------------------------------------


def _verdict(result: Mapping[str, Any]) -> Html:
    status = as_str(result.get("status")) or "unknown"
    known = status if status in ("fixed", "not_fixed", "error") else "unknown"
    words = {"fixed": "FIXED", "not_fixed": "NOT FIXED", "error": "ERROR"}.get(known, "NO VERDICT")
    return el(
        "div",
        words,
        el("span", as_str(result.get("reason")) or "no reason recorded", cls="reason"),
        cls=f"verdict {known}",
        id="verdict",
    )


def _facts(view: RunView) -> Html:
    start, result = view.start, view.result
    tokens = as_dict(result.get("tokens"))
    cost = as_float(result.get("cost_usd"))
    phases = as_dict(result.get("phases"))
    rows: list[tuple[str, str]] = [
        ("run", as_str(result.get("run_id")) or as_str(start.get("run_id"))),
        ("model", as_str(start.get("model"))),
        ("branch", as_str(result.get("branch")) or "(none made)"),
        ("base commit", as_str(result.get("base")) or as_str(start.get("base"))),
        ("commit", as_str(result.get("commit"))),
        ("test command", as_str(start.get("test_cmd"))),
        ("sandbox", as_str(start.get("sandbox"))),
        (
            "steps",
            f"{len(view.steps)}"
            + (f" ({', '.join(f'{k} {as_int(v)}' for k, v in phases.items())})" if phases else ""),
        ),
        (
            "tokens",
            f"{sum(as_int(v) for v in tokens.values()):,} ("
            + ", ".join(f"{k.replace('_', ' ')} {as_int(v):,}" for k, v in tokens.items())
            + ")"
            if tokens
            else "",
        ),
        ("cost", "unknown" if cost is None else f"${cost:.4f}"),
        ("prices from", as_str(result.get("price_source"))),
        (
            "duration",
            f"{as_float(result.get('duration_s')) or 0:.1f} s, of which model {as_float(result.get('model_latency_s')) or 0:.1f} s",
        ),
        ("finish refused by the gate", f"{view.refusals} time(s)" if view.refusals else "never"),
    ]
    body = "".join(el("tr", el("td", k), el("td", v)) for k, v in rows if v)
    return el("table", Html(body), cls="meta")


def _test_row(label: str, brief: Mapping[str, Any] | None) -> Html:
    if not brief:
        return el("tr", el("td", label), el("td", "not run", colspan="6", cls="note"))
    cells = [el("td", as_int(brief.get(k)), cls="num") for k in COUNT_KEYS]
    cells.append(el("td", "yes" if brief.get("timed_out") is True else "no"))
    exit_code = brief.get("exit_code")
    cells.append(
        el(
            "td",
            exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else "–",
            cls="num",
        )
    )
    return el("tr", el("td", label), *cells)


def _tests(view: RunView, budget: Budget) -> Html:
    result = view.result
    verification = as_dict(result.get("verification"))
    baseline = as_dict(verification.get("baseline")) or as_dict(result.get("tests_before"))
    if not baseline and view.baseline:
        outcomes = as_dict(view.baseline.get("outcomes"))
        baseline = {k: sum(1 for v in outcomes.values() if v == k) for k in COUNT_KEYS}
        baseline.update(timed_out=view.baseline.get("timed_out"), exit_code=view.baseline.get("exit_code"))
    final = as_dict(verification.get("final")) or as_dict(result.get("tests_after"))
    header = el(
        "tr",
        *(el("th", h) for h in ("run", "passed", "failed", "errors", "skipped", "timed out", "exit code")),
    )
    rows = [
        _test_row("baseline (before any change)", baseline),
        _test_row("final (the harness's own run)", final),
    ]
    if as_dict(verification.get("change_tests")):
        rows.append(_test_row("the change's own test files", as_dict(verification.get("change_tests"))))
    parts = [el("table", header, *rows)]
    command = as_str(view.baseline.get("command")) or as_str(view.start.get("test_cmd"))
    if command:
        parts.append(el("p", "Test command: ", el("code", command), cls="note"))
    for label, brief in (("Failing at baseline", baseline), ("Failing in the final run", final)):
        failing = brief.get("failing")
        if isinstance(failing, list) and failing:
            parts.append(el("h3", label))
            parts.append(render_value([t for t in failing if isinstance(t, str)], budget))
    messages = as_dict(view.baseline.get("messages"))
    if messages:
        items = [el("h3", "Why the baseline tests failed")]
        for test_id, message in list(messages.items())[:MAX_LIST_ITEMS]:
            items.append(el("p", el("code", test_id)))
            items.append(fold(as_str(message), budget))
        parts.append(el("details", el("summary", f"{len(messages)} failure message(s) at baseline"), *items))
    if view.baseline_flaky:
        parts.append(el("p", "Flaky at baseline: ", ", ".join(view.baseline_flaky), cls="note"))
    return Html("".join(parts))


def _verification(result: Mapping[str, Any], budget: Budget) -> Html:
    block = result.get("verification")
    if not isinstance(block, dict) or not block:
        return el("p", "No verification: the harness did not judge this run.", cls="note")
    rows = []
    for key, value in block.items():
        label = _label(str(key), VERIFICATION_LABELS)
        alarm = key in ALARMING and isinstance(value, list) and value
        term = el("dt", label, Html(" ") + el("span", "!", cls="badge bad") if alarm else None)
        rows.append(term + el("dd", render_value(value, budget, 1)))
    return el("dl", Html("".join(rows)), cls="kv")


def _report(result: Mapping[str, Any], budget: Budget) -> Html:
    report = result.get("report")
    if not isinstance(report, dict) or not report:
        return el(
            "p", "The model handed in no report (it did not call finish, or finish was refused).", cls="note"
        )
    order = [k for k, _ in SECTIONS if k in report] + [k for k in report if k not in dict(SECTIONS)]
    labels = dict(SECTIONS)
    return el(
        "dl",
        Html(
            "".join(
                el("dt", _label(str(k), labels)) + el("dd", render_value(report[k], budget, 1)) for k in order
            )
        ),
        cls="kv",
    )


def _points(steps: list[Step]) -> list[StepPoint]:
    return [StepPoint(s.number, s.usage.as_dict(), s.cache_share, s.cost_usd) for s in steps]


def _timeline(steps: list[Step]) -> Html:
    legend = el(
        "p",
        *(el("span", p, cls=f"phase-{p}") for p in ("read", "contract", "implement", "verify")),
        cls="legend",
    )
    cells = [
        el(
            "a",
            str(s.number),
            href=f"#step-{s.number}",
            cls=f"phase-{s.phase}" + (" refused" if s.refusals else ""),
            title=f"step {s.number}: {s.phase}" + (", finish refused" if s.refusals else ""),
        )
        for s in steps
    ]
    return Html(legend + el("nav", Html("".join(cells)), cls="timeline"))


def _tool_input(call: ToolCall, budget: Budget) -> Html:
    params = call.input
    if not isinstance(params, dict):
        return fold(_json(params), budget, cls="text") if params is not None else Html("")
    if call.name == "bash" and isinstance(params.get("command"), str):
        rest = {k: v for k, v in params.items() if k != "command"}
        return Html(
            fold(params["command"], budget, cls="cmd") + (render_value(rest, budget, 1) if rest else "")
        )
    if call.name == "str_replace_based_edit_tool":
        head = " ".join(as_str(params.get(k)) for k in ("command", "path") if params.get(k))
        rest = {k: v for k, v in params.items() if k not in ("command", "path")}
        return Html(el("code", head) + (render_value(rest, budget, 1) if rest else ""))
    return render_value(params, budget, 1) if params else Html("")


def _call(call: ToolCall, budget: Budget) -> Html:
    badges = []
    if call.refused:
        badges.append(el("span", "finish refused by the gate", cls="badge bad"))
    elif call.is_error:
        badges.append(el("span", "error", cls="badge warn"))
    if call.duration_s is not None:
        badges.append(el("span", f"{call.duration_s:.2f} s", cls="note"))
    head = el("div", el("span", call.name or "(unnamed tool)", cls="name"), " ", *badges)
    if call.result is None:
        result = el("p", "(no result recorded)", cls="note")
    else:
        result = fold(call.result, budget, cls="out result")
    classes = "call" + (" error" if call.is_error else "") + (" refused" if call.refused else "")
    return el("div", head, _tool_input(call, budget), result, cls=classes)


def _step(step: Step, budget: Budget) -> Html:
    share = "" if step.cache_share is None else f" · cache {100 * step.cache_share:.0f}%"
    cost = "" if step.cost_usd is None else f" · ${step.cost_usd:.4f}"
    latency = "" if not step.latency_s else f" · {step.latency_s:.1f} s"
    retries = f" · {step.attempts} attempts" if step.attempts > 1 else ""
    head = el(
        "div",
        el("span", f"Step {step.number}", cls="n"),
        el("span", step.phase, cls=f"tag phase-{step.phase}"),
        el("span", f"{step.tokens:,} tokens{share}{cost}{latency}{retries}", cls="stats"),
        el("span", "finish refused", cls="badge bad") if step.refusals else None,
        cls="step-head",
    )
    parts = [head]
    parts += [fold(text, budget, cls="msg") for text in step.texts if text.strip()]
    parts += [el("p", "harness: ", note, cls="note") for note in step.notes]
    parts += [_call(call, budget) for call in step.calls]
    return el("section", *parts, cls=f"step {step.phase}", id=f"step-{step.number}")


def render_run_page(view: RunView) -> str:
    budget = Budget()
    result, start = view.result, view.start
    run_id = (as_str(result.get("run_id")) or as_str(start.get("run_id")))[:MAX_HEADING_CHARS]
    body: list[str] = [el("h1", "be-agent run" + (f" {run_id}" if run_id else "")), _verdict(result)]
    if view.problems:
        body.append(
            el(
                "div",
                el("strong", "This run's record is incomplete:"),
                el("ul", *(el("li", p) for p in view.problems)),
                cls="problems",
            )
        )
    body.append(el("h2", "Task"))
    if start.get("task_untrusted") is True:
        body.append(
            el(
                "p",
                "From an external source (an issue or a CI log): the model was told it is untrusted.",
                cls="note",
            )
        )
    body.append(fold(view.task, budget, cls="text") if view.task else el("p", "(unknown)", cls="note"))
    body += [el("h2", "Run"), _facts(view)]
    body += [el("h2", "Tests"), _tests(view, budget)]
    body += [el("h2", "Verification (the harness's own runs)"), _verification(result, budget)]
    body += [el("h2", "The agent's report"), _report(result, budget)]
    body += [el("h2", "Tokens, cache share and cost per step"), step_chart(_points(view.steps))]
    body += [el("h2", f"Timeline: {len(view.steps)} step(s)", id="timeline"), _timeline(view.steps)]
    if view.notes:
        body += [el("p", "harness: ", note, cls="note") for note in view.notes]
    body += [_step(step, budget) for step in view.steps]
    body += [el("h2", "The change", id="change"), render_diff(view.diff, budget)]
    body.append(
        el(
            "p",
            "Written by be-agent view. This page runs no scripts and loads nothing from anywhere.",
            cls="note",
        )
    )
    status = as_str(result.get("status"))[:MAX_HEADING_CHARS] or "no verdict"
    title = f"be-agent run {run_id}: {status}"
    return page(title, Html("".join(body)))


# --- files -----------------------------------------------------------------------------------------------


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old page or the new one, never half of one."""
    handle, tmp = tempfile.mkstemp(prefix=".page-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_run_page(run_dir: Path, result: Mapping[str, Any] | None = None) -> str:
    """Write `run_dir/run.html` at the end of a run; returns its path, or "" when it could not be written.

    Never raises: a run's outcome must not depend on its page (a warning on stderr says what happened)."""
    target = run_dir / PAGE_NAME
    try:
        view = load_run(run_dir, result=dict(result) if result is not None else None)
        write_atomically(target, render_run_page(view))
    except Exception as exc:  # the page is a convenience; the run's result stands without it
        from agent import console

        console.warn(f"could not write the run page {target}: {type(exc).__name__}: {exc}")
        return ""
    return str(target)


def default_page_path(target: Path) -> Path:
    if target.is_dir():
        return target / PAGE_NAME
    return target.with_name(PAGE_NAME if target.name == "trajectory.jsonl" else target.stem + ".html")


def write_run_view(target: Path, *, out: Path | None = None, open_page: bool = False) -> tuple[Path, bool]:
    """`be-agent view`: write the page of the run at `target` (a run directory or a trajectory) and, with
    `open_page`, open it in a browser. Returns the page's path and whether a browser opened it; prints
    nothing. Bad input is a UsageError (exit 2)."""
    if not target.exists():
        raise UsageError(f"no such run directory or trajectory: {target}")
    try:
        view = load_run(target)
    except FileNotFoundError as exc:
        raise UsageError(f"not a be-agent run: {exc}") from None
    path = out if out is not None else default_page_path(target)
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory; give a file name")
    try:
        write_atomically(path, render_run_page(view))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path, bool(open_page and webbrowser.open(path.resolve().as_uri()))


# --- where a workflow put the page -----------------------------------------------------------------------

ARTIFACT_ENV = "BE_AGENT_PAGE_ARTIFACT"  # set by the workflow templates to the artifact's name
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_SERVER = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def page_artifact_note(env: Mapping[str, str]) -> str:
    """In a workflow that uploads the run page as an artifact and names it in BE_AGENT_PAGE_ARTIFACT, one
    Markdown phrase saying where the page is (with a link to the workflow run when Actions' variables are
    well-formed); "" anywhere else. Every part is checked against a strict pattern: nothing else gets in."""
    name = env.get(ARTIFACT_ENV, "")
    if not _ARTIFACT_NAME.fullmatch(name):
        return ""
    note = f"run page: artifact `{name}`"
    server, repository, run_id = (
        env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if (
        _SERVER.fullmatch(server)
        and _REPOSITORY.fullmatch(repository)
        and run_id.isascii()
        and run_id.isdigit()
    ):
        note += f" of [workflow run {run_id}]({server}/{repository}/actions/runs/{run_id})"
    return note
