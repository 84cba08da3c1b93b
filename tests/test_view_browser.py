"""Run and bench pages in a real headless browser (Debian's chromium, over the DevTools protocol): they load
with no console error and no request but the page itself; the steps, the verdict and the diff are in the
rendered DOM; a hostile trajectory executes nothing; and the CSP stops what escaping alone would miss.

Screenshots of the demo run's page, the hostile page and a bench report are kept under out/screenshots/
(ignored by git) for a human to look at."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.bench import BenchOptions, run_bench
from agent.demo import RECORDING
from agent.view import MAX_HEADING_CHARS
from agent.view_html import visible
from tests.browser import CHROMIUM, MISSING_REASON, Browser, Page
from tests.conftest import ROOT, run_cli
from tests.test_bench import subset_file
from tests.view_fixtures import (
    HOSTILE_TEXT,
    PAYLOADS,
    TITLE_SCRIPT,
    hostile_run_lines,
    small_run_lines,
    write_run,
)

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason=MISSING_REASON), pytest.mark.slow]
SCREENSHOTS = ROOT / "out" / "screenshots"
FORBIDDEN_ELEMENTS = (
    "script, img, iframe, frame, object, embed, form, input, link, base, video, audio, source"
)
COUNT_ACTIVE = f"""(() => {{
  const all = [...document.querySelectorAll('*')];
  return {{
    forbidden: document.querySelectorAll('{FORBIDDEN_ELEMENTS}').length,
    handlers: all.filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on'))).length,
    styled: all.filter(e => e.hasAttribute('style')).length,
    styles: document.querySelectorAll('style').length,
    metas: [...document.querySelectorAll('meta')].map(m => m.getAttribute('http-equiv') || m.getAttribute('name') || 'charset'),
    hrefs: [...document.querySelectorAll('[href]')].map(e => e.getAttribute('href')),
    bodyShown: getComputedStyle(document.body).display !== 'none' && document.body.offsetHeight > 0,
  }};
}})()"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


def assert_quiet(page: Page) -> None:
    """Loaded with no console message of level warning or error, no exception, no dialog, and no request
    for anything but the page itself."""
    assert page.load.errors == []
    assert page.load.dialogs == []
    assert page.load.other_requests == []
    assert page.load.responses == [page.load.url]


def text_of(page: Page, selector: str) -> str:
    return str(page.evaluate(f"document.querySelector({json.dumps(selector)}).innerText"))


