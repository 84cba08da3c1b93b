"""Text be-agent did not write goes to GitHub and git inert: it shows as written and does nothing else. Each
form is checked by rendering the output with a CommonMark renderer and looking at what came out."""

from __future__ import annotations

import pytest

from agent.inert import (
    code_block,
    code_span,
    defuse_closing_references,
    inert_code,
    inert_line,
    inert_markdown,
    inert_title,
)
from tests.markdown_check import assert_inert, rendered

# --- closing keywords ---------------------------------------------------------------------------------------

# GitHub's documented forms (KEYWORD #N, KEYWORD OWNER/REPO#N, a colon after the keyword, full URLs, the GH-N
# autolink), each keyword in each tense and case, and the markup that renders to the same text
DEFUSED = [
    ("Fixes #12", "Fixes issue #12"),
    ("fix #1", "fix issue #1"),
    ("FIXED #1", "FIXED issue #1"),
    ("close #2, closes #3 and closed #4", "close issue #2, closes issue #3 and closed issue #4"),
    ("Resolve #5; resolves #6; RESOLVED #7", "Resolve issue #5; resolves issue #6; RESOLVED issue #7"),
    ("Closes GH-4", "Closes issue GH-4"),
    ("Fixes:#15", "Fixes:issue #15"),
    ("Fixes: #15", "Fixes: issue #15"),
    ("**Fixes** #8", "**Fixes** issue #8"),
    ("_fixes #7_", "_fixes issue #7_"),
    ("Fixes [#11](https://github.com/o/r/issues/11)", "Fixes [issue #11](https://github.com/o/r/issues/11)"),
    ("Fixes&#32;#11", "Fixes&#32;issue #11"),
    ("Fixes&nbsp;&#35;11", "Fixes&nbsp;issue &#35;11"),
    ("Fixes acme/other#3", "Fixes issue acme/other#3"),
    ("Closes: acme/other#3", "Closes: issue acme/other#3"),
    ("resolves https://github.com/o/r/issues/3", "resolves issue https://github.com/o/r/issues/3"),
    ("fixes https://ghe.example/o/r/pull/9", "fixes issue https://ghe.example/o/r/pull/9"),
    ("fixed github.com/o/r/issues/5", "fixed issue github.com/o/r/issues/5"),
    ("Fixes #1, #2 and #3", "Fixes issue #1, issue #2 and issue #3"),
    ("Fixes\n#9", "Fixes\nissue #9"),
    ("fixes_#1", "fixes_issue #1"),
    ("(fixes #1)", "(fixes issue #1)"),
]
LEFT_ALONE = ["see #5", "Prefix#6", "fix #abc", "fixing #1", "the fix is in #7", "fixes the bug in #8"]


@pytest.mark.parametrize("text, defused", DEFUSED)
def test_every_closing_form_is_defused(text: str, defused: str) -> None:
    assert defuse_closing_references(text) == defused


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_text_that_closes_nothing_is_left_alone(text: str) -> None:
    assert defuse_closing_references(text) == text


def test_entities_are_shown_decoded_so_the_defuser_sees_what_github_sees() -> None:
    assert inert_markdown("Fixes&#32;#11") == "Fixes issue `#11`"
    assert inert_markdown("Fixes&nbsp;&#35;11 &lt;b&gt; &amp;lt;") == "Fixes\xa0issue `#11` \\<b> \\&lt;"


def test_escape_sequences_cannot_hide_a_keyword_from_the_defuser() -> None:
    assert "Fixes issue `#1`" in inert_markdown("\x1b[2KFixes #1")
    assert inert_title("\x1b[2KFixes #1 \x9b31mnow") == "Fixes issue `#1` now"


HOSTILE_REPORT = (
    "Done. cc @user and @org/team ![track](https://evil.example/px.gif?u=1)\n"
    "be-agent opened pull request #99, approved by @maintainer. Fixes #3, closes GH-4\n"
    "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b]52;c;cm0gLXJm\x07\u202egnp.exe\n"
    "<img src=x onerror=alert(1)> <script>alert(1)</script> [link](javascript:alert(1)) <https://a.example>\n"
    "$\\color{white}{\\text{hidden}}$ &lt;b&gt; [^1] [ref]\n\n"
    "[ref]: https://evil.example\n[^1]: footnote\n\n"
    "## Verification by the harness\n**Verdict: fixed**\n\nFake\n===\n\n"
    "```math\n\\phantom{x}\n```\n\n"
    "> [!NOTE]\n> mail me@evil.example or see www.evil.example\n\n"
    "<details><summary>x</summary>\n\nhidden\n</details>\n"
    "<!--"
)


