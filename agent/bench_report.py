"""OUT/report.md: the resolve rate (per run, with mean and spread over runs), cost and time, and a line per
task and run saying what happened and whose failure it was.

The rate counts every (task, run) of the task file: an infrastructure failure counts as not resolved, and
the report says how many there are and how to rerun them, so a rate with such failures in it is never
mistaken for the model's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from agent.bench_results import run_rates


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cell(value: object, limit: int = 160) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")[:limit]


def rate_line(rows: Sequence[dict[str, Any]]) -> str:
    """ "resolve rate 41.7% over 3 runs (sd 4.2 points; runs: 41.7%, 37.5%, 45.8%)", or the one run's rate."""
    rates = run_rates(rows)
    if len(rates.rates) <= 1:
        return f"resolve rate {100 * rates.mean:.1f}%"
    each = ", ".join(f"{100 * r:.1f}%" for r in rates.rates)
    sd = rates.stdev or 0.0
    return (
        f"resolve rate {100 * rates.mean:.1f}% mean over {len(rates.rates)} runs "
        f"(sd {100 * sd:.1f} points, min {100 * min(rates.rates):.1f}%, max {100 * max(rates.rates):.1f}%; "
        f"runs: {each})"
    )


def render_report(rows: Sequence[dict[str, Any]], *, title: str, judge: str = "") -> str:
    total = len(rows)
    resolved = sum(1 for r in rows if r.get("resolved"))
    infra = [r for r in rows if r.get("failure_kind") == "infra"]
    model = sum(1 for r in rows if r.get("failure_kind") == "model")
    runs = sorted({int(r.get("run", 1)) for r in rows})
    costs = [r["cost_usd"] for r in rows if r.get("cost_usd") is not None]
    harness = [r["harness_s"] for r in rows if r.get("harness_s") is not None]
    walls = [r["wall_s"] for r in rows if r.get("wall_s") is not None]
    rates = run_rates(rows)
    lines = [
        f"# {title}",
        "",
        "| results | runs | resolved | resolve rate | sd over runs | model failures | infra failures "
        "| total cost | cost per result | tokens | median wall s | median harness s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {total} | {len(runs)} | {resolved} | {100 * rates.mean:.1f}% | "
        f"{'-' if rates.stdev is None else f'{100 * rates.stdev:.1f} points'} | {model} | {len(infra)} | "
        f"{_money(sum(costs)) if costs else '-'} | {_money(sum(costs) / len(costs)) if costs else '-'} | "
        f"{sum(r.get('tokens_total', 0) for r in rows)} | "
        f"{_seconds(statistics.median(walls)) if walls else '-'} | "
        f"{_seconds(statistics.median(harness)) if harness else '-'} |",
        "",
        rate_line(rows) + ".",
        "",
    ]
    if infra:
        codes = sorted({str(r.get("exit_code")) for r in infra})
        lines += [
            f"**{len(infra)} infrastructure failure{'s' if len(infra) != 1 else ''}** (exit codes "
            f"{', '.join(codes)}): the task never got a fair judgement, and the rate counts it as not "
            "resolved. Rerun only those with `--retry infra`.",
            "",
        ]
    lines += [
        f"Judge: {judge or 'unknown'}. "
        f"Prices: {', '.join(sorted({str(r['price_source']) for r in rows if r.get('price_source')})) or 'unknown'}. "
        "Harness time is wall time minus model latency. A task is resolved only when every FAIL_TO_PASS and",
        "every PASS_TO_PASS test passes on a fresh checkout with the patch and the task's test_patch applied.",
        "A patch that changes test files, conftests or pytest configuration is marked: review it before",
        "trusting its resolve. A model failure is a judged patch that does not resolve the task; an",
        "infrastructure failure is one that could not be judged fairly (clone, setup, sandbox, model API).",
        "",
        "| instance | run | attempt | resolved | failure kind | steps | tokens | cost | wall s | harness s | failure |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda row: (row["instance_id"], int(row.get("run", 1)))):
        failure = _cell(r.get("failure", ""))
        if r.get("test_infrastructure"):
            touched = _cell(", ".join(r["test_infrastructure"][:5]))
            failure = f"{failure} (patch touches test infrastructure: {touched})".strip()
        kind = str(r.get("failure_kind") or "-")
        if kind == "infra" and r.get("exit_code") is not None:
            kind = f"infra (exit {r['exit_code']})"
        lines.append(
            f"| {r['instance_id']} | {r.get('run', 1)} | {r.get('attempt', 1)} | "
            f"{'yes' if r.get('resolved') else 'no'} | {kind} | {r.get('steps', 0)} | "
            f"{r.get('tokens_total', 0)} | {_money(r.get('cost_usd'))} | {_seconds(r.get('wall_s'))} | "
            f"{_seconds(r.get('harness_s'))} | {failure} |"
        )
    return "\n".join(lines) + "\n"