@pytest.mark.bwrap
def test_the_demo_runs_page_shows_its_steps_verdict_and_diff_in_a_browser(
    tmp_path: Path, browser: Browser, demo_repo: Path
):
    done = run_cli(
        "replay",
        str(RECORDING),
        "--repo",
        str(demo_repo),
        "--state-dir",
        str(tmp_path / "state"),
        "--json",
        timeout=300,
    )
    assert done.code == 0, done.stderr
    result = done.json
    page_path = Path(result["page"])
    assert page_path == Path(result["run_dir"]) / "run.html" and page_path.is_file()
    assert f"page: {page_path}" in done.stdout  # the run says where its page is

    page = browser.open(page_path)
    assert_quiet(page)
    assert page.evaluate("document.querySelectorAll('section.step').length") == result["steps"] == 8
    assert page.evaluate("document.querySelectorAll('nav.timeline a').length") == 8
    phases = page.evaluate("[...document.querySelectorAll('section.step')].map(s => s.className)")
    assert phases == [
        f"step {p}"
        for p in ("read", "read", "contract", "implement", "implement", "verify", "verify", "verify")
    ]
    assert text_of(page, "#verdict").startswith("FIXED")
    assert "The 3 target test(s) now pass" in text_of(page, "#verdict")
    files = page.evaluate(
        "[...document.querySelectorAll('details.diff-file > summary')].map(s => s.innerText)"
    )
    assert files == ["ledger/accounts.py +9 -3", "tests/test_unknown_account.py +10 -0"]
    added = page.evaluate("[...document.querySelectorAll('pre.diff .add')].map(s => s.innerText)")
    assert "+        self._balances[source] -= amount_cents" in added
    assert page.evaluate("document.querySelectorAll('svg rect').length") > 8 * 4  # the per-step chart
    assert page.evaluate(COUNT_ACTIVE)["forbidden"] == 0

    shot = page.screenshot(SCREENSHOTS / "demo-run.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_a_hostile_trajectory_renders_as_text_and_executes_nothing(tmp_path: Path, browser: Browser):
    folder = write_run(tmp_path / "run", hostile_run_lines(), diff="\n".join(PAYLOADS))
    done = run_cli("view", str(folder))
    assert done.code == 0, done.stderr

    page = browser.open(folder / "run.html")
    assert_quiet(page)  # a script, a handler or a fetch would at least log a CSP violation here
    # the title holds the hostile run id and status as text; a script that ran would have replaced it
    shown = visible(HOSTILE_TEXT[:MAX_HEADING_CHARS])
    expected = " ".join(f"be-agent run {shown}: {shown}".split())
    assert page.evaluate("document.title") == expected
    active = page.evaluate(COUNT_ACTIVE)
    assert active["forbidden"] == 0 and active["handlers"] == 0 and active["styled"] == 0
    assert active["styles"] == 1 and active["metas"] == [
        "charset",
        "Content-Security-Policy",
        "referrer",
        "viewport",
    ]
    assert active["bodyShown"]
    assert all(h.startswith("#step-") for h in active["hrefs"])
    shown = page.evaluate("document.body.innerText")
    for payload in (TITLE_SCRIPT, PAYLOADS[1], PAYLOADS[3], PAYLOADS[4]):
        assert payload in shown  # the reader sees the attack, written out
    # nothing the trajectory chose can stretch the page beyond the window (a long key once made it 11,922 px)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(SCREENSHOTS / "hostile-run.png")


def test_the_content_security_policy_blocks_what_escaping_might_miss(tmp_path: Path, browser: Browser):
    """Defence in depth: markup planted in a page as if escaping had failed is still refused by the CSP."""
    folder = write_run(tmp_path / "run", small_run_lines())
    assert run_cli("view", str(folder)).code == 0
    (folder / "evil.css").write_text("body { display: none }")  # would load if the CSP allowed it
    planted = (
        "<script>document.title='PWNED'</script>"
        '<img src="missing.png" onerror="document.title=\'PWNED-onerror\'">'
        '<link rel="stylesheet" href="evil.css">'
        '<div id="planted" style="display: none">visible</div>'
    )
    page_file = folder / "run.html"
    page_file.write_text(page_file.read_text().replace("<main>", "<main>" + planted, 1))

    page = browser.open(page_file)
    assert page.evaluate("document.title") == "be-agent run run42: no verdict"
    assert page.evaluate("getComputedStyle(document.getElementById('planted')).display") == "block"
    assert page.evaluate("getComputedStyle(document.body).display") == "block"
    assert page.load.dialogs == [] and page.load.exceptions == []
    assert page.load.responses == [page.load.url] or all(
        u.startswith("data:") for u in page.load.responses[1:]
    )
    assert {Path(u).name: why for u, why in page.load.blocked.items()} == {
        "evil.css": "csp",
        "missing.png": "csp",
    }
    violations = " ".join(page.load.errors)
    for directive in (
        "script-src 'none'",
        "img-src 'none'",
        "Applying inline style violates",
        "Loading the stylesheet",
    ):
        assert directive in violations


@pytest.mark.bwrap
def test_the_bench_report_shows_each_task_and_links_its_pages(tmp_path: Path, browser: Browser):
    tasks = subset_file(tmp_path, "bebench__textkit-1", "bebench__sqlstore-2")
    out = tmp_path / "out"
    run_bench(tasks, BenchOptions(out=out, agent="gold"), workers=2)
    report = out / "report.html"

    page = browser.open(report)
    assert_quiet(page)
    rows = page.evaluate(
        "[...document.querySelectorAll('table:last-of-type tr')].slice(1).map(r => r.cells[0].innerText)"
    )
    assert rows == ["bebench__sqlstore-2", "bebench__textkit-1"]
    assert "2 (100.0%)" in page.evaluate("document.body.innerText")
    assert page.evaluate("document.querySelectorAll('svg rect').length") >= 2 * 3
    hrefs = page.evaluate("[...document.querySelectorAll('a')].map(a => a.href)")
    assert sorted(Path(h.removeprefix("file://")).name for h in hrefs) == [
        "bebench__sqlstore-2.html",
        "bebench__textkit-1.html",
    ]
    page.screenshot(SCREENSHOTS / "bench-report.png")

    task_page = browser.open(out / "pages" / "bebench__textkit-1.html")
    assert_quiet(task_page)
    assert text_of(task_page, ".verdict").startswith("RESOLVED")
    assert task_page.evaluate("document.querySelectorAll('details.diff-file').length") >= 1