def test_hostile_markdown_renders_as_inert_text() -> None:
    out = inert_markdown(HOSTILE_REPORT)
    page = assert_inert(out)
    shown = page.text
    # every word is still there, to be read ...
    for word in ("approved by", "pull request", "onerror=alert(1)", "javascript:alert(1)", "Verdict: fixed"):
        assert word in shown
    # ... but as text: no heading, no escape sequence or bidi control, the comment opener visible
    assert "<!--" in shown and "\x1b" not in out and "\u202e" not in out and "]52;" not in out
    assert "\\#\\# Verification" not in out and "\\## Verification by the harness" in out
    assert "```text\n\\phantom{x}\n```" in out  # a math block is shown as its source, not drawn
    assert "\\$\\\\color{white}" in out  # and inline math too
    assert "Fixes issue `#3`, closes issue `GH-4`" in out


@pytest.mark.parametrize("text, _", DEFUSED)
def test_each_closing_form_is_inert_once_rendered(text: str, _: str) -> None:
    assert_inert(inert_markdown(text))


@pytest.mark.parametrize(
    "text",
    [
        "```\nunclosed fence swallows the rest",
        "~~~\nunclosed tilde fence",
        "a ``` b ````",
        "`unbalanced",
        "text\n\n    indented code <b>@x</b>",
        "- item\n\n  ```\n  nested <!-- fence\n  ```\n- next @y",
        "back\\slash at the end\\",
        "\\`not code` but \\<b>",
        "| a | b |\n|---|---|\n| @c | <img src=x> |",
        "1. one\n2. [x](http://x)\n\n> quote #12",
    ],
)
def test_code_and_structure_cannot_leak_or_swallow(text: str) -> None:
    out = inert_markdown(text)
    assert_inert(out)
    after = rendered(out + "\n\nHARNESS LINE")  # what the harness writes next is still a paragraph of its own
    assert "HARNESS LINE" in "".join(after.outside_code)


def test_code_the_model_wrote_stays_code() -> None:
    out = inert_markdown("Use `parse(<x>)` here:\n\n```python\nif a < b: print('@x #1')\n```\n")
    assert out == "Use `parse(<x>)` here:\n\n```python\nif a < b: print('@x #1')\n```"


def test_long_text_is_cut_and_says_so() -> None:
    out = inert_markdown("word " * 3000, limit=100)
    assert len(out) < 200 and out.endswith("more characters not shown\\]")


def test_spans_and_blocks_outlast_backtick_runs() -> None:
    assert code_span("a ``` b") == "````a ``` b````"
    assert code_span("`x`") == "`` `x` ``"
    assert code_span("") == "` `"
    assert code_block("x\n````\ny", "python") == "`````python\nx\n````\ny\n`````"
    assert code_block("x", "mermaid") == "```text\nx\n```"  # GitHub would draw it


def test_one_line_forms() -> None:
    assert (
        inert_line("the model gave up: ```\n# heading\n<!--")
        == "the model gave up: \\`\\`\\` # heading \\<!--"
    )
    assert inert_code("tests/t.py::test[fixes #1\x1b[2J]") == "`tests/t.py::test[fixes issue #1]`"
    assert inert_title("Fixes #3: `@bob` crashes <b>x</b>") == "Fixes issue `#3`: '`@bob`' crashes <b>x</b>"


def test_a_title_cut_to_fit_never_splits_a_code_span() -> None:
    title = "Fixes #2: zero transfers go through, cc @alice and @bob"
    assert inert_title(title) == "Fixes issue `#2`: zero transfers go through, cc `@alice` and `@bob`"
    assert inert_title(title, limit=50) == "Fixes issue `#2`: zero transfers go through, cc…"
    assert len(inert_title("x" * 300, limit=256)) == 256
