"""Trajectories for the run-page tests: a well-formed one built like the loop writes them, and a hostile one
whose every string tries to become markup, script, a link, a style or a fetch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TITLE_SCRIPT = "<script>document.title='PWNED'</script>"
PAYLOADS = [
    TITLE_SCRIPT,
    "<img src=x onerror=\"document.title='PWNED-onerror'\">",
    "<svg onload=\"document.title='PWNED-svg'\"><circle r=5></circle></svg>",
    "<a href=\"javascript:document.title='PWNED-link'\">click me</a>",
    "</style><style>body { display: none !important }</style>",
    '<link rel="stylesheet" href="http://127.0.0.1:9/evil.css">',
    '<meta http-equiv="refresh" content="0; url=http://127.0.0.1:9/">',
    '<iframe src="http://127.0.0.1:9/"></iframe>',
    '</pre></details></section><form action="http://127.0.0.1:9/"><input name=q></form>',
    '"><script>document.title="PWNED-attr"</script>',
    "<!-- a comment that would hide the rest",
    '<base href="http://127.0.0.1:9/">',
    '<div style="background:url(http://127.0.0.1:9/x.png)">styled</div>',
    "\u202eevil bidi\u202c and a lone surrogate \ud800 and a NUL \x00",
]
HOSTILE_TEXT = "\n".join(PAYLOADS)


def record(kind: str, **fields: Any) -> str:
    # ASCII escapes, so a lone surrogate arrives as the escape `\ud800`, as a hostile file would carry it
    return json.dumps({"type": kind, "time": 0, **fields})


def step_records(
    step: int, phase: str, text: str, name: str, params: dict[str, Any], result: str, *, error: bool = False
) -> list[str]:
    call_id = f"toolu_{step:04d}"
    return [
        record(
            "model",
            step=step,
            phase=phase,
            content=[
                {"type": "text", "text": text},
                {"type": "tool_use", "id": call_id, "name": name, "input": params},
            ],
            usage={"input": 10, "output": 20 * step, "cache_read": 100 * step, "cache_write": 50},
            model="claude-sonnet-5-5",
        ),
        record("tool", step=step, id=call_id, name=name, input=params, content=result, is_error=error),
    ]


def small_run_lines(task: str = "Make transfer() reject negative amounts") -> list[str]:
    """Four steps, one in each phase; the finish gate refuses the first finish."""
    lines = [
        record(
            "start",
            run_id="run42",
            task=task,
            model="claude-sonnet-5-5",
            test_cmd="python -m pytest",
            base="abc123",
        ),
        record(
            "baseline",
            report={
                "command": "python -m pytest",
                "outcomes": {"t::a": "passed", "t::b": "failed"},
                "messages": {"t::b": "assert 1 == 2"},
            },
            flaky=[],
        ),
    ]
    lines += step_records(1, "read", "Reading.", "bash", {"command": "cat bank.py"}, "def transfer(): ...")
    lines += step_records(
        2,
        "contract",
        "The contract: inputs, outputs, invariants.",
        "str_replace_based_edit_tool",
        {"command": "view", "path": "bank.py"},
        "1\tdef transfer",
    )
    lines += step_records(
        3,
        "implement",
        "Editing.",
        "str_replace_based_edit_tool",
        {"command": "str_replace", "path": "bank.py", "old_str": "a", "new_str": "b"},
        "Edited bank.py",
    )
    lines += step_records(
        4,
        "verify",
        "Done?",
        "finish",
        {"summary": "done"},
        "finish refused: run the tests after your last edit",
        error=True,
    )
    return lines


def result_json(**extra: Any) -> dict[str, Any]:
    return {
        "status": "fixed",
        "reason": "The 1 target test(s) now pass and no baseline-passing test broke.",
        "run_id": "run42",
        "tests_before": {"passed": 1, "failed": 1, "error": 0, "skipped": 0, "failing": ["t::b"]},
        "tests_after": {"passed": 2, "failed": 0, "error": 0, "skipped": 0, "failing": []},
        "verification": {
            "baseline": {"passed": 1, "failed": 1, "error": 0, "skipped": 0, "failing": ["t::b"]},
            "final": {"passed": 2, "failed": 0, "error": 0, "skipped": 0, "failing": []},
            "regressions": [],
            "added_tests_fail_on_base": True,
        },
        "report": {"summary": "transfer() now rejects negative amounts"},
        "steps": 4,
        **extra,
    }


DIFF = """diff --git a/bank.py b/bank.py
index 1..2 100644
--- a/bank.py
+++ b/bank.py
@@ -1,2 +1,3 @@
 def transfer(amount):
+    if amount <= 0: raise ValueError(amount)
-    pass
--- a SQL-style comment line that was removed
diff --git a/tests/test_bank.py b/tests/test_bank.py
new file mode 100644
--- /dev/null
+++ b/tests/test_bank.py
@@ -0,0 +1 @@
+def test_negative(): ...
"""


def write_run(
    folder: Path, lines: list[str], *, result: dict[str, Any] | None = None, diff: str | None = DIFF
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trajectory.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result), encoding="utf-8")
    if diff is not None:
        (folder / "change.diff").write_text(
            diff, encoding="utf-8", errors="surrogatepass"
        )  # bytes that are not UTF-8
    return folder


def hostile_run_lines() -> list[str]:
    """Every string a trajectory can carry, set to the payloads: task, texts, tool names, ids, inputs,
    results, notes, report fields and keys, verification keys, phase and model names."""
    h = HOSTILE_TEXT
    lines = [
        record(
            "start", format=h, run_id=h, task=h, model=h, test_cmd=h, base=h, sandbox=h, task_untrusted=True
        )
    ]
    lines.append(record("baseline", report={"command": h, "messages": {h: h}, "outcomes": {h: h}}, flaky=[h]))
    lines.append(
        record(
            "model",
            step=1,
            phase=h,
            content=[{"type": "text", "text": h}, {"type": "tool_use", "id": h, "name": h, "input": {h: h}}],
            usage={"input": h, "output": -5, "cache_read": 1e308, "cache_write": True},
            model=h,
            stop_reason=h,
        )
    )
    lines.append(record("tool", step=1, id=h, name=h, input={h: h}, content=h, is_error=True))
    lines += step_records(2, "verify", h, "bash", {"command": h}, h + "\n" * 200 + h)
    lines += step_records(3, "verify", h, "finish", {h: h, "summary": h}, h, error=True)
    lines.append(record("note", step=3, text=h))
    lines.append(record("note", text=h))
    lines.append(record(h, text=h))  # an unknown kind
    lines.append(
        record(
            "end", status=h, reason=h, run_id=h, verification={h: h, "regressions": [h]}, report={h: {h: [h]}}
        )
    )
    return lines
