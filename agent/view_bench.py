"""`report.html` of a bench: the resolve rate, cost and harness time per task (inline SVG), a table of the
tasks, and per task a link to its run page (`run.html` in the run's directory, when an agent ran) and to a
page of what the judge saw (the patch per file and each test's outcome, `pages/<task>.html`).

Same rules as the run page (agent.view_html): one self-contained file, everything escaped, no script,
nothing loaded. Links are relative paths inside the bench's output directory (so a downloaded artifact
works), or `file://` for a run page elsewhere; a path that is neither is not made a link.
"""

from __future__ import annotations

import hashlib
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agent.bench_report import rate_line
from agent.view import PAGE_NAME, write_atomically
from agent.view_diff import render_diff
from agent.view_html import Budget, Html, el, link, page
from agent.view_model import MAX_DIFF_BYTES, as_dict, as_float, as_int, as_str, read_bounded
from agent.view_svg import TaskPoint, rate_bar, task_chart

REPORT_NAME = "report.html"
MAX_TESTS_SHOWN = 2_000


def page_file_name(instance_id: str) -> str:
    """A file name for a task id that cannot leave `pages/` nor collide with another task's."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", instance_id).lstrip(".")[:80] or "task"
    if safe != instance_id:
        safe += "-" + hashlib.sha256(instance_id.encode()).hexdigest()[:8]
    return safe + ".html"


def run_label(instance_id: str, run: int) -> str:
    """A file-name-safe name for one (task, run): the task's for run 1, `<task>.run<k>` after it."""
    name = page_file_name(instance_id).removesuffix(".html")
    return name if run == 1 else f"{name}.run{run}"


def _href(target: Path, page_dir: Path, out: Path) -> str:
    """How a page in `page_dir` links to `target`: a relative path when both are inside the bench's output
    directory `out` (a downloaded artifact keeps working), else a file:// URI."""
    target = target.resolve()
    if not target.is_relative_to(out.resolve()):
        return target.as_uri()
    return quote(Path(os.path.relpath(target, page_dir.resolve())).as_posix())


def run_page_of(row: Mapping[str, Any]) -> Path | None:
    run_dir = as_str(row.get("run_dir"))
    page_path = Path(run_dir) / PAGE_NAME if run_dir else None
    return page_path if page_path is not None and page_path.is_file() else None


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_task_page(row: Mapping[str, Any], patch: str | None, run_href: str | None) -> str:
    """What the judge saw for one task: its verdict, each test's outcome and the patch."""
    budget = Budget()
    instance = as_str(row.get("instance_id"))
    resolved = row.get("resolved") is True
    body = [
        el("p", link("../" + REPORT_NAME, "← the bench report")),
        el("h1", "bench task ", el("code", instance)),
        el(
            "div",
            "RESOLVED" if resolved else "NOT RESOLVED",
            el("span", as_str(row.get("failure")) or "every listed test passed", cls="reason"),
            cls="verdict " + ("fixed" if resolved else "not_fixed"),
        ),
    ]
    if run_href:
        body.append(el("p", link(run_href, "the agent's run page"), " (every step the agent took)"))
    elif as_str(row.get("agent_status")) in ("gold", "empty"):
        body.append(
            el(
                "p",
                f"No agent ran: the patch is the task's {as_str(row.get('agent_status'))} patch.",
                cls="note",
            )
        )
    reason = as_str(row.get("agent_reason"))
    if reason:
        body.append(el("p", "The agent's own verdict: ", as_str(row.get("agent_status")), ": ", reason))
    tests = as_dict(row.get("tests"))
    body.append(el("h2", f"Tests the judge ran: {len(tests)}"))
    if tests:
        rows = [
            el("tr", el("td", el("code", test)), el("td", as_str(outcome) or "?", cls="num"))
            for test, outcome in list(tests.items())[:MAX_TESTS_SHOWN]
        ]
        body.append(el("table", el("tr", el("th", "test"), el("th", "outcome")), *rows))
    body += [el("h2", "The patch"), render_diff(patch, budget)]
    return page(f"bench task {instance}: {'resolved' if resolved else 'not resolved'}", Html("".join(body)))


