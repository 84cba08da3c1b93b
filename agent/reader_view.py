"""What a reader of an issue or a comment on GitHub sees of it, and only that, for the model to read.

The ground truth is the rendered page. GitHub gives its own rendering (`body_html`, through the `full` media
type); when it does not (an older GitHub Enterprise, an event payload), the Markdown source is rendered here
the way GitHub renders issues (CommonMark, tables, strikethrough, raw HTML, line breaks kept). Either way the
same extractor walks the HTML and keeps what is shown on the page: text, code, links' text and address,
headings, lists, quotes, tables. Dropped, and counted by kind in `ReaderText.hidden`: comments (an unclosed
one hides the rest), processing instructions, declarations, CDATA, script and style, elements marked
`hidden`, the body of a collapsed `<details>` (its summary stays, with a note), image alt and title text,
attribute values (a `title` tooltip), link reference definitions, and invisible characters. Table cells
beyond the header's columns are dropped by the Markdown renderer, as GitHub does.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from agent.inert import code_block, code_span
from agent.untrusted import visible_characters

# GitHub renders issue and comment bodies with a line break for every newline (not only for two spaces)
_MARKDOWN = MarkdownIt("commonmark", {"breaks": True}).enable(["table", "strikethrough"])

_VOID = frozenset("area base br col embed hr img input link meta source track wbr param keygen".split())  # noqa: SIM905
_DROPPED = frozenset(  # elements whose content the page never shows
    "script style template noscript head title svg iframe object embed canvas audio video".split()  # noqa: SIM905
)
_BLOCKS = frozenset(
    "address article aside blockquote dd details div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "  # noqa: SIM905
    "header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul "
    "markdown-accessiblity-table".split()
)
# a start tag of one of these closes an open element of the same group, as browsers do
_CLOSES_OPEN = {"li": {"li"}, "p": {"p"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"}}
_CELL = {"td", "th"}
_LANGUAGE = re.compile(r"(?:language-|highlight-source-)([\w+#.-]+)")
_COLLAPSED_NOTE = "[collapsed section: its content is not shown here]"


@dataclass
class ReaderText:
    """The visible text, and how many hidden constructs of each kind were dropped to get it."""

    text: str
    hidden: Counter[str] = field(default_factory=Counter)


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """A forgiving tree of the HTML: unknown end tags are ignored, void elements have no children."""

    def __init__(self, hidden: Counter[str]):
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]
        self.hidden = hidden

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes = _CLOSES_OPEN.get(tag, set()) | (_CELL if tag in _CELL else set())
        if closes and self.stack[-1].tag in closes:
            self.stack.pop()
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.hidden["html comment"] += 1

    def handle_pi(self, data: str) -> None:
        self.hidden["processing instruction"] += 1

    def handle_decl(self, decl: str) -> None:
        self.hidden["declaration"] += 1

    def unknown_decl(self, data: str) -> None:
        self.hidden["CDATA section" if data.startswith("CDATA[") else "declaration"] += 1


def _cut_unclosed_comment(html: str, hidden: Counter[str]) -> str:
    """A comment that is never closed hides everything after it; the parser would show it as text."""
    i = 0
    while (start := html.find("<!--", i)) >= 0:
        end = html.find("-->", start + 4)
        if end < 0 and not html.startswith(("<!-->", "<!--->"), start):
            hidden["unclosed html comment"] += 1
            return html[:start]
        i = start + 4 if end < 0 else end + 3
    return html


def _collapse(text: str) -> str:
    return re.sub(r"[ \t\r\n\f]+", " ", text)


class _Renderer:
    """The tree as lightweight Markdown: what the page shows, in the shape a reader sees it."""

    def __init__(self, hidden: Counter[str]):
        self.hidden = hidden

    def text_of(self, node: _Node) -> str:
        """All text under `node`, as written (for code)."""
        parts: list[str] = []
        for child in node.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "br":
                parts.append("\n")
            elif not self._skipped(child):
                parts.append(self.text_of(child))
        return "".join(parts)

    def _skipped(self, node: _Node) -> bool:
        """Elements the page does not show at all; counted once each."""
        if "hidden" in node.attrs:
            self.hidden["hidden element"] += 1
            return True
        if node.tag in _DROPPED:
            if node.tag in ("script", "style"):
                self.hidden["script or style"] += 1
            return True
        if node.attrs.get("title", "").strip() and node.tag != "img":
            self.hidden["title attribute"] += 1  # a tooltip: the element shows, its title text does not
        return False

    def blocks(self, node: _Node) -> str:
        """The children of a block container, paragraphs separated by blank lines."""
        out: list[str] = []
        inline: list[str] = []

        def flush() -> None:
            text = re.sub(r" *\n *", "\n", re.sub(r" {2,}", " ", "".join(inline))).strip()
            if text:
                out.append(text)
            inline.clear()

        for child in node.children:
            if isinstance(child, str):
                inline.append(_collapse(child))
            elif self._skipped(child):
                continue
            elif child.tag in _BLOCKS:
                flush()
                rendered = self.block(child)
                if rendered.strip():
                    out.append(rendered)
            else:
                inline.append(self.inline(child))
        flush()
        return "\n\n".join(out)

    def inline(self, node: _Node) -> str:
        tag = node.tag
        if tag == "br":
            return "\n"
        if tag == "img":
            if node.attrs.get("alt", "").strip() or node.attrs.get("title", "").strip():
                self.hidden["image alt or title text"] += 1
            return "[image]"
        if tag == "input":
            if node.attrs.get("type", "").lower() == "checkbox":
                return "[x] " if "checked" in node.attrs else "[ ] "
            return ""
        if tag == "code":
            return code_span(self.text_of(node))
        inner = "".join(
            _collapse(c) if isinstance(c, str) else ("" if self._skipped(c) else self._inline_or_block(c))
            for c in node.children
        )
        if tag in ("del", "s", "strike") and inner.strip():
            return f"~~{inner}~~"
        if tag == "a":
            return self._link(node, inner)
        return inner

    def _inline_or_block(self, node: _Node) -> str:
        if node.tag in _BLOCKS:
            return "\n" + self.block(node) + "\n"
        return self.inline(node)

    def _link(self, node: _Node, text: str) -> str:
        href = node.attrs.get("href", "").strip()
        shown = text.strip()
        if not shown or shown == "[image]":
            return shown
        classes = node.attrs.get("class", "")
        internal = "user-mention" in classes or "issue-link" in classes or "team-mention" in classes
        if internal or not re.match(r"(?i)(https?:|mailto:)", href) or href.rstrip("/") == shown.rstrip("/"):
            return text
        return f"[{shown}]({href})"

    def block(self, node: _Node) -> str:
        tag = node.tag
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            return "#" * int(tag[1]) + " " + " ".join(self.blocks(node).split())
        if tag == "hr":
            return "---"
        if tag == "pre":
            code = self.text_of(node)
            return code_block(code, self._language(node)) if code.strip() else ""
        if tag == "blockquote":
            return "\n".join(("> " + line).rstrip() for line in self.blocks(node).split("\n"))
        if tag in ("ul", "ol"):
            return self._list(node)
        if tag == "li":
            return self._item(node, "- ")
        if tag == "table":
            return self._table(node)
        if tag == "details":
            return self._details(node)
        language = _LANGUAGE.search(node.attrs.get("class", ""))
        if language:  # GitHub highlights code inside a <div class="highlight highlight-source-LANG">
            for child in node.children:
                if isinstance(child, _Node) and child.tag == "pre":
                    child.attrs.setdefault("lang", language.group(1))
        return self.blocks(node)

    def _language(self, pre: _Node) -> str:
        if pre.attrs.get("lang"):
            return pre.attrs["lang"]
        for candidate in [pre, *[c for c in pre.children if isinstance(c, _Node)]]:
            m = _LANGUAGE.search(candidate.attrs.get("class", ""))
            if m:
                return m.group(1)
        return ""

    def _list(self, node: _Node) -> str:
        ordered = node.tag == "ol"
        try:
            number = int(node.attrs.get("start", "1"))
        except ValueError:
            number = 1
        items = []
        for child in node.children:
            if isinstance(child, _Node) and child.tag == "li" and not self._skipped(child):
                items.append(self._item(child, f"{number}. " if ordered else "- "))
                number += 1
            elif isinstance(child, _Node) and not self._skipped(child):
                items.append(self.block(child))
            elif isinstance(child, str) and child.strip():
                items.append(_collapse(child).strip())
        return "\n".join(item for item in items if item)

    def _item(self, node: _Node, marker: str) -> str:
        body = self.blocks(node)
        pad = " " * len(marker)
        lines = body.split("\n") or [""]
        return "\n".join([marker + lines[0], *[(pad + line).rstrip() for line in lines[1:]]])

    def _table(self, node: _Node) -> str:
        rows: list[list[str]] = []

        def walk(parent: _Node) -> None:
            for child in parent.children:
                if not isinstance(child, _Node) or self._skipped(child):
                    continue
                if child.tag == "tr":
                    cells = [c for c in child.children if isinstance(c, _Node) and c.tag in _CELL]
                    rows.append(
                        [
                            " ".join(self.blocks(c).split()).replace("|", "\\|")
                            for c in cells
                            if not self._skipped(c)
                        ]
                    )
                else:
                    walk(child)

        walk(node)
        if not rows:
            return ""
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * max(1, len(rows[0]))]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)

    def _details(self, node: _Node) -> str:
        summary = next((c for c in node.children if isinstance(c, _Node) and c.tag == "summary"), None)
        title = " ".join(self.blocks(summary).split()) if summary is not None else "Details"
        if "open" in node.attrs:
            rest = _Node("div", {}, [c for c in node.children if c is not summary])
            return f"▸ {title}\n\n{self.blocks(rest)}".rstrip()
        if any(isinstance(c, _Node) or c.strip() for c in node.children if c is not summary):
            self.hidden["collapsed details"] += 1
        return f"▸ {title} {_COLLAPSED_NOTE}"


def visible_text(html: str) -> ReaderText:
    """What the page shows of this HTML (GitHub's `body_html`, or our rendering of the Markdown)."""
    hidden: Counter[str] = Counter()
    builder = _TreeBuilder(hidden)
    builder.feed(_cut_unclosed_comment(html, hidden))
    builder.close()
    text = _Renderer(hidden).blocks(builder.root)
    shown = visible_characters(text)
    if len(shown) != len(text):
        hidden["invisible character"] += len(text) - len(shown)
    return ReaderText(re.sub(r"\n{3,}", "\n\n", shown).strip("\n"), hidden)


def render_markdown(markdown: str, hidden: Counter[str] | None = None) -> str:
    """The Markdown as HTML, rendered the way GitHub renders an issue body (raw HTML passes through, to be
    judged by `visible_text` like GitHub's own rendering)."""
    env: dict[str, object] = {}
    html: str = _MARKDOWN.render(markdown.replace("\r\n", "\n").replace("\r", "\n"), env)
    references = env.get("references")
    if hidden is not None and isinstance(references, dict) and references:
        hidden["link reference definition"] += len(references)
    return html


def reader_text(markdown: str | None, html: str | None = None) -> ReaderText:
    """What a reader sees of a body: from GitHub's rendering when given, else from rendering `markdown`."""
    if html is not None:
        return visible_text(html)
    hidden: Counter[str] = Counter()
    source = markdown or ""
    shown = visible_characters(source)  # before parsing: a zero-width space cannot keep a comment open
    if len(shown) != len(source.replace("\r\n", "\n")):
        hidden["invisible character"] += len(source.replace("\r\n", "\n")) - len(shown)
    rendered = render_markdown(shown, hidden)
    seen = visible_text(rendered)
    seen.hidden.update(hidden)
    return seen


def clean_markdown(text: str | None) -> str:
    """The visible text of a Markdown body (see `reader_text`)."""
    return reader_text(text).text
