"""HTML building blocks for be-agent's pages: markup is `Html`, everything else is text and gets escaped.

The rule a reader can check: a plain `str` never reaches a page unescaped. Only functions in agent/view*.py
make `Html`, and they make it from literal markup and `esc()`-ed text; `el()` escapes any child that is not
`Html` already. Text is also made visible before it is escaped: control characters, lone surrogates and
invisible or bidirectional formatting characters (which could make a line read differently from what it
is) are shown as `\\xNN` or `<U+NNNN>` marks.

A page is one self-contained file: one inline stylesheet allowed by its hash in a Content-Security-Policy
that forbids everything else (no scripts, no fetches, no images, no fonts, no frames, no forms); folding
uses <details>, so nothing needs a script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass


class Html(str):
    """Markup that is safe to put in a page as it is."""


_INVISIBLE = re.compile(
    "[\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff"
    "\uffa0\ufff9-\ufffb\U000e0000-\U000e0fff]"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def visible(text: str) -> str:
    """`text` with every character a reader could not see (or that reorders what they see) made visible."""
    text = _SURROGATE.sub("\ufffd", text.replace("\r\n", "\n"))
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def esc(text: object) -> Html:
    """Any value as escaped text (quotes too, so the result is safe inside an attribute as well)."""
    if isinstance(text, Html):
        return text
    return Html(html.escape(visible(str(text)), quote=True))


def join(parts: Iterable[str], sep: str = "") -> Html:
    return Html(esc(sep).join(esc(p) for p in parts))


_TAG = re.compile(r"[a-z][a-z0-9]*")
_ATTR = re.compile(r"[a-z][a-z0-9-]*")


def el(tag: str, *children: object, **attrs: object) -> Html:
    """`<tag attrs>children</tag>`; tag and attribute names are fixed strings from this package (checked),
    attribute values and children are escaped unless they are `Html`. `cls` is the class attribute;
    an attribute whose value is None or False is left out, True gives a bare attribute."""
    if not _TAG.fullmatch(tag):
        raise ValueError(f"bad tag name {tag!r}")
    parts = [tag]
    for name, value in attrs.items():
        name = "class" if name == "cls" else name.replace("_", "-")
        if not _ATTR.fullmatch(name) or name.startswith("on") or name == "style":
            raise ValueError(f"attribute {name!r} is not allowed")
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{esc(value)}"')
    inner = "".join(esc(c) for c in children if c is not None)
    return Html(f"<{' '.join(parts)}>{inner}</{tag}>")


_SAFE_HREF = re.compile(
    r"#[A-Za-z0-9_-]+|(?![A-Za-z][A-Za-z0-9+.-]*:)[A-Za-z0-9_./%-]+|file:///[A-Za-z0-9_./%~-]+"
)


def link(href: str, *children: object, **attrs: object) -> Html:
    """A link to an anchor in the page, a relative path or a local file: nothing else is ever a link
    (no `javascript:`, no `http:`); a href that is not one of those makes plain text."""
    if not _SAFE_HREF.fullmatch(href):
        return el("span", *children)
    return el("a", *children, href=href, **attrs)


# --- folding long text -----------------------------------------------------------------------------------


@dataclass
class Budget:
    """Characters a page may still spend on folded text, so a huge trajectory makes a bounded page."""

    chars: int = 12_000_000

    def take(self, text: str) -> str | None:
        if len(text) > self.chars:
            return None
        self.chars -= len(text)
        return text


HEAD_LINES, TAIL_LINES = 30, 12
HEAD_CHARS, TAIL_CHARS = 3_000, 1_500
MAX_FOLDED_CHARS = 200_000


def _cut_lines(text: str) -> tuple[str, str, str]:
    """Split long text into a visible head, a folded middle and a visible tail."""
    lines = text.split("\n")
    if len(lines) > HEAD_LINES + TAIL_LINES + 3:
        head, middle, tail = lines[:HEAD_LINES], lines[HEAD_LINES:-TAIL_LINES], lines[-TAIL_LINES:]
        return "\n".join(head), "\n".join(middle), "\n".join(tail)
    return text[:HEAD_CHARS], text[HEAD_CHARS:-TAIL_CHARS], text[-TAIL_CHARS:]


def fold(text: str, budget: Budget, *, cls: str = "out") -> Html:
    """Text in a <pre>; when long, its head and tail stay visible and the middle folds away."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS and text.count("\n") < HEAD_LINES + TAIL_LINES + 3:
        return el("pre", text, cls=cls)
    head, middle, tail = _cut_lines(text)
    lines = middle.count("\n") + 1
    shown = budget.take(middle[:MAX_FOLDED_CHARS])
    summary = f"{lines:,} more line(s), {len(middle):,} characters: show"
    if shown is None:
        inner = el("p", "(left out: this page reached its size limit)", cls="note")
    else:
        cut = len(middle) - len(shown)
        inner = Html(
            el("pre", shown, cls=cls) + (el("p", f"({cut:,} characters left out)", cls="note") if cut else "")
        )
    return Html(
        el("pre", head, cls=cls + " head")
        + el("details", el("summary", summary), inner, cls="fold")
        + el("pre", tail, cls=cls + " tail")
    )


