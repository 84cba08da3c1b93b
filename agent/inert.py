"""Text be-agent did not write (the model's report and reasons, test ids from the repository, an issue's title)
made inert before it goes to GitHub or into a commit.

Inert means it renders as the characters it holds and does nothing else:

- no control characters, escape sequences or invisible characters;
- no HTML, images, links, footnotes, math, headings or link definitions: the Markdown punctuation that would
  start them (`< [ ] $ \\`, a `#` or `===` at the start of a line) is backslash-escaped, and entities are
  shown decoded (`&#35;` as `#`), then escaped like the rest;
- mentions (`@user`, `@org/team`), issue references (`#12`, `GH-12`, `owner/repo#12`), URLs and e-mail
  addresses sit inside code spans, where GitHub links nothing and notifies no one;
- closing keywords are defused in every form GitHub recognises (`Fixes #1`, `Closes: owner/repo#2`,
  `resolved https://github.com/o/r/issues/3`, `Fixes GH-4`), whatever markup, entities or punctuation sit
  between keyword and reference (`**Fixes** #8`, `Fixes:#15`, `Fixes [#11](url)`, `Fixes&#32;#11`): an
  `issue` goes before the reference, so merging closes nothing;
- code the text holds stays code, in fences and spans it cannot close (one more backtick than the longest
  run inside), so nothing in it can swallow what follows.

Lists, emphasis, quotes and tables stay: they cannot hide, link or ping anything.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from agent.untrusted import strip_escape_sequences, visible_characters

_MARKDOWN = MarkdownIt("commonmark")

# --- closing keywords -------------------------------------------------------------------------------------

_KEYWORD = r"(?<![a-z])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?![a-z0-9])"
_HASH = r"(?:(?<!&)#|&#0*35;|&#x0*23;|&num;)"  # not the # of an entity (&#32;)
_REFERENCE = (
    rf"(?:[\w.-]+/[\w.-]+)?{_HASH}\d+"  # #12, owner/repo#12, and # written as an entity
    r"|gh-\d+"
    r"|(?:https?://|www\.)[^\s<>()\[\]]*?/(?:issues|pull)/\d+"
    r"|[\w-]+(?:\.[\w-]+)+/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+"  # github.com/o/r/issues/12, no scheme
)
# What may sit between a keyword and its reference once rendered: space, punctuation, markup, entities
_GAP = r"(?:[\W_]|&#?\w+;){0,40}?"
_LIST = rf"(?:\s*[,;]\s*(?:and\s+)?|\s+and\s+|\s+)(?:{_REFERENCE})"
_CLOSING = re.compile(rf"({_KEYWORD})({_GAP})((?:{_REFERENCE})(?:{_LIST})*)", re.IGNORECASE)
_ONE_REFERENCE = re.compile(_REFERENCE, re.IGNORECASE)


def defuse_closing_references(text: str) -> str:
    """Put `issue` before every reference a closing keyword points at ("Fixes #12" -> "Fixes issue #12"), so
    text we did not write cannot close issues when the pull request or commit is merged."""

    def defuse(match: re.Match[str]) -> str:
        references = _ONE_REFERENCE.sub(lambda ref: "issue " + ref.group(0), match.group(3))
        return match.group(1) + match.group(2) + references

    return _CLOSING.sub(defuse, text)


# --- code spans and blocks ----------------------------------------------------------------------------------


def _longest_run(text: str, char: str = "`") -> int:
    return max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)


def code_span(text: str) -> str:
    """`text` as one inline code span no backtick inside can close; line breaks become spaces."""
    text = " ".join(text.replace("\r", "\n").split("\n"))
    if not text:
        return "` `"
    ticks = "`" * (_longest_run(text) + 1)
    # CommonMark strips one space from each end when both have one: pad so what is shown is `text`
    padded = text.startswith("`") or text.endswith("`") or (text[0] == " " and text[-1] == " ")
    pad = " " if padded else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


# fenced blocks GitHub draws instead of showing their text (formulas, diagrams, maps, 3D models)
_DRAWN = frozenset({"math", "mermaid", "geojson", "topojson", "stl"})


def code_block(text: str, info: str = "text") -> str:
    """`text` as a fenced block whose fence is longer than any backtick run inside, shown as text."""
    info = re.sub(r"[^\w+#.-]", "", info)[:20]
    info = "text" if info.lower() in _DRAWN else info
    ticks = "`" * max(3, _longest_run(text) + 1)
    return f"{ticks}{info}\n{text.rstrip(chr(10))}\n{ticks}"


# --- inline text --------------------------------------------------------------------------------------------

# What GitHub turns into a link or a notification on its own, each kept whole inside a code span
_AUTOLINKED = re.compile(
    r"(?:https?://|ftp://|www\.|mailto:|xmpp:)[^\s`]+"  # URLs (their trailing punctuation too)
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|(?<![\w`])@[A-Za-z0-9][\w-]*(?:/[\w.-]+)?"  # @user, @org/team
    r"|(?<![\w&])(?:[\w.-]+/[\w.-]+)?#\d+"  # #12, owner/repo#12 (not an entity's #)
    r"|\bgh-\d+",  # GH-12
    re.IGNORECASE,
)


def clean_text(text: str) -> str:
    """No escape sequences, control or invisible characters; line ends as newlines."""
    return visible_characters(strip_escape_sequences(text.replace("\r\n", "\n").replace("\r", "\n")))


def _escape(text: str) -> str:
    """Plain text whose Markdown punctuation renders as itself (no HTML, link, image, math or entity)."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"[<\[\]$`]", r"\\\g<0>", text)
    return re.sub(r"&(?=#?\w+;?)", r"\\&", text)


def _linked_part(token: str) -> int:
    """How much of an autolinked token GitHub links: a URL's trailing punctuation, and a closing
    parenthesis it does not open, stay outside (as GFM's autolink extension says)."""
    end = len(token)
    while end > 0 and (
        token[end - 1] in ".,:;!?\"'*_~"
        or (token[end - 1] == ")" and token[:end].count(")") > token[:end].count("("))
    ):
        end -= 1
    return end or len(token)


def _inline(text: str) -> str:
    """Text outside code: entities decoded to what they show (so `Fixes&#32;#1` is seen as the closing
    reference it renders as), escaped, with what GitHub would link inside code spans."""
    text = defuse_closing_references(visible_characters(html.unescape(text)))
    out: list[str] = []
    last = 0
    for match in _AUTOLINKED.finditer(text):
        linked = match.start() + _linked_part(match.group(0))
        out += [_escape(text[last : match.start()]), code_span(text[match.start() : linked])]
        last = linked
    out.append(_escape(text[last:]))
    return "".join(out)


def _paragraph(text: str) -> str:
    """A run of non-blank text lines: its code spans re-made so nothing can close them, the rest `_inline`.
    A backtick run opens a span only when a run of the same length follows; otherwise it is text."""
    out: list[str] = []
    i = last = 0
    while i < len(text):
        if text[i] != "`" or (i > 0 and text[i - 1] == "\\"):
            i += 1
            continue
        run = len(text[i:]) - len(text[i:].lstrip("`"))
        closer = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
        end = closer.search(text, i + run)
        if end is None:
            i += run
            continue
        out += [_inline(text[last:i]), code_span(text[i + run : end.start()].strip(" ") or " ")]
        i = last = end.end()
    out.append(_inline(text[last:]))
    return "\n".join(_line_start(line) for line in "".join(out).split("\n"))


def _line_start(line: str) -> str:
    """A line cannot become a heading, a setext underline or a fence: its first marker is escaped."""
    return re.sub(r"^( {0,3})(#{1,6}(?=\s|$)|=+\s*$|-+\s*$|~{3,})", r"\1\\\2", line)


# --- whole texts --------------------------------------------------------------------------------------------


def inert_markdown(text: str, *, limit: int | None = None) -> str:
    """Markdown from outside (the model's report field, a reason) as inert Markdown (see the module)."""
    text = clean_text(text).strip("\n")
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + f"\n[... {len(text) - limit} more characters not shown]"
    text = defuse_closing_references(text)
    lines = text.split("\n")
    code_at: dict[int, tuple[int, str, str]] = {}  # first line -> (end line, content, info)
    for token in _MARKDOWN.parse(text):
        if token.type in ("fence", "code_block") and token.map is not None:
            start, end = token.map
            if not any(s <= start < e for s, (e, _, _) in code_at.items()):
                code_at[start] = (end, token.content, token.info.split(" ")[0] if token.info else "")
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(_paragraph("\n".join(paragraph)))
            paragraph.clear()

    i = 0
    while i < len(lines):
        if i in code_at:
            flush()
            end, content, info = code_at[i]
            out.append(code_block(content, info))
            i = max(end, i + 1)
        elif not lines[i].strip():
            flush()
            out.append("")
            i += 1
        else:
            paragraph.append(lines[i].rstrip())
            i += 1
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def inert_line(text: str, *, limit: int | None = None) -> str:
    """One line of inert Markdown (a reason in a sentence): line breaks become spaces."""
    line = " ".join(clean_text(text).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return _paragraph(defuse_closing_references(line)) if line else ""


def inert_code(text: str) -> str:
    """A name from outside (a test id, a path) as a code span: cleaned, one line, closing nothing."""
    return code_span(defuse_closing_references(" ".join(clean_text(text).split())))


def inert_title(text: str, *, limit: int | None = None) -> str:
    """A title (of a pull request, a commit subject): GitHub renders only code spans in it, so nothing is
    escaped; cleaned, one line, closing keywords defused, mentions and references in code spans. With
    `limit`, whole words are dropped (and an ellipsis added) until it fits: a cut never splits a code span."""
    line = defuse_closing_references(" ".join(clean_text(text).split())).replace("`", "'")
    title = _AUTOLINKED.sub(lambda m: code_span(m.group(0)), line)
    while limit is not None and len(title) > limit and line:
        line = line.rsplit(" ", 1)[0] if " " in line else line[:-1]
        title = _AUTOLINKED.sub(lambda m: code_span(m.group(0)), line) + "…"
    return title
