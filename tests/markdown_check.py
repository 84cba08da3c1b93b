"""What GitHub would make of Markdown we post, seen through a CommonMark renderer configured like GitHub's
issue rendering: which tags come out, and which text is outside code (where GitHub links mentions,
references and URLs, and looks for closing keywords)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

GITHUB_LIKE = MarkdownIt("commonmark", {"breaks": True}).enable(["table", "strikethrough"])
HARMLESS_TAGS = {"p", "code", "pre", "em", "strong", "ul", "ol", "li", "blockquote", "br", "hr", "s", "table"}
HARMLESS_TAGS |= {"thead", "tbody", "tr", "th", "td"}


class Rendered(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.headings: list[str] = []
        self.outside_code: list[str] = []
        self.depth = 0
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.depth += tag == "code"
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "code"
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_comment(self, data: str) -> None:
        self.tags.add("!--")

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)
        if self.depth == 0:
            self.outside_code.append(data)

    @property
    def text(self) -> str:
        return "".join(self.outside_code)


def rendered(markdown: str) -> Rendered:
    page = Rendered()
    page.feed(GITHUB_LIKE.render(markdown))
    page.close()
    return page


def closes_something(text: str) -> bool:
    """What GitHub might take for a closing reference, generously: a keyword, non-letters, a reference."""
    return bool(
        re.search(
            r"(?i)(close[sd]?|fix(e[sd])?|resolve[sd]?)[^a-z0-9]{0,40}(#\d|gh-\d|[\w.-]+/[\w.-]+#\d|https?://)",
            text,
        )
    )


def linked_outside_code(text: str) -> list[str]:
    """Mentions, references, URLs and e-mail addresses GitHub would link in this text."""
    return re.findall(r"(?<![\w`])@\w+|(?<![\w&])#\d+|(?i:\bgh-\d+)|https?://\S+|www\.\S+|\w+@\w+\.\w+", text)


def assert_inert(markdown: str, allowed_tags: set[str] = HARMLESS_TAGS) -> Rendered:
    page = rendered(markdown)
    assert page.tags <= allowed_tags, page.tags
    assert linked_outside_code(page.text) == [], page.text
    assert not closes_something(page.text + " ".join(re.findall(r"`+([^`]*)`+", markdown))), page.text
    return page
