"""The run page (`be-agent view`) and the bench page, without a browser: what they show, what they refuse to
become (markup from the trajectory), and how they cope with damaged or hostile runs.

The structural check parses each page with the standard HTML parser and asserts that every element and
attribute is one the page itself makes: a payload that slipped through escaping would show up as an
unexpected tag or attribute here, before any browser is involved."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent import view_model
from agent.config import RunResult
from agent.view import page_artifact_note, render_run_page, save_run_page
from agent.view_bench import page_file_name, save_bench_pages
from agent.view_diff import split_diff
from agent.view_html import STYLESHEET, Budget, content_security_policy, fold, style_hash, visible
from agent.view_model import build_view, load_run
from tests.conftest import run_cli
from tests.view_fixtures import DIFF, PAYLOADS, hostile_run_lines, result_json, small_run_lines, write_run

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "div", "span", "pre",
    "code", "details", "summary", "table", "tr", "th", "td", "ul", "li", "dl", "dt", "dd", "nav", "a",
    "section", "strong", "svg", "rect", "text", "circle", "g",
}  # fmt: skip
ALLOWED_ATTRS = {
    "class", "id", "href", "title", "open", "colspan", "lang", "charset", "http-equiv", "content", "name",
    "x", "y", "width", "height", "fill", "fill-opacity", "cx", "cy", "r", "text-anchor", "xmlns", "viewbox",
    "role", "aria-label",
}  # fmt: skip
SAFE_HREF = re.compile(r"#step-\d+|[A-Za-z0-9_./%-]+|file:///[A-Za-z0-9_./%~-]+")


class Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def structure(page: str) -> Structure:
    parsed = Structure()
    parsed.feed(page)
    return parsed


def assert_inert(page: str) -> Structure:
    parsed = structure(page)
    assert set(parsed.tags) <= ALLOWED_TAGS, set(parsed.tags) - ALLOWED_TAGS
    assert {name for name, _ in parsed.attrs} <= ALLOWED_ATTRS
    assert parsed.tags.count("style") == 1 and parsed.tags.count("meta") == 4 and not parsed.comments
    for name, value in parsed.attrs:
        if name == "href":
            assert SAFE_HREF.fullmatch(value), value
        if name == "http-equiv":
            assert value == "Content-Security-Policy"
    return parsed


def test_the_page_shows_task_verdict_tests_steps_by_phase_and_the_change_per_file(tmp_path: Path):
    run = write_run(tmp_path / "run", small_run_lines(), result=result_json())
    page = render_run_page(load_run(run))
    parsed = assert_inert(page)
    text = "".join(parsed.text)
    assert "Make transfer() reject negative amounts" in text
    assert "FIXED" in text and "The 1 target test(s) now pass" in text
    for n, phase in enumerate(("read", "contract", "implement", "verify"), 1):
        assert f'<section class="step {phase}" id="step-{n}">' in page
        assert f'href="#step-{n}"' in page
    assert "transfer() now rejects negative amounts" in text  # the agent's report
    assert "assert 1 == 2" in text  # why the baseline failed
    assert "bank.py +1 -2" in " ".join(text.split()) and "tests/test_bank.py +1 -0" in " ".join(text.split())
    assert "added tests fail on the original code" in text
    assert "<svg" in page and "step 2: 300 tokens" in page  # the chart, with each step's numbers


def test_a_refusal_by_the_finish_gate_is_highlighted_in_the_step_and_the_timeline(tmp_path: Path):
    page = render_run_page(load_run(write_run(tmp_path / "run", small_run_lines(), result=result_json())))
    assert page.count('class="call error refused"') == 1
    assert "finish refused by the gate" in page
    assert 'class="phase-verify refused"' in page
    assert "finish refused: run the tests after your last edit" in page


def test_verification_fields_the_page_does_not_know_are_shown_under_their_own_names(tmp_path: Path):
    result = result_json()
    result["verification"]["judged_by"] = {"harness": "be-agent", "runs": 3}
    result["verification"]["new_flag"] = False
    page = render_run_page(load_run(write_run(tmp_path / "run", small_run_lines(), result=result)))
    assert (
        '<dt>judged by</dt><dd><dl class="kv"><dt>harness</dt><dd>be-agent</dd><dt>runs</dt><dd>3</dd>'
        in page
    )
    assert "<dt>new flag</dt><dd>no</dd>" in page


def test_long_results_fold_with_head_and_tail_visible():
    lines = "\n".join(f"line {i}" for i in range(500))
    html = fold(lines, Budget())
    head, rest = html.split("<details", 1)
    folded, tail = rest.split("</details>", 1)
    assert "line 0\n" in head and "line 29" in head and "line 30\n" not in head
    assert "line 30\n" in folded and "line 487<" in folded and "line 488" not in folded
    assert "line 488\n" in tail and "line 499" in tail
    assert "458 more line(s)" in folded


def test_folded_text_stops_when_the_page_reaches_its_budget():
    budget = Budget(chars=8_000)
    first, second = fold("a\n" * 3_000, budget), fold("b\n" * 3_000, budget)
    assert "a\na\n" in first.split("<details")[1] and "size limit" not in first
    assert "this page reached its size limit" in second and "b\nb\n" in second.split("<details")[0]


def test_a_page_stays_bounded_when_the_trajectory_is_huge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(view_model, "MAX_TRAJECTORY_BYTES", 2 * 1024**2)  # 16 MiB in production
    huge = "x" * 100_000 + "\n"
    lines = small_run_lines()
    for step in range(5, 45):
        lines += [
            json.dumps(
                {"type": "model", "step": step, "phase": "read", "content": [{"type": "text", "text": huge}]}
            ),
            json.dumps({"type": "tool", "step": step, "id": "x", "name": "bash", "content": huge * 3}),
        ]
    view = load_run(write_run(tmp_path / "run", lines))
    assert "the trajectory is larger than 2 MiB: only its first 2 MiB are shown" in view.problems
    assert not any("cut off" in p for p in view.problems)  # the cut is the reader's, not a crash's
    assert len(view.steps) < 20 and len(render_run_page(view)) < 3_000_000  # of ~16 MB in the file


def test_a_cut_off_or_damaged_trajectory_still_renders_what_it_has(tmp_path: Path):
    lines = small_run_lines()[:5] + [
        "not json at all",
        "[1, 2]",
        '{"type": "model", "step": "seven", "content": 5}',
    ]
    lines[0] = lines[0].replace('"type": "start"', '"type": "start", "format": 99')  # from a newer be-agent
    folder = write_run(tmp_path / "run", lines, diff=None)
    with (folder / "trajectory.jsonl").open("a") as out:
        out.write('{"type": "tool", "step": 2, "content": "cut')  # a run killed mid-write
    view = load_run(folder)
    assert [s.number for s in view.steps] == [1, 2, 0]
    problems = " ".join(view.problems)
    assert "last line (9) was cut off" in problems
    assert "2 line(s) or block(s) of the trajectory were malformed" in problems
    assert "the run has no result" in problems
    assert "trajectory format 99 is not one be-agent" in problems
    assert "shown as far as this page understands it" in problems
    page = render_run_page(view)
    assert_inert(page)
    assert "NO VERDICT" in page and "No diff: change.diff is not in the run directory." in page


def test_a_run_directory_with_only_a_result_renders_and_one_with_nothing_is_refused(tmp_path: Path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "result.json").write_text(
        json.dumps({"status": "error", "reason": "abandoned: the process died"})
    )
    assert "abandoned: the process died" in render_run_page(load_run(folder))
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path)


def test_every_hostile_string_renders_as_text_and_nothing_becomes_markup(tmp_path: Path):
    folder = write_run(tmp_path / "run", hostile_run_lines(), diff="\n".join(PAYLOADS))
    page = render_run_page(load_run(folder))
    page.encode("utf-8")  # a lone surrogate would make this raise
    parsed = assert_inert(page)
    text = "".join(parsed.text)
    for payload in PAYLOADS[:-1]:
        assert payload in text  # shown to the reader exactly as written
    assert "<U+202E>evil bidi<U+202C>" in text and "\ufffd" in text and "\\x00" in text
    assert "<script" not in page and "<img" not in page and "<iframe" not in page and "<form" not in page
    assert "javascript:" not in {v for n, v in parsed.attrs if n == "href"}
    assert 'class="step unknown"' in page  # a phase that is not one of ours never reaches a class name


def test_the_content_security_policy_allows_only_the_pages_own_stylesheet():
    policy = content_security_policy()
    assert "default-src 'none'" in policy and "script-src 'none'" in policy and "base-uri 'none'" in policy
    assert f"style-src '{style_hash(STYLESHEET)}'" in policy and "unsafe" not in policy
    page = render_run_page(build_view(""))
    assert page.index('http-equiv="Content-Security-Policy"') < page.index("<title>") < page.index("<style>")


def test_visible_text_shows_what_would_otherwise_hide():
    assert visible("a\u200bb\u2066c\r\nd\x1b[31m\ud83d") == "a<U+200B>b<U+2066>c\nd\\x1b[31m\ufffd"


def test_diff_file_names_come_from_the_headers_not_from_removed_lines():
    files = split_diff(DIFF)
    assert [(f.path, f.added, f.removed) for f in files] == [("bank.py", 1, 2), ("tests/test_bank.py", 1, 0)]


@pytest.mark.slow  # through the real CLI
def test_view_command_writes_the_page_beside_the_run_and_prints_its_path(tmp_path: Path):
    folder = write_run(tmp_path / "run", small_run_lines(), result=result_json())
    done = run_cli("view", str(folder))
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == str(folder / "run.html")
    assert "FIXED" in (folder / "run.html").read_text()
    done = run_cli("view", str(folder / "trajectory.jsonl"), "--out", str(tmp_path / "elsewhere.html"))
    assert done.code == 0 and (tmp_path / "elsewhere.html").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "no such run directory or trajectory"),
        (["."], "not a be-agent run"),
        (["run", "--out", "."], "is a directory"),
    ],
)
def test_view_command_refuses_bad_input_with_a_usage_error(tmp_path: Path, args: list[str], message: str):
    write_run(tmp_path / "run", small_run_lines())
    done = run_cli("view", *[str(tmp_path / a) if a != "--out" else a for a in args])
    assert done.code == 2
    assert done.stderr.startswith("be-agent: error: ") and message in done.stderr


@pytest.mark.slow  # through the real CLI
def test_a_fifo_in_place_of_the_trajectory_is_never_opened(tmp_path: Path):
    folder = tmp_path / "run"
    folder.mkdir()
    os.mkfifo(folder / "trajectory.jsonl")  # reading it would block forever
    (folder / "result.json").write_text(json.dumps({"status": "not_fixed", "reason": "r"}))
    done = run_cli("view", str(folder), timeout=30)
    assert done.code == 0
    assert "the trajectory is missing" in (folder / "run.html").read_text()


def test_a_run_result_names_its_page_and_the_terminal_summary_prints_it():
    from agent.report import render_terminal_summary

    result = RunResult(status="not_fixed", run_dir="/r", page="/r/run.html")
    assert "page: /r/run.html" in render_terminal_summary(result)


def test_the_artifact_note_appears_only_with_well_formed_workflow_values():
    env = {
        "BE_AGENT_PAGE_ARTIFACT": "be-agent-run",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "octo/repo",
        "GITHUB_RUN_ID": "42",
    }
    assert page_artifact_note(env) == (
        "run page: artifact `be-agent-run` of [workflow run 42](https://github.com/octo/repo/actions/runs/42)"
    )
    assert page_artifact_note({}) == ""
    assert page_artifact_note({**env, "BE_AGENT_PAGE_ARTIFACT": "x`](http://evil)"}) == ""
    assert (
        page_artifact_note({**env, "GITHUB_SERVER_URL": "javascript:alert(1)//"})
        == "run page: artifact `be-agent-run`"
    )
    assert (
        page_artifact_note({**env, "GITHUB_RUN_ID": "42)[x](http://evil"})
        == "run page: artifact `be-agent-run`"
    )


def test_the_pull_request_body_and_the_ci_summary_name_the_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from agent.ci import CiOutcome, write_github_files
    from agent.github.posts import pr_body

    env = {"BE_AGENT_PAGE_ARTIFACT": "be-agent-run", "GITHUB_ACTIONS": "true"}
    result = RunResult(status="fixed", branch="b", commit="c" * 40, run_id="r", page="/x/run.html")
    monkeypatch.setenv("BE_AGENT_PAGE_ARTIFACT", "be-agent-run")
    assert "run page: artifact `be-agent-run`" in pr_body(7, "report", result)
    assert "run page" not in pr_body(7, "report", result.model_copy(update={"page": ""}))
    summary = tmp_path / "summary.md"
    write_github_files(
        CiOutcome("fixed", "ok", 0, result=result), {**env, "GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert "- run page: artifact `be-agent-run`" in summary.read_text()


def test_the_bench_page_links_each_task_and_escapes_what_tasks_carry(tmp_path: Path):
    out = tmp_path / "bench"
    run_dir = write_run(out / "state" / "runs" / "r1", small_run_lines(), result=result_json())
    (run_dir / "run.html").write_text("page")
    (out / "patches").mkdir()
    (out / "patches" / "ok-1.diff").write_text(DIFF)
    rows = [
        {"instance_id": "ok-1", "resolved": True, "cost_usd": 0.01, "harness_s": 2.0, "wall_s": 3.0, "run_dir": str(run_dir), "tests": {"t::a": "passed"}, "price_source": "genai-prices 0.2.3, Anthropic table"},
        {"instance_id": "../<script>x</script>", "resolved": False, "failure": PAYLOADS[1], "wall_s": 1.0},
    ]  # fmt: skip
    report = save_bench_pages(out, rows, title="bench <b>")
    page = report.read_text()
    parsed = assert_inert(page)
    hrefs = [v for n, v in parsed.attrs if n == "href"]
    assert "state/runs/r1/run.html" in hrefs and "pages/ok-1.html" in hrefs
    hostile_page = page_file_name("../<script>x</script>")
    assert re.fullmatch(r"__script_x__script_-[0-9a-f]{8}\.html", hostile_page)
    assert (out / "pages" / hostile_page).is_file() and not (tmp_path / "<script>x</script>.html").exists()
    for name in ("ok-1.html", hostile_page):
        assert_inert((out / "pages" / name).read_text())
    assert "../state/runs/r1/run.html" in (out / "pages" / "ok-1.html").read_text()
    assert "bench &lt;b&gt;" in page and PAYLOADS[1] in "".join(parsed.text)
    # the costs say where they come from
    assert "<td>prices from</td><td>genai-prices 0.2.3, Anthropic table</td>" in page


def test_a_page_that_cannot_be_written_is_a_warning_and_never_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    folder = write_run(tmp_path / "run", small_run_lines())
    (folder / "run.html").mkdir()  # the page's place is taken
    assert save_run_page(folder, result_json()) == ""
    assert "be-agent: warning: could not write the run page" in capsys.readouterr().err
    (folder / "run.html").rmdir()
    assert save_run_page(folder, result_json()) == str(folder / "run.html")
    assert "FIXED" in (folder / "run.html").read_text()  # the result given wins over a missing result.json


@pytest.mark.slow  # through the real CLI
def test_view_open_hands_the_page_to_the_users_browser(tmp_path: Path):
    folder = write_run(tmp_path / "run", small_run_lines())
    # the browser command writes to the command's own stdout: a process of its own
    done = run_cli("view", str(folder), "--open", env={"BROWSER": "echo opened %s"}, separate_process=True)
    assert done.code == 0, done.stderr
    assert f"opened {(folder / 'run.html').as_uri()}" in done.stdout