def render_bench_page(
    rows: Sequence[Mapping[str, Any]], *, title: str, links: Mapping[str, tuple[str | None, str | None]]
) -> str:
    """`links` maps a (task, run) label (`run_label`) to (its run page href, its judge page href)."""
    ordered = sorted(rows, key=lambda r: (as_str(r.get("instance_id")), as_int(r.get("run")) or 1))
    several_runs = len({as_int(r.get("run")) or 1 for r in ordered}) > 1
    infra = sum(1 for r in ordered if r.get("failure_kind") == "infra")
    total = len(ordered)
    resolved = sum(1 for r in ordered if r.get("resolved") is True)
    costs = [c for r in ordered if (c := as_float(r.get("cost_usd"))) is not None]
    harness = [h for r in ordered if (h := as_float(r.get("harness_s"))) is not None]
    walls = [w for r in ordered if (w := as_float(r.get("wall_s"))) is not None]
    facts = [
        ("tasks", str(total)),
        ("resolved", f"{resolved} ({100 * resolved / total if total else 0:.1f}%)"),
        ("resolve rate", rate_line([dict(r) for r in ordered]).removeprefix("resolve rate ")),
        (
            "infrastructure failures",
            f"{infra} (counted as not resolved; rerun with --retry infra)" if infra else "0",
        ),
        ("total cost", _money(sum(costs)) if costs else "-"),
        ("cost per task", _money(sum(costs) / len(costs)) if costs else "-"),
        (
            "prices from",
            ", ".join(sorted({as_str(r.get("price_source")) for r in ordered} - {""})) or "unknown",
        ),
        ("tokens", f"{sum(as_int(r.get('tokens_total')) for r in ordered):,}"),
        ("median wall time", f"{_secs(statistics.median(walls))} s" if walls else "-"),
        ("median harness time", f"{_secs(statistics.median(harness))} s" if harness else "-"),
    ]
    header = ("task", "run", "resolved", "steps", "tokens", "cost", "wall s", "harness s", "failure", "pages")
    table_rows = []
    for r in ordered:
        instance = as_str(r.get("instance_id"))
        run = as_int(r.get("run")) or 1
        run_href, judge_href = links.get(run_label(instance, run), (None, None))
        kind = as_str(r.get("failure_kind"))
        pages = [
            link(run_href, "run") if run_href else None,
            " " if run_href else None,
            link(judge_href, "judge") if judge_href else None,
        ]
        ok = r.get("resolved") is True
        table_rows.append(
            el(
                "tr",
                el("td", el("code", instance)),
                el("td", run, cls="num"),
                el("td", el("span", "yes" if ok else "no", cls="badge " + ("good" if ok else "bad"))),
                el("td", as_int(r.get("steps")), cls="num"),
                el("td", f"{as_int(r.get('tokens_total')):,}", cls="num"),
                el("td", _money(as_float(r.get("cost_usd"))), cls="num"),
                el("td", _secs(as_float(r.get("wall_s"))), cls="num"),
                el("td", _secs(as_float(r.get("harness_s"))), cls="num"),
                el("td", (f"[{kind}] " if kind else "") + as_str(r.get("failure"))[:300]),
                el("td", *pages),
            )
        )
    points = [
        TaskPoint(
            as_str(r.get("instance_id")) + (f" #{as_int(r.get('run')) or 1}" if several_runs else ""),
            r.get("resolved") is True,
            as_float(r.get("cost_usd")),
            as_float(r.get("harness_s")),
            as_float(r.get("wall_s")),
        )
        for r in ordered
    ]
    body = [
        el("h1", title),
        el("h2", "Resolve rate"),
        rate_bar(resolved, total),
        el("table", *(el("tr", el("td", k), el("td", v)) for k, v in facts), cls="meta"),
        el(
            "p",
            "Harness time is wall time minus model latency. A task is resolved only when every FAIL_TO_PASS and "
            "every PASS_TO_PASS test passes on a fresh checkout with the patch and the task's test_patch applied.",
            cls="note",
        ),
        el("h2", "Cost and time per task"),
        task_chart(points),
        el("h2", "Tasks"),
        el("table", el("tr", *(el("th", h) for h in header)), *table_rows),
        el(
            "p",
            "Written by be-agent bench. This page runs no scripts and loads nothing from anywhere.",
            cls="note",
        ),
    ]
    return page(title, Html("".join(body)))


def save_bench_pages(out: Path, rows: Sequence[Mapping[str, Any]], *, title: str) -> Path:
    """Write OUT/report.html and OUT/pages/<task>.html; returns the report's path."""
    pages_dir = out / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    links: dict[str, tuple[str | None, str | None]] = {}
    for row in rows:
        label = run_label(as_str(row.get("instance_id")), as_int(row.get("run")) or 1)
        run_page = run_page_of(row)
        patch_file = out / (as_str(row.get("patch_file")) or f"patches/{label}.diff")
        inside = patch_file.resolve().is_relative_to((out / "patches").resolve())
        patch = read_bounded(patch_file, MAX_DIFF_BYTES, "the patch", []) if inside else None
        task_page = pages_dir / f"{label}.html"
        run_href = _href(run_page, pages_dir, out) if run_page else None
        write_atomically(task_page, render_task_page(row, patch, run_href))
        links[label] = (_href(run_page, out, out) if run_page else None, _href(task_page, out, out))
    report = out / REPORT_NAME
    write_atomically(report, render_bench_page(rows, title=title, links=links))
    return report


def save_bench_report(out: Path, rows: Sequence[Mapping[str, Any]], *, title: str) -> Path | None:
    """save_bench_pages for the end of a bench: never raises (report.md and results.jsonl stand without the
    page, and an interruption must surface as itself); a warning on stderr says what went wrong."""
    try:
        return save_bench_pages(out, rows, title=title)
    except Exception as exc:  # the page is a convenience
        from agent import console

        console.warn(f"could not write {out / REPORT_NAME}: {type(exc).__name__}: {exc}")
        return None
