"""Small inline SVG charts: per-step tokens, cache share and cost for a run; cost and harness time per task
for a bench. No script, no style attribute (the page's CSP allows only its stylesheet): colours are SVG
presentation attributes from this module's constants, numbers are computed here, and every label that comes
from outside (a task id) goes through `esc`. Each column carries a <title>, which browsers show on hover."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.view_html import Html, el

COLOURS = {
    "cache_read": "#34d399",
    "cache_write": "#fbbf24",
    "input": "#60a5fa",
    "output": "#a78bfa",
    "cost": "#f472b6",
    "share": "#047857",
    "good": "#059669",
    "bad": "#dc2626",
    "axis": "#9ca3af",
}
TOKEN_KINDS = ("cache_read", "cache_write", "input", "output")


@dataclass
class StepPoint:
    number: int
    tokens: dict[str, int]  # by TOKEN_KINDS
    cache_share: float | None
    cost_usd: float | None


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _rect(
    x: float, y: float, w: float, h: float, fill: str, title: str | None = None, opacity: str | None = None
) -> Html:
    children = [el("title", title)] if title else []
    return el(
        "rect",
        *children,
        x=_n(x),
        y=_n(y),
        width=_n(w),
        height=_n(max(h, 0)),
        fill=fill,
        fill_opacity=opacity,
    )


def _text(x: float, y: float, text: str, anchor: str = "start") -> Html:
    return el("text", text, x=_n(x), y=_n(y), text_anchor=anchor)


def _svg(width: float, height: float, *children: Html, label: str) -> Html:
    return el(
        "svg",
        *children,
        xmlns="http://www.w3.org/2000/svg",
        width=_n(width),
        height=_n(height),
        viewbox=f"0 0 {_n(width)} {_n(height)}",
        role="img",
        aria_label=label,
    )


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> Html:
    parts = []
    for label, colour in items:
        parts.append(_rect(x, y - 8, 10, 10, colour))
        parts.append(_text(x + 14, y, label))
        x += 18 + 6 * len(label)
    return Html("".join(parts))


def step_chart(points: Sequence[StepPoint]) -> Html:
    """Three bands over the steps: stacked token bars, the cache share (dots), the cost (bars)."""
    if not points:
        return el("p", "No model steps to chart.", cls="note")
    left, top = 64, 36
    column = min(max(720 // len(points), 12), 44)  # a few steps get wide columns, many get narrow ones
    tokens_h, share_h, cost_h, gap = 110, 44, 54, 26
    width = max(left + column * len(points) + 10, 560)  # room for the legend
    max_tokens = max(max(sum(p.tokens.values()) for p in points), 1)
    costs = [p.cost_usd for p in points if p.cost_usd is not None]
    max_cost = max(costs, default=0.0) or 1.0
    share_top = top + tokens_h + gap
    cost_top = share_top + share_h + gap
    height = cost_top + cost_h + 20
    parts: list[str] = [
        _legend(
            left, 12, [(k.replace("_", " "), COLOURS[k]) for k in TOKEN_KINDS] + [("cost", COLOURS["cost"])]
        ),
        _text(left, top - 6, "tokens"),
        _text(left - 6, top + 8, f"{max_tokens:,}", "end"),
        _text(left - 6, top + tokens_h, "0", "end"),
        _text(left, share_top - 6, "cache share of the prompt"),
        _text(left - 6, share_top + 8, "100%", "end"),
        _text(left - 6, share_top + share_h, "0%", "end"),
        _text(left, cost_top - 6, "cost" if costs else "cost (unknown for this model)"),
        _text(left - 6, cost_top + 8, f"${max_cost:.4f}" if costs else "", "end"),
        _text(left - 6, cost_top + cost_h, "$0", "end"),
    ]
    for band_top, band_h in ((top, tokens_h), (share_top, share_h), (cost_top, cost_h)):
        parts.append(_rect(left, band_top + band_h, column * len(points), 1, COLOURS["axis"]))
    for i, p in enumerate(points):
        x = left + i * column + 2
        total = sum(p.tokens.values())
        share = "-" if p.cache_share is None else f"{100 * p.cache_share:.0f}%"
        cost = "unknown" if p.cost_usd is None else f"${p.cost_usd:.4f}"
        title = (
            f"step {p.number}: {total:,} tokens ("
            + ", ".join(f"{k.replace('_', ' ')} {p.tokens.get(k, 0):,}" for k in TOKEN_KINDS)
            + f"); cache share {share}; cost {cost}"
        )
        bar: list[str] = [
            _rect(x - 2, top, column, cost_top + cost_h - top, "#ffffff", title, "0")
        ]  # hover area
        y = float(top + tokens_h)
        for kind in TOKEN_KINDS:
            h = tokens_h * p.tokens.get(kind, 0) / max_tokens
            y -= h
            bar.append(_rect(x, y, column - 4, h, COLOURS[kind], title))
        if p.cache_share is not None:
            cy = share_top + share_h * (1 - p.cache_share)
            bar.append(
                el(
                    "circle",
                    el("title", title),
                    cx=_n(x + column / 2 - 2),
                    cy=_n(cy),
                    r="3.5",
                    fill=COLOURS["share"],
                )
            )
        if p.cost_usd is not None:
            h = cost_h * p.cost_usd / max_cost
            bar.append(_rect(x, cost_top + cost_h - h, column - 4, h, COLOURS["cost"], title))
        if len(points) <= 40 or p.number % 5 == 0:
            bar.append(_text(x + column / 2 - 2, height - 6, str(p.number), "middle"))
        parts.append(el("a", Html("".join(bar)), href=f"#step-{p.number}"))
    return el(
        "div",
        _svg(width, height, *map(Html, parts), label="tokens, cache share and cost per step"),
        cls="chart",
    )


@dataclass
class TaskPoint:
    name: str
    resolved: bool
    cost_usd: float | None
    harness_s: float | None
    wall_s: float | None


def _task_value(task: TaskPoint, attr: str) -> float | None:
    value = getattr(task, attr)
    return value if isinstance(value, float | int) else None


def _shown(attr: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if attr == "cost_usd" else f"{value:.1f} s"


def task_chart(tasks: Sequence[TaskPoint]) -> Html:
    """One row per task: its name, then bars for cost, harness time and wall time, green when resolved and
    red when not (harness time is unknown when no agent ran: a gold or empty patch)."""
    if not tasks:
        return el("p", "No tasks to chart.", cls="note")
    name_w, bar_w, label_w, row_h, top = 230, 200, 80, 20, 34
    columns = (("cost (USD)", "cost_usd"), ("harness time (s)", "harness_s"), ("wall time (s)", "wall_s"))
    width = name_w + len(columns) * (bar_w + label_w)
    height = top + row_h * len(tasks) + 8
    parts: list[str] = [_legend(8, 12, [("resolved", COLOURS["good"]), ("not resolved", COLOURS["bad"])])]
    for c, (label, attr) in enumerate(columns):
        x0 = name_w + c * (bar_w + label_w)
        values = [v for t in tasks if (v := _task_value(t, attr)) is not None]
        top_value = max(values, default=0.0) or 1.0
        parts.append(_text(x0, 28, label if values else f"{label}: unknown"))
        for i, t in enumerate(tasks):
            y = top + i * row_h
            value = _task_value(t, attr)
            w = 0.0 if value is None else bar_w * max(value, 0.0) / top_value
            colour = COLOURS["good"] if t.resolved else COLOURS["bad"]
            parts.append(
                _rect(
                    x0,
                    y + 3,
                    w,
                    row_h - 6,
                    colour,
                    f"{t.name}: {label} {_shown(attr, value)}",
                )
            )
            parts.append(_text(x0 + w + 4, y + 13, _shown(attr, value)))
    for i, t in enumerate(tasks):
        name = t.name if len(t.name) <= 38 else t.name[:37] + "…"
        title = f"{t.name}: {'resolved' if t.resolved else 'not resolved'}"
        parts.append(el("g", el("title", title), _text(name_w - 8, top + i * row_h + 13, name, "end")))
    return el(
        "div",
        _svg(width, height, *map(Html, parts), label="cost, harness time and wall time per task"),
        cls="chart",
    )


def rate_bar(resolved: int, total: int) -> Html:
    """The resolve rate as one bar split in two."""
    width, height = 420, 26
    share = resolved / total if total else 0.0
    good_w = width * share
    return _svg(
        width + 150,
        height,
        _rect(0, 0, good_w, height, COLOURS["good"], f"{resolved} resolved"),
        _rect(good_w, 0, width - good_w, height, COLOURS["bad"], f"{total - resolved} not resolved"),
        Html(_text(width + 8, 17, f"{100 * share:.1f}% ({resolved}/{total})")),
        label=(f"resolve rate {100 * share:.1f}%"),
    )