# --- the page --------------------------------------------------------------------------------------------

STYLESHEET = """
:root { --read:#2563eb; --contract:#7c3aed; --implement:#d97706; --verify:#059669; --unknown:#6b7280;
  --bad:#dc2626; --good:#059669; --line:#d1d5db; --muted:#6b7280; --bg:#f9fafb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #111827;
  background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 64px; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 18px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 16px 0 6px; }
pre, code { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; padding: 6px 8px; background: var(--bg);
  border: 1px solid #e5e7eb; border-radius: 4px; }
pre.head { border-bottom-style: dashed; margin-bottom: 0; } pre.tail { border-top-style: dashed; margin-top: 0; }
details.fold > summary { cursor: pointer; color: var(--muted); font-size: 12px; padding: 2px 8px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { border: 1px solid var(--line); padding: 3px 8px;
  text-align: left; vertical-align: top; } th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 12px; margin: 2px 0; }
.verdict { font-size: 18px; font-weight: 700; padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.verdict.fixed { background: #d1fae5; color: #065f46; } .verdict.not_fixed { background: #fee2e2; color: #991b1b; }
.verdict.error, .verdict.unknown { background: #fef3c7; color: #92400e; }
.verdict .reason { font-weight: 400; font-size: 14px; display: block; margin-top: 4px; }
.problems { border: 1px solid #f59e0b; background: #fffbeb; padding: 6px 12px; border-radius: 6px; }
.meta td:first-child { color: var(--muted); }
.timeline { display: flex; flex-wrap: wrap; gap: 2px; margin: 8px 0; }
.timeline a { display: block; min-width: 26px; padding: 2px 4px; color: #fff; text-decoration: none;
  font-size: 11px; text-align: center; border-radius: 3px; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border-radius: 3px; color: #fff;
  font-size: 12px; }
.phase-read { background: var(--read); } .phase-contract { background: var(--contract); }
.phase-implement { background: var(--implement); } .phase-verify { background: var(--verify); }
.phase-unknown { background: var(--unknown); }
.timeline a.refused { outline: 3px solid var(--bad); outline-offset: 1px; }
section.step { border: 1px solid var(--line); border-left-width: 6px; border-radius: 4px; margin: 10px 0;
  padding: 4px 12px 8px; }
section.step.read { border-left-color: var(--read); } section.step.contract { border-left-color: var(--contract); }
section.step.implement { border-left-color: var(--implement); }
section.step.verify { border-left-color: var(--verify); } section.step.unknown { border-left-color: var(--unknown); }
.step-head { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.step-head .n { font-weight: 700; } .step-head .stats { color: var(--muted); font-size: 12px; }
.tag { color: #fff; border-radius: 3px; padding: 0 6px; font-size: 12px; }
.msg { background: #eef2ff; border-color: #c7d2fe; }
.call { margin: 6px 0; } .call .name { font-weight: 600; }
.call.error .result { border-color: #fca5a5; background: #fef2f2; }
.call.refused { border: 2px solid var(--bad); border-radius: 4px; padding: 4px 8px; background: #fef2f2; }
.badge { display: inline-block; border-radius: 3px; padding: 0 6px; font-size: 12px; font-weight: 600; }
.badge.bad { background: var(--bad); color: #fff; } .badge.good { background: var(--good); color: #fff; }
.badge.warn { background: #f59e0b; color: #fff; }
.diff-file { margin: 10px 0; border: 1px solid var(--line); border-radius: 4px; }
.diff-file > summary { cursor: pointer; padding: 4px 8px; background: var(--bg); font-family: ui-monospace,
  Menlo, Consolas, monospace; font-size: 12.5px; }
.diff-file .adds { color: var(--good); } .diff-file .dels { color: var(--bad); }
pre.diff { border: 0; margin: 0; padding: 0; background: #fff; }
pre.diff span { display: block; padding: 0 8px; }
pre.diff .add { background: #dcfce7; } pre.diff .del { background: #fee2e2; }
pre.diff .hunk { background: #e0f2fe; color: #075985; } pre.diff .meta { color: var(--muted); }
svg text { font: 10px system-ui, sans-serif; fill: #374151; }
.chart { overflow-x: auto; }
dl.kv { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr); gap: 2px 12px; margin: 4px 0; }
dl.kv dt { color: var(--muted); max-width: 24em; overflow-wrap: anywhere; } dl.kv dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
td, th { overflow-wrap: anywhere; }
ul.ids { margin: 2px 0; padding-left: 20px; }
"""


def style_hash(stylesheet: str = STYLESHEET) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()


def content_security_policy() -> str:
    """Nothing but the page's own stylesheet: no script may run, and the page may load nothing at all."""
    return (
        f"default-src 'none'; style-src '{style_hash()}'; script-src 'none'; img-src 'none'; font-src 'none'; "
        "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
        "worker-src 'none'; manifest-src 'none'; form-action 'none'; base-uri 'none'"
    )


def page(title: str, body: Html) -> str:
    """A whole HTML document; the CSP meta tag comes right after the charset, before anything it governs."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head>'
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy())}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLESHEET}</style></head>\n"
        f"<body><main>{body}</main></body></html>\n"
    )
